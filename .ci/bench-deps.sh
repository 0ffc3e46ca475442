#!/usr/bin/env bash
# What the benchmarks need beyond the virtual environment, installed only when missing
# (idempotent, quiet): `hey`, Debian's HTTP load generator, which benchmarks/serve.py runs in
# a process of its own (nothing of ours in the client).
# Usage: .ci/bench-deps.sh
set -euo pipefail

if ! command -v hey >/dev/null; then
    SUDO=()
    if [ "$(id -u)" -ne 0 ]; then
        SUDO=(sudo)
    fi
    export DEBIAN_FRONTEND=noninteractive
    if ! apt-cache policy hey 2>/dev/null | grep -q 'Candidate: [0-9]'; then
        "${SUDO[@]}" apt-get update -qq
    fi
    echo "bench-deps: installing hey (apt)"
    "${SUDO[@]}" apt-get install -y -qq --no-install-recommends hey >/dev/null
fi
