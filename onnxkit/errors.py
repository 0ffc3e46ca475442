"""The exceptions onnxkit raises.

Every error derives from :class:`OnnxkitError`, and each subclass also inherits the built-in
exception a caller would expect (``ValueError``, ``FileNotFoundError``, ...), so plain
``except ValueError`` keeps working. Messages follow one template: what was wrong (with the
bad value) and what to do about it.
"""

__all__ = [
    "OnnxkitError",
    "ModelNotFoundError",
    "InvalidModelError",
    "ModelChangedError",
    "ExternalDataError",
    "UnsupportedModelError",
    "InputError",
    "ParameterError",
    "ProviderError",
    "SessionError",
    "WorkspaceError",
    "MissingDependencyError",
    "Cancelled",
    "ConversionError",
    "NotFoundError",
    "ServeError",
    "ClusterError",
    "PlatformError",
    "BudgetError",
]


class OnnxkitError(Exception):
    """Root of every error raised by onnxkit."""


class ModelNotFoundError(OnnxkitError, FileNotFoundError):
    """A model path that does not exist."""


class InvalidModelError(OnnxkitError, ValueError):
    """Bytes or a file that are not a usable ONNX model (empty, truncated, not protobuf...)."""


class ModelChangedError(InvalidModelError):
    """The file behind a ``Model`` handle was replaced after the handle was made."""


class ExternalDataError(InvalidModelError):
    """External weights that are missing, truncated, or stored outside the model's folder."""


class UnsupportedModelError(OnnxkitError, NotImplementedError):
    """A valid model that uses something this operation cannot handle."""


class InputError(OnnxkitError, ValueError):
    """Feeds or input specifications that do not match the model's inputs."""


class ParameterError(OnnxkitError, ValueError):
    """A function argument outside what it accepts."""


class ProviderError(OnnxkitError, ValueError):
    """An execution provider name or option that ONNX Runtime does not have or accept."""


class SessionError(OnnxkitError, RuntimeError):
    """ONNX Runtime refused to create a session for a model, or failed while running it."""


class WorkspaceError(OnnxkitError, OSError):
    """The workspace folder cannot be used, or a write would overwrite a user's file."""


class ConversionError(OnnxkitError, RuntimeError):
    """A converter (torch.onnx, skl2onnx, tf2onnx, onnx's version converter) failed."""


class NotFoundError(OnnxkitError, KeyError):
    """A name (a study's variant, a report's stage) that the object does not hold."""

    def __str__(self) -> str:  # KeyError would show the message quoted
        return str(self.args[0]) if self.args else ""


class Cancelled(OnnxkitError):
    """Long work stopped on request (a panel's Cancel button, or a progress callback)."""


class MissingDependencyError(OnnxkitError, ImportError):
    """An optional dependency is not installed; the message names the extra to install."""


class ServeError(OnnxkitError, RuntimeError):
    """A server could not start or stop (the port is taken, the bundle is damaged...)."""


class ClusterError(OnnxkitError, RuntimeError):
    """The cluster could not be reached, or cannot do what was asked of it."""


class PlatformError(OnnxkitError, RuntimeError):
    """Another platform cannot be emulated here (no root, binfmt_misc, qemu-user-static or
    debootstrap), or a step setting it up failed; the message names the package or step."""


class BudgetError(OnnxkitError, ValueError):
    """A model over an edge budget (``bundle(max_size_mb=..., max_memory_mb=...)``)."""
