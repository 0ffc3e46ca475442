"""What a bundle needs to serve and ship: its serving files and a Dockerfile."""

from __future__ import annotations

import sys
from importlib import resources
from pathlib import Path

SERVING_MODULES = ("__init__.py", "app.py", "batching.py", "metrics.py", "protocol.py")
SERVE_FILES = ("serve.py", *(f"serving/{m}" for m in SERVING_MODULES), "Dockerfile")
PORT = 8000


def write_serving(folder: Path) -> None:
    """``serve.py``, the ``serving`` package (the very modules ``onnxkit.serve`` runs) and a
    ``Dockerfile`` into the bundle folder."""
    package = resources.files("onnxkit.deploy")
    (folder / "serve.py").write_text(
        package.joinpath("_serve_template.py").read_text(encoding="utf-8"), encoding="utf-8")
    (folder / "serving").mkdir(exist_ok=True)
    for module in SERVING_MODULES:
        text = package.joinpath("_serving").joinpath(module).read_text(encoding="utf-8")
        (folder / "serving" / module).write_text(text, encoding="utf-8")
    (folder / "Dockerfile").write_text(dockerfile(), encoding="utf-8")


def dockerfile() -> str:
    """A slim image that runs ``serve.py`` as a non-root user, with a readiness healthcheck."""
    python = f"{sys.version_info.major}.{sys.version_info.minor}"
    probe = (f"import sys, urllib.request; sys.exit(urllib.request.urlopen("
             f"'http://127.0.0.1:{PORT}/v2/health/ready', timeout=2).status != 200)")
    return f"""# The bundle as an HTTP service (Open Inference Protocol on port {PORT}):
#   docker build -t my-model . && docker run --rm -p {PORT}:{PORT} my-model
FROM python:{python}-slim

ENV PYTHONDONTWRITEBYTECODE=1 \\
    PYTHONUNBUFFERED=1

WORKDIR /bundle
COPY requirements.txt .
RUN pip install --no-cache-dir -r requirements.txt

COPY . .
RUN useradd --create-home --uid 10001 serve
USER 10001

EXPOSE {PORT}
HEALTHCHECK --interval=30s --timeout=5s --start-period=30s --retries=3 \\
    CMD ["python", "-c", "{probe}"]
ENTRYPOINT ["python", "serve.py", "--host", "0.0.0.0", "--port", "{PORT}"]
"""
