#!/usr/bin/env bash
# What the benchmarks need beyond the virtual environment, installed only when missing
# (idempotent, quiet): `hey` and `wrk`, Debian's HTTP load generators, which benchmarks/serve.py
# runs in processes of their own (nothing of ours in the client).
# Usage: .ci/bench-deps.sh
set -euo pipefail

if ! command -v hey >/dev/null || ! command -v wrk >/dev/null; then
    SUDO=()
    if [ "$(id -u)" -ne 0 ]; then
        SUDO=(sudo)
    fi
    export DEBIAN_FRONTEND=noninteractive
    if ! apt-cache policy wrk 2>/dev/null | grep -q 'Candidate: [0-9]'; then
        "${SUDO[@]}" apt-get update -qq
    fi
    echo "bench-deps: installing hey and wrk (apt)"
    "${SUDO[@]}" apt-get install -y -qq --no-install-recommends hey wrk >/dev/null
fi
