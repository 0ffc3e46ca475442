#!/usr/bin/env bash
# What onnxkit.deploy.verify(..., platform="linux/arm64") needs on a Debian/Ubuntu host,
# installed or switched on only when missing (idempotent, quiet):
#   - Debian's qemu-user-static (the arm64 emulator), binfmt-support (update-binfmts) and
#     debootstrap (builds the arm64 Debian root from Debian's own packages);
#   - the kernel's binfmt_misc file system, mounted, with qemu-aarch64 enabled, so arm64
#     programs run transparently (inside a chroot too: the "F" flag keeps the emulator open).
# The root itself is built by onnxkit on first use and cached in the user cache.
# Usage: .ci/arm64-root.sh     (as root, or with sudo)
set -euo pipefail

PACKAGES=(qemu-user-static binfmt-support debootstrap)
BINFMT=/proc/sys/fs/binfmt_misc
SUDO=()
if [ "$(id -u)" -ne 0 ]; then
    SUDO=(sudo)
fi

missing=()
for pkg in "${PACKAGES[@]}"; do
    dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "install ok installed" \
        || missing+=("$pkg")
done
if [ "${#missing[@]}" -gt 0 ]; then
    export DEBIAN_FRONTEND=noninteractive
    if ! apt-cache policy "${missing[@]}" 2>/dev/null | grep -q 'Candidate: [0-9]'; then
        "${SUDO[@]}" apt-get update -qq
    fi
    echo "arm64-root: installing ${missing[*]} (apt)"
    if ! "${SUDO[@]}" apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null; then
        "${SUDO[@]}" apt-get update -qq  # a stale list: refresh, retry once
        "${SUDO[@]}" apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
    fi
fi

if [ ! -e "$BINFMT/register" ]; then
    echo "arm64-root: mounting binfmt_misc on $BINFMT"
    "${SUDO[@]}" mount binfmt_misc -t binfmt_misc "$BINFMT"
fi
if ! grep -q '^enabled' "$BINFMT/qemu-aarch64" 2>/dev/null; then
    echo "arm64-root: enabling qemu-aarch64 (update-binfmts)"
    "${SUDO[@]}" update-binfmts --enable qemu-aarch64
fi
grep -q '^enabled' "$BINFMT/qemu-aarch64"
echo "arm64-root: ready (qemu-aarch64 enabled in $BINFMT)"
