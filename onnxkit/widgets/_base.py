"""``Panel``: the state, threading, progress, error display and code recording all panels share.

A subclass builds its controls (linked to traitlets), makes its buttons with :meth:`Panel._button`
(each bound to an action: a method that calls the kernel and returns a result), implements
:meth:`Panel._main` (what :meth:`Panel.run` does), records the code of each successful action
with :meth:`Panel._record`, and gives the code that defines its inputs in :meth:`Panel._preamble`.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import tempfile
import threading
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import ipywidgets as widgets
import numpy as np
import traitlets

from onnxkit import Model, workspace
from onnxkit.errors import Cancelled

log = logging.getLogger("onnxkit.widgets")

Action = Callable[[], Any]
_WRAP = 88  # emitted calls longer than this get one argument per line


class Panel(widgets.VBox):
    """Base of the onnxkit panels: one kernel call per action, run here or in the background.

    ``run()`` performs the main action synchronously and returns its result (raising on
    failure); a button runs an action in a daemon thread, shows progress, can be cancelled,
    and shows a failure in the panel instead of raising. ``to_code()`` gives the kernel calls
    that reproduce what the panel did.
    """

    result = traitlets.Any(None, allow_none=True,
                           help="What the last successful action returned.")
    error = traitlets.Unicode("", help="Message of the last failed (or cancelled) action; '' "
                                       "when the last action succeeded.")
    busy = traitlets.Bool(False, help="True while an action runs.")
    actions = traitlets.Int(0, help="How many actions have succeeded (observe it to follow the "
                                    "panel, e.g. to collect its code).")

    def __init__(self, **kwargs: Any):
        super().__init__(**kwargs)
        self._cancel = threading.Event()
        self._thread: threading.Thread | None = None
        self._buttons: list[widgets.Button] = []
        self._code: list[str] = []
        self._arrays: dict[int, tuple[np.ndarray, Path]] = {}
        self.progress = widgets.IntProgress(value=0, min=0, max=1, description="",
                                            layout=widgets.Layout(width="200px"))
        self.status = widgets.Label("")
        self.cancel_button = widgets.Button(description="Cancel", icon="stop", disabled=True,
                                            tooltip="Stop the running action")
        self.cancel_button.on_click(lambda _: self.cancel())
        self.output = widgets.Output()
        self.observe(lambda _: self._sync_buttons(), "busy")

    # --- what a subclass implements ---------------------------------------------------------

    def _main(self) -> Any:
        """The panel's main action (what :meth:`run` performs)."""
        raise NotImplementedError

    def _preamble(self) -> list[str]:
        """Code lines that define the panel's inputs (``model = onnxkit.load(...)``...)."""
        return []

    def _enabled(self, button: widgets.Button) -> bool:
        """Whether ``button`` can be used now (when not busy); default: always."""
        return True

    # --- helpers for subclasses ---------------------------------------------------------------

    def _layout(self, *controls: widgets.Widget) -> None:
        """Lay out ``controls``, then the buttons, the progress row and the output area."""
        self.children = [*controls, widgets.HBox(self._buttons),
                         widgets.HBox([self.progress, self.status, self.cancel_button]),
                         self.output]
        self._sync_buttons()

    def _button(self, description: str, action: Action, **kwargs: Any) -> widgets.Button:
        """A button that runs ``action`` in the background."""
        button = widgets.Button(description=description, **kwargs)
        button.on_click(lambda _: self.start(action))
        self._buttons.append(button)
        return button

    def _step(self, text: str) -> None:
        """Say what the action does next; raises :class:`Cancelled` if a cancel was asked."""
        self.status.value = text
        if self._cancel.is_set():
            raise Cancelled(f"{type(self).__name__}: cancelled before '{text}'.")

    def _progress(self, done: int, total: int) -> None:
        """A kernel ``progress(done, total)`` callback: updates the bar, honours Cancel."""
        self.progress.max = max(total, 1)
        self.progress.value = min(done, total)
        if self._cancel.is_set():
            raise Cancelled(f"{type(self).__name__}: cancelled at {done}/{total}.")

    def _record(self, *lines: str, fresh: bool = False) -> None:
        """Remember the code of a successful action (``fresh``: it starts a new history)."""
        self._code = [*([] if fresh else self._code), *lines]

    def _sync_buttons(self) -> None:
        for button in self._buttons:
            button.disabled = self.busy or not self._enabled(button)
        self.cancel_button.disabled = not self.busy

    # --- running ------------------------------------------------------------------------------

    def run(self) -> Any:
        """Perform the main action now and return its result; a failure is shown and raised."""
        self.wait()
        self._cancel.clear()
        return self._execute(self._main, background=False)

    def start(self, action: Action) -> None:
        """Run ``action`` in a background thread (what the buttons do); never raises."""
        if self.busy:
            log.warning("%s is busy; ignoring the request.", type(self).__name__)
            return
        self._cancel.clear()
        self.busy = True
        self._thread = threading.Thread(target=self._execute, args=(action,),
                                        kwargs={"background": True}, daemon=True,
                                        name=f"{type(self).__name__}-action")
        self._thread.start()

    def cancel(self) -> None:
        """Ask the running action to stop at its next step or progress report."""
        self._cancel.set()

    def wait(self, timeout: float | None = None) -> bool:
        """Wait for the background action; True when none is running any more."""
        thread = self._thread
        if thread is not None:
            thread.join(timeout)
            return not thread.is_alive()
        return True

    def _execute(self, action: Action, *, background: bool) -> Any:
        self.busy = True
        self.progress.value, self.progress.max = 0, 1
        try:
            result = action()
            outputs = _display(result)
        except Exception as e:
            self.error = f"{type(e).__name__}: {e}"
            self.status.value = "cancelled" if isinstance(e, Cancelled) else "failed"
            self.output.outputs = ({"output_type": "stream", "name": "stderr",
                                    "text": self.error + "\n"},)
            if not background:
                raise
            if isinstance(e, Cancelled):
                log.info("%s", e)
            else:
                log.error("%s: %s failed", type(self).__name__, _name(action), exc_info=True)
            return None
        else:
            self.error = ""
            self.result = result
            self.status.value = "done"
            self.output.outputs = outputs
            self.actions += 1
            return result
        finally:
            self.busy = False

    # --- code ---------------------------------------------------------------------------------

    def to_code(self) -> str:
        """The kernel calls that reproduce what the panel did, runnable as a notebook cell."""
        body = [*self._preamble(), "", *self._code]
        imports = ["import numpy as np"] if any("np." in line for line in body) else []
        return "\n".join([*imports, "import onnxkit", "", *body]).rstrip() + "\n"

    def _expr(self, value: Any) -> str:
        """Python source that evaluates to ``value``: arrays are saved to the workspace once."""
        if isinstance(value, Model):
            return f"onnxkit.load({path_code(value.path)})"
        if isinstance(value, np.ndarray):
            return f"np.load({path_code(self._saved(value))})"
        if isinstance(value, Mapping):
            items = ", ".join(f"{k!r}: {self._expr(v)}" for k, v in value.items())
            return "{" + items + "}"
        if isinstance(value, (list, tuple)):
            inner = ", ".join(self._expr(v) for v in value)
            if isinstance(value, list):
                return f"[{inner}]"
            return f"({inner},)" if len(value) == 1 else f"({inner})"
        return repr(value)

    def _saved(self, array: np.ndarray) -> Path:
        """``array`` as ``<workspace>/arrays/<content hash>.npy``, written once."""
        if id(array) in self._arrays:
            return self._arrays[id(array)][1]
        digest = hashlib.sha1(f"{array.dtype.str}{array.shape}".encode())
        digest.update(np.ascontiguousarray(array).tobytes())
        folder = workspace().root / "arrays"
        path = folder / f"{digest.hexdigest()[:20]}.npy"
        if not path.exists():
            folder.mkdir(parents=True, exist_ok=True)
            fd, tmp = tempfile.mkstemp(suffix=".npy", dir=folder)
            with os.fdopen(fd, "wb") as f:
                np.save(f, array, allow_pickle=False)
            os.replace(tmp, path)
        self._arrays[id(array)] = (array, path)  # the reference keeps the id valid
        return path


def call(target: str, function: str, *args: str, **kwargs: str) -> str:
    """``target = function(args, key=value)``, one argument per line when long."""
    parts = [*args, *(f"{k}={v}" for k, v in kwargs.items())]
    line = f"{target} = {function}({', '.join(parts)})"
    if len(line) <= _WRAP:
        return line
    return f"{target} = {function}(\n" + "".join(f"    {p},\n" for p in parts) + ")"


def path_code(path: Path) -> str:
    """A path as Python source (a raw string where that reads best)."""
    text = str(path)
    return f'r"{text}"' if '"' not in text and not text.endswith("\\") else repr(text)


def _name(action: Action) -> str:
    return getattr(action, "__name__", repr(action)).strip("_")


def _display(result: Any) -> tuple[dict[str, Any], ...]:
    """Output-area entries for a result: its table, then its plot when it has one."""
    outputs = [_entry({"text/plain": repr(result),
                       **({"text/html": result._repr_html_()}
                          if callable(getattr(result, "_repr_html_", None)) else {})})]
    if callable(getattr(result, "plot", None)):
        import plotly.io as pio

        fig = result.plot()
        outputs.append(_entry({"application/vnd.plotly.v1+json": json.loads(pio.to_json(fig)),
                               "text/plain": f"<figure: {fig.layout.title.text}>"}))
    return tuple(outputs)


def _entry(data: dict[str, Any]) -> dict[str, Any]:
    return {"output_type": "display_data", "data": data, "metadata": {}}

