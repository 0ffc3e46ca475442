# Two entry points, each sets up its virtual environments first (idempotent):
#   make lab    JupyterLab on the course notebooks (127.0.0.1; prints the URL to open)
#   make test   the whole suite: unit tests, doctests, the notebooks under nbval and the
#               browser tests (tests/e2e), then the provider tests again on a second
#               provider (make test-providers)
# Before landing a change to notebooks, the Makefile or dependencies: make test-fresh; when
# tests or time budgets changed: make test-busy (the suite beside a CPU-burning process).
VENV   ?= .venv
PYTHON ?= python3
PY     := $(VENV)/bin/python
STAMP  := $(VENV)/.onnxkit-installed
# Every environment installs these exact versions: checked notebook outputs and test margins
# were measured with them, so a fresh machine gets the same libraries (see constraints.txt).
PIP_INSTALL = -m pip install --quiet --constraint constraints.txt

# A second environment whose onnxruntime is the OpenVINO build: a real provider beyond the CPU.
VENV_OV      ?= .venv-openvino
PY_OV        := $(VENV_OV)/bin/python
STAMP_OV     := $(VENV_OV)/.onnxkit-installed
ORT_OPENVINO ?= onnxruntime-openvino==1.24.1
# The tests that exercise execution providers, and the doctests of their modules.
PROVIDER_TESTS := tests/runtime tests/bench tests/widgets/test_widgets_providers.py onnxkit/runtime onnxkit/bench \
                  onnxkit/widgets/_providers.py
# Both runs share one workspace: the provider run reuses the samples the main run built with
# torch (which the OpenVINO environment does not have). mktemp only when none is set.
WORKSPACE_ENV := export ONNXKIT_WORKSPACE="$${ONNXKIT_WORKSPACE:-$$(mktemp -d \
                 "$${TMPDIR:-/tmp}/onnxkit-test-work-XXXXXX")}"

.PHONY: setup setup-providers setup-browser lab demo notebooks test test-fresh test-busy test-providers test-e2e test-arm64 lint \
        bench clean

setup: $(STAMP)

$(STAMP): pyproject.toml constraints.txt
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	# The CPU build of torch first: a looser pin alone would pull the CUDA build (GBs).
	$(PY) $(PIP_INSTALL) "torch==2.13.0"
	$(PY) $(PIP_INSTALL) -e ".[torch,sklearn,tensorflow,serve,cluster,llm,compose,dev]"
	touch $(STAMP)

setup-providers: $(STAMP_OV)

# onnxruntime-openvino installs the same `onnxruntime` module as onnxruntime: remove both,
# then install it alone, so exactly one copy exists (also when this recipe runs again).
# scikit-learn: the digits sample's held-out images come from its bundled data set.
$(STAMP_OV): pyproject.toml constraints.txt
	$(PYTHON) -m venv $(VENV_OV)
	$(PY_OV) -m pip install --quiet --upgrade pip
	$(PY_OV) $(PIP_INSTALL) -e ".[sklearn]" "pytest>=8"
	$(PY_OV) -m pip uninstall --quiet --yes onnxruntime onnxruntime-openvino
	$(PY_OV) -m pip install --quiet "$(ORT_OPENVINO)"
	touch $(STAMP_OV)

# Debian's chromium and the playwright library for the browser tests (tests/e2e); no-op when present.
setup-browser: setup
	bash .ci/browser-deps.sh $(PY)

# Loopback only. Jupyter refuses to run as root without --allow-root: containers and CI run
# as root, so it is passed exactly when the effective user is root. JUPYTER_PORT and
# JUPYTER_TOKEN (Jupyter's own variables) pick the port and token; LAB_ARGS adds options.
LAB_ROOT := $(if $(filter 0,$(shell id -u)),--allow-root)
lab: setup
	@echo "Starting JupyterLab on 127.0.0.1: open the http://127.0.0.1:... URL it prints below."
	$(VENV)/bin/jupyter lab --ServerApp.ip=127.0.0.1 $(LAB_ROOT) $(LAB_ARGS) notebooks/

# The headless path for people without Jupyter: a self-contained HTML report.
# DEMO_OUT picks the file, DEMO_ARGS adds options (e.g. --quick).
DEMO_OUT ?= report.html
demo: setup
	$(VENV)/bin/onnxkit demo --out "$(DEMO_OUT)" --overwrite $(DEMO_ARGS)

# pytest exits 5 when it collects nothing: that is not a failure of the suite itself.
# The provider run goes on after a failing main run; the first non-zero status is the result.
test: setup setup-providers setup-browser
	$(WORKSPACE_ENV); \
	$(PY) -m pytest -p no:cacheprovider --durations=30 $(PYTEST_ARGS); rc=$$?; [ $$rc -eq 5 ] && rc=0; \
	$(MAKE) --no-print-directory test-providers; rc2=$$?; exit $$(( rc ? rc : rc2 ))

# The provider tests under onnxruntime-openvino. Its environment has no torch, nbval or
# jupyter: the samples are built (or found cached) with the main one, and the project's
# addopts, which name nbval's options, are replaced.
test-providers: setup setup-providers
	$(WORKSPACE_ENV); \
	$(PY) -c "import onnxkit.samples as s; s.tiny_model(); s.digits_cnn(); s.text_transformer()" \
	&& $(PY_OV) -m pytest -p no:cacheprovider -o addopts="--doctest-modules -ra" \
		$(PROVIDER_TESTS) $(PROVIDER_PYTEST_ARGS); rc=$$?; [ $$rc -eq 5 ] && rc=0; exit $$rc

test-e2e: setup setup-browser
	$(WORKSPACE_ENV); $(PY) -m pytest -p no:cacheprovider -m e2e tests/e2e

# The real cross-platform check (tests/deploy/test_arm64.py, deselected from make test): the
# digits CNN and the text transformer, fp32 and int8, bundled and run on an emulated
# linux/arm64 Debian root, compared with this machine output by output. Needs root; the host's
# part (qemu-user-static, binfmt-support, debootstrap, binfmt_misc) is .ci/arm64-root.sh. The
# first run builds the root in the user cache (debootstrap from deb.debian.org, 6-12 min) and
# pip-installs the bundles' pins inside it (about 5 min emulated); then about 2 min.
test-arm64: setup
	bash .ci/arm64-root.sh
	$(WORKSPACE_ENV); $(PY) -m pytest -p no:cacheprovider -m arm64 tests/deploy/test_arm64.py

# Re-execute course notebooks in place (their outputs are committed; nbval re-runs them in
# make test). NOTEBOOKS picks some: make notebooks NOTEBOOKS=04_quantize.ipynb
NOTEBOOKS ?= [0-9]*.ipynb
notebooks: setup
	cd notebooks && for nb in $(NOTEBOOKS); do \
		../$(VENV)/bin/jupyter nbconvert --to notebook --execute --inplace "$$nb" || exit 1; \
		../$(PY) ../.ci/strip_notebook_paths.py "$$nb"; done

# The README's test command in a fresh clone of HEAD, with a new HOME (no pip cache, no
# Jupyter or onnxkit state): what a new user's machine and CI see. Commit first.
test-fresh:
	bash .ci/test-fresh

# The suite while a CPU-burning process holds one core (started and stopped here): green on
# an idle machine must mean green on a busy one.
test-busy:
	bash .ci/test-busy

lint: setup
	$(VENV)/bin/ruff check onnxkit tests benchmarks

bench: setup
	bash .ci/bench-deps.sh
	for b in benchmarks/[!_]*.py; do $(PY) $$b || exit 1; done

clean:
	rm -rf $(VENV) $(VENV_OV) .venv-bundle .venv-bundle-images .venv-bundle-llm onnxkit-work notebooks/onnxkit-work test-artifacts
