"""Quiet export: the model builder prints its progress, transformers and the quantizer draw
progress bars and log each node, torch.onnx logs its registry. Kept out of a user's notebook;
what they said is kept for an error message."""

from __future__ import annotations

import contextlib
import io
import logging
import sys
from collections.abc import Iterator

# onnx_ir and onnxslim log every pass (INFO) through the root handler that ORT's quantizer
# installs on import, bound to the stderr of that moment: redirecting stderr misses them.
_LOGGERS = ("onnxruntime.quantization", "torch.onnx", "torch._dynamo", "torch.export",
            "transformers", "onnx_ir", "onnxslim")


@contextlib.contextmanager
def quiet(log: io.StringIO | None = None) -> Iterator[io.StringIO]:
    """Capture stdout and stderr (into ``log``) and raise the chatty loggers to CRITICAL
    (the quantizer logs at ERROR what is no failure, e.g. "Gather only supports 4 bits" when
    the builder makes int8 weights of a tied embedding; what fails raises)."""
    log = log or io.StringIO()
    loggers = [logging.getLogger(name) for name in _LOGGERS]
    levels = [logger.level for logger in loggers]
    for logger in loggers:
        logger.setLevel(logging.CRITICAL)
    bars = sys.modules.get("transformers.utils.logging")  # its tqdm writes to the notebook
    shown = bars is not None and bars.is_progress_bar_enabled()
    if shown:
        bars.disable_progress_bar()
    try:
        with contextlib.redirect_stdout(log), contextlib.redirect_stderr(log):
            yield log
    finally:
        for logger, level in zip(loggers, levels):
            logger.setLevel(level)
        if shown:
            bars.enable_progress_bar()
