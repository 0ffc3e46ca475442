"""The bundles' own tests: bundles whose graph takes raw images (tests/image_bundles.py)."""

from image_bundles import image_bundle_python, image_bundles, plain_bundle  # noqa: F401
