"""The bundle's own virtualenv, for the tests that run its scripts as a user would."""

from bundle_venv import bundle_python  # noqa: F401  (a fixture)
