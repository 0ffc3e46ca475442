"""What a bundle needs to ship as a container: a Dockerfile that runs its ``serve.py``."""

from __future__ import annotations

import sys
from pathlib import Path

CONTAINER_FILES = ("Dockerfile",)
PORT = 8000


def write_dockerfile(folder: Path) -> None:
    (folder / "Dockerfile").write_text(dockerfile(), encoding="utf-8")


def dockerfile() -> str:
    """A slim image that runs ``serve.py`` as a non-root user, with a readiness healthcheck."""
    python = f"{sys.version_info.major}.{sys.version_info.minor}"
    probe = (f"import sys, urllib.request; sys.exit(urllib.request.urlopen("
             f"'http://127.0.0.1:{PORT}/v2/health/ready', timeout=2).status != 200)")
    return f"""# The bundle as an HTTP service (Open Inference Protocol on port {PORT}).
# It binds beyond loopback, so serve.py refuses to start without a bearer token: pass one in
# the environment, and clients send 'Authorization: Bearer <token>' (the health probes need none):
#   docker build -t my-model .
#   docker run --rm -p {PORT}:{PORT} -e ONNXKIT_SERVE_TOKEN="$(openssl rand -hex 24)" my-model
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
