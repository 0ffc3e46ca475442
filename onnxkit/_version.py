"""The version of onnxkit (read by setuptools from here, without importing the package)."""

__version__ = "0.1.0"
