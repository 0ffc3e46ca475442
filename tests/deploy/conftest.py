"""The bundle's own virtualenv, for the tests that run its scripts as a user would; and the
``arm64`` marker: the real check on an emulated linux/arm64 root (tests/deploy/test_arm64.py)
runs only when asked for with ``-m arm64`` (``make test-arm64``). Elsewhere it is deselected,
which pytest's summary counts ("N deselected"), never skipped in silence: it needs root,
binfmt_misc and qemu-user-static, and its first run builds a Debian root (minutes)."""

from bundle_venv import bundle_python  # noqa: F401  (a fixture)

ARM64 = "arm64"


def pytest_configure(config):
    config.addinivalue_line("markers", f"{ARM64}: the real run on an emulated linux/arm64 "
                                       "root (make test-arm64; needs root, binfmt_misc, qemu)")


def pytest_collection_modifyitems(config, items):
    if ARM64 in (config.getoption("markexpr", "") or ""):
        return  # asked for: `-m arm64` runs them, and a missing capability fails loudly
    left = [i for i in items if i.get_closest_marker(ARM64) is not None]
    if left:
        config.hook.pytest_deselected(items=left)
        items[:] = [i for i in items if i.get_closest_marker(ARM64) is None]
