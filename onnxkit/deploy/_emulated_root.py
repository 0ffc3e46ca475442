"""An emulated Linux root of another CPU architecture, built from Debian's own packages, once.

``debootstrap --arch=arm64 --variant=minbase`` writes a Debian root whose programs the kernel
runs through qemu-user-static (binfmt_misc); ``chroot`` runs a bundle there. The root is built
once per user and kept in the user cache (``.../onnxkit/platforms/``) under a lock; one Python
environment per set of pinned requirements is installed inside it, also once. Nothing is
bind-mounted: with the host's ``/sys`` inside, onnxruntime's cpuinfo reads the x86 host and
segfaults under emulation; without it, onnxruntime says cpuinfo failed and runs.
"""

from __future__ import annotations

import contextlib
import datetime
import fcntl
import hashlib
import json
import os
import platform as _host
import shutil
import subprocess
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from onnxkit.base import user_cache
from onnxkit.errors import ParameterError, PlatformError
from onnxkit.results import Result, html_table

SUITE = "bookworm"  # Debian 12: Python 3.11, as onnxkit's own environment
PACKAGES = ("python3", "python3-venv", "python3-pip", "ca-certificates")
MIRROR = os.environ.get("ONNXKIT_DEBIAN_MIRROR", "http://deb.debian.org/debian")
BINFMT = Path("/proc/sys/fs/binfmt_misc")
HOST_CA = Path("/etc/ssl/certs/ca-certificates.crt")
_RECIPE = 1  # bump when the way a root is built changes: a new cache folder
_BUILD_TIMEOUT_S, _PIP_TIMEOUT_S = 3600, 1800
_SETUP_HINT = "(.ci/arm64-root.sh in onnxkit's repository does the host's part)"
# What passes from this process into the root: proxies and a package index, if any.
_PASS_ENV = ("HTTP_PROXY", "HTTPS_PROXY", "NO_PROXY", "http_proxy", "https_proxy", "no_proxy",
             "PIP_INDEX_URL", "PIP_EXTRA_INDEX_URL", "PIP_TRUSTED_HOST")


@dataclass(frozen=True)
class Target:
    """One platform onnxkit can emulate."""

    name: str  # "linux/arm64", as docker names it
    debian_arch: str  # debootstrap's --arch
    machine: str  # platform.machine() there
    binfmt: str  # the binfmt_misc entry qemu-user-static registers


TARGETS = {"linux/arm64": Target("linux/arm64", "arm64", "aarch64", "qemu-aarch64")}
_ALIASES = {"linux/aarch64": "linux/arm64", "arm64": "linux/arm64", "aarch64": "linux/arm64"}


def resolve_platform(value: Any, where: str) -> Target:
    """``"linux/arm64"`` (or ``"arm64"``, ``"aarch64"``, ``"linux/aarch64"``) -> its Target."""
    key = value.strip().lower() if isinstance(value, str) else value
    key = _ALIASES.get(key, key)
    if key not in TARGETS:
        raise ParameterError(f"{where}(platform=...) must be one of {sorted(TARGETS)} (the "
                             f"platforms onnxkit can emulate); got {value!r}.")
    return TARGETS[key]


@dataclass(frozen=True)
class PlatformRoot(Result):
    """An emulated root, ready to run programs (:func:`platform_root`).

    Attributes:
        platform: ``"linux/arm64"``.
        path: the root folder (in the user cache).
        distribution: what it holds (``"Debian bookworm arm64, minbase"``).
        build_s: how long building it took, when it was built (an emulated cost, once).
        built_now: this call built it (False: it came from the cache).
        emulator: the binfmt_misc interpreter that runs its programs.
    """

    platform: str
    path: Path
    distribution: str
    build_s: float
    built_at: str
    built_now: bool
    emulator: str

    def to_dict(self) -> dict[str, Any]:
        return {"platform": self.platform, "path": str(self.path),
                "distribution": self.distribution, "build_s": round(self.build_s, 1),
                "built_at": self.built_at, "built_now": self.built_now,
                "emulator": self.emulator}

    def __repr__(self) -> str:
        how = "built now" if self.built_now else "from the cache"
        return (f"Emulated {self.platform} root ({how}; building it took {self.build_s:.0f} s): "
                f"{self.distribution}\n  {self.path}\n  programs run by {self.emulator}")

    def _repr_html_(self) -> str:
        return html_table(("emulated root", self.platform), list(self.to_dict().items()))


def problems(target: Target, *, building: bool = False, euid: int | None = None,
             binfmt: Path = BINFMT, machine: tuple[str, str] | None = None,
             which: Callable[[str], str | None] = shutil.which) -> list[str]:
    """What this machine lacks to run ``target``'s programs (and, ``building``, to build its
    root), one sentence each naming the package or step; empty: nothing. The keywords stand
    for this machine (tests pass others)."""
    euid = os.geteuid() if euid is None else euid
    system, arch = machine or (_host.system(), _host.machine())
    found: list[str] = []
    if system != "Linux" or arch not in ("x86_64", "AMD64"):
        found.append(f"the reference run is linux/x86_64, this host is {system} {arch}: run "
                     "the check on an x86_64 Linux machine")
    if euid != 0:
        found.append(f"building and entering the root (debootstrap, chroot) needs root; this "
                     f"process runs as uid {euid}: run it as root (sudo, a container, CI)")
    if not (binfmt / "register").exists():
        found.append(f"binfmt_misc is not mounted on {binfmt}: step 'mount binfmt_misc -t "
                     f"binfmt_misc {binfmt}' (as root; the kernel needs CONFIG_BINFMT_MISC)")
    elif not _enabled(binfmt / target.binfmt):
        if which(f"{target.binfmt}-static") is None:
            found.append(f"no {target.machine} emulator: install Debian's qemu-user-static "
                         "and binfmt-support (apt-get install qemu-user-static binfmt-support)")
        else:
            found.append(f"{target.binfmt} is not enabled in binfmt_misc: step "
                         f"'update-binfmts --enable {target.binfmt}' (package binfmt-support)")
    if building and which("debootstrap") is None:
        found.append(f"building the {target.name} root needs debootstrap: install Debian's "
                     "debootstrap (apt-get install debootstrap)")
    return found


def refuse(target: Target, where: str, missing: list[str]) -> None:
    """A PlatformError listing every missing capability, when there is one."""
    if missing:
        raise PlatformError(f"{where}(platform='{target.name}') cannot emulate "
                            f"{target.name} here: " + "; ".join(missing) + f". {_SETUP_HINT}")


def ensure_emulation(target: Target, where: str, *, building: bool = False) -> str:
    """Mount binfmt_misc and enable qemu when root can, then refuse with every missing step.
    Returns the emulator's interpreter path."""
    if os.geteuid() == 0 and not (BINFMT / "register").exists():
        _quiet(["mount", "binfmt_misc", "-t", "binfmt_misc", str(BINFMT)])
    if os.geteuid() == 0 and (BINFMT / "register").exists() \
            and not _enabled(BINFMT / target.binfmt) and shutil.which("update-binfmts"):
        _quiet(["update-binfmts", "--enable", target.binfmt])
    refuse(target, where, problems(target, building=building))
    entry = (BINFMT / target.binfmt).read_text().splitlines()
    return next((line.split(" ", 1)[1] for line in entry if line.startswith("interpreter ")),
                target.binfmt)


def root_folder(target: Target) -> Path:
    key = hashlib.sha256(f"{_RECIPE} {SUITE} {target.debian_arch} {PACKAGES}".encode())
    return user_cache("platforms") / f"debian-{SUITE}-{target.debian_arch}-{key.hexdigest()[:8]}"


def platform_root(platform: str = "linux/arm64") -> PlatformRoot:
    """The emulated root of ``platform``, built on first use and cached in the user cache.

    The first call runs ``debootstrap --arch=arm64 --variant=minbase`` (Debian bookworm with
    Python 3, venv, pip and CA certificates; minutes, most of it emulated); later calls return
    the cached root at once. Concurrent callers wait on one lock: the root is built once.

    Raises:
        ParameterError: an unknown ``platform``.
        PlatformError: a missing capability (root, binfmt_misc, qemu-user-static,
            debootstrap) or a failed build step, named.
    """
    return root_for(resolve_platform(platform, "platform_root"), "platform_root")


def root_for(target: Target, where: str) -> PlatformRoot:
    """:func:`platform_root` of a resolved target; errors name ``where`` as the call."""
    folder = root_folder(target)
    emulator = ensure_emulation(target, where,
                                building=not (folder / ".onnxkit-root.json").exists())
    with _locked(folder.with_name(folder.name + ".lock")):
        built_now = not (folder / ".onnxkit-root.json").exists()
        if built_now:  # (another process may have built it while this one waited)
            _build(target, folder, where)
    info = json.loads((folder / ".onnxkit-root.json").read_text())
    return PlatformRoot(target.name, folder, info["distribution"], info["build_s"],
                        info["built_at"], built_now, emulator)


def _build(target: Target, folder: Path, where: str) -> None:
    refuse(target, where, problems(target, building=True))
    for stale in folder.parent.glob(f".{folder.name}.tmp-*"):  # an interrupted build
        shutil.rmtree(stale, ignore_errors=True)
    tmp = folder.with_name(f".{folder.name}.tmp-{os.getpid()}")
    start = time.monotonic()
    try:
        _step(["debootstrap", f"--arch={target.debian_arch}", "--variant=minbase",
               f"--include={','.join(PACKAGES)}", SUITE, str(tmp), MIRROR], _BUILD_TIMEOUT_S,
              f"Check that {MIRROR} is reachable (ONNXKIT_DEBIAN_MIRROR picks another mirror)")
        machine = _step(["chroot", str(tmp), "/usr/bin/python3", "-c",
                         "import platform; print(platform.machine())"], 300).strip()
        if machine != target.machine:
            raise PlatformError(f"the {target.name} root's Python says it runs on '{machine}', "
                                f"not {target.machine}: binfmt_misc runs something else.")
        shutil.rmtree(tmp / "var/cache/apt/archives", ignore_errors=True)  # the .debs: ~100 MB
        now = datetime.datetime.now(datetime.timezone.utc)
        (tmp / ".onnxkit-root.json").write_text(json.dumps({
            "platform": target.name, "build_s": time.monotonic() - start,
            "distribution": f"Debian {SUITE} {target.debian_arch}, minbase + "
                            f"{', '.join(PACKAGES)}",
            "built_at": now.isoformat(timespec="seconds")}))
        os.rename(tmp, folder)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def python_env(root: PlatformRoot, requirements: str) -> tuple[str, dict[str, Any], float]:
    """A virtualenv inside the root with ``requirements`` installed (once per requirements):
    (its python's path inside the root, what it reports about itself, seconds spent now)."""
    key = hashlib.sha256(requirements.encode()).hexdigest()[:16]
    inside = f"/opt/onnxkit/envs/{key}"
    env = root.path / inside.lstrip("/")
    _host_files(root.path)
    start = time.monotonic()
    with _locked(root.path.with_name(root.path.name + ".lock")):
        if not (env / "onnxkit-env.json").exists():
            shutil.rmtree(env, ignore_errors=True)  # half-made by an interrupted run
            _step(["chroot", str(root.path), "/usr/bin/python3", "-m", "venv", inside], 600)
            (env / "requirements.txt").write_text(requirements)
            _step(["chroot", str(root.path), f"{inside}/bin/python", "-m", "pip", "install",
                   "--no-input", "--progress-bar", "off", "-r", f"{inside}/requirements.txt"],
                  _PIP_TIMEOUT_S, "pip installs the bundle's requirements.txt from PyPI "
                  "inside the root: check the network (HTTPS_PROXY and PIP_INDEX_URL are "
                  "passed through)")
            about = _step(["chroot", str(root.path), f"{inside}/bin/python", "-I", "-c",
                           "import json, platform, numpy, onnxruntime; print(json.dumps({"
                           "'machine': platform.machine(), 'python': platform.python_version(),"
                           " 'onnxruntime': onnxruntime.__version__, 'numpy': numpy.__version__"
                           "}))"], 600)
            (env / "onnxkit-env.json").write_text(about.strip().splitlines()[-1])
            spent = time.monotonic() - start
        else:
            spent = 0.0
    return f"{inside}/bin/python", json.loads((env / "onnxkit-env.json").read_text()), spent


@contextlib.contextmanager
def work_folder(root: PlatformRoot) -> Iterator[tuple[Path, str]]:
    """A fresh folder inside the root, removed afterwards: (host path, path inside)."""
    inside = f"/tmp/onnxkit-run-{uuid.uuid4().hex[:12]}"
    host = root.path / inside.lstrip("/")
    host.mkdir(parents=True)
    try:
        yield host, inside
    finally:
        shutil.rmtree(host, ignore_errors=True)


def run_inside(root: PlatformRoot, argv: list[str], timeout: float
               ) -> subprocess.CompletedProcess[str]:
    """Run a program of the root (chroot, a bare environment, no mounts)."""
    return subprocess.run(["chroot", str(root.path), *argv], capture_output=True, text=True,
                          env=_environment(), timeout=timeout, cwd="/", check=False)


def _environment() -> dict[str, str]:
    env = {"PATH": "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
           "HOME": "/root", "LC_ALL": "C.UTF-8", "PIP_DISABLE_PIP_VERSION_CHECK": "1",
           "PIP_CERT": str(HOST_CA), "SSL_CERT_FILE": str(HOST_CA)}
    return env | {k: os.environ[k] for k in _PASS_ENV if k in os.environ}


def _host_files(root: Path) -> None:
    """The host's CA bundle (a proxy's own CA, say) and resolver, so pip there reaches PyPI."""
    for src in (HOST_CA, Path("/etc/resolv.conf")):
        if src.is_file():
            dst = root / str(src).lstrip("/")
            dst.parent.mkdir(parents=True, exist_ok=True)
            with contextlib.suppress(shutil.SameFileError):
                dst.unlink(missing_ok=True)  # resolv.conf may be a dangling link there
                shutil.copyfile(src, dst)


def _step(argv: list[str], timeout: float, hint: str = "") -> str:
    """One setup step; a failure is a PlatformError naming it, with the end of its output."""
    shown = " ".join(a if len(a) < 60 else a[:57] + "..." for a in argv)
    try:
        done = subprocess.run(argv, capture_output=True, text=True, timeout=timeout,
                              env=_environment(), check=False)
    except subprocess.TimeoutExpired as e:
        raise PlatformError(f"step '{shown}' did not finish in {timeout:.0f} s. {hint}") from e
    except OSError as e:
        raise PlatformError(f"step '{shown}' could not start: {e}. {_SETUP_HINT}") from e
    if done.returncode != 0:
        tail = " | ".join((done.stderr or done.stdout).strip().splitlines()[-6:])
        raise PlatformError(f"step '{shown}' failed (exit {done.returncode}): {tail}. {hint}")
    return done.stdout


def _quiet(argv: list[str]) -> None:
    subprocess.run(argv, capture_output=True, check=False, timeout=60)  # problems() tells


def _enabled(entry: Path) -> bool:
    try:
        return entry.read_text().startswith("enabled")
    except OSError:
        return False


@contextlib.contextmanager
def _locked(path: Path) -> Iterator[None]:
    with open(path, "a") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)  # released when the file closes, crash included
        yield
