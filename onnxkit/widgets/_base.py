"""``Panel``: the state, threading, progress, error display and code view all panels share.

A subclass builds its controls (linked to traitlets), makes its buttons with :meth:`Panel._button`
(each bound to an action: a method that calls the kernel and returns a result), implements
:meth:`Panel._main` (what :meth:`Panel.run` does), records the code of each successful action
with :meth:`Panel._record`, gives the code that defines its inputs in :meth:`Panel._preamble`,
and, when an action produces a model, sets ``made`` (the one trait the Workbench reads).
"""

from __future__ import annotations

import html
import json
import logging
import threading
from collections.abc import Callable, Mapping
from typing import Any

import ipywidgets as widgets
import numpy as np
import traitlets

from onnxkit import Model
from onnxkit.errors import Cancelled
from onnxkit.results import html_table
from onnxkit.widgets._recorder import Recorder, call, path_code

__all__ = ["Panel", "call", "path_code"]

log = logging.getLogger("onnxkit.widgets")

Action = Callable[[], Any]


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
    made = traitlets.Instance(Model, allow_none=True, help="The model the panel's last action "
                              "produced (None until one does; panels that make none keep None).")

    def __init__(self, **kwargs: Any):
        super().__init__(**kwargs)
        self._cancel = threading.Event()
        self._thread: threading.Thread | None = None
        self._buttons: list[widgets.Button] = []
        self._code: list[str] = []
        self._recorder = Recorder()
        self.progress = widgets.IntProgress(value=0, min=0, max=1, description="",
                                            layout=widgets.Layout(width="200px"))
        self.status = widgets.Label("")
        self.needs = widgets.HTML("")  # what a disabled button needs, in words
        self.cancel_button = widgets.Button(description="Cancel", icon="stop", disabled=True,
                                            tooltip="Stop the running action")
        self.cancel_button.on_click(lambda _: self.cancel())
        self.output = widgets.Output()
        self.code_view = widgets.HTML("<i>no action yet</i>")
        self.code = widgets.Accordion(children=[self.code_view], titles=("Code",),
                                      selected_index=None)
        self.observe(lambda _: self._sync_buttons(), "busy")
        self.observe(lambda _: self._show_code(), "actions")

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

    def _hint(self) -> str:
        """What the person can do about a disabled button or missing input ('' when
        nothing)."""
        return ""

    # --- helpers for subclasses ---------------------------------------------------------------

    def _layout(self, *controls: widgets.Widget) -> None:
        """Lay out ``controls``, then the buttons, the progress row and the output area;
        every description shows whole (ipywidgets cuts them at a fixed width otherwise)."""
        for control in _walk(controls):
            if getattr(control, "description", "") and \
                    hasattr(getattr(control, "style", None), "description_width"):
                control.style.description_width = "initial"
        self.children = [*controls, widgets.HBox([*self._buttons, self.needs]),
                         widgets.HBox([self.progress, self.status, self.cancel_button]),
                         self.output, self.code]
        self._sync_buttons()

    def _show_code(self) -> None:
        """The Code view: what the panel did, as the cell that does it again."""
        self.code_view.value = (f"<pre style='white-space: pre-wrap'>"
                                f"{html.escape(self.to_code())}</pre>")

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
        hint = self._hint()
        self.needs.value = f"<i>{html.escape(hint)}</i>" if hint else ""

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
        """Python source that evaluates to ``value`` (see :meth:`Recorder.expr`)."""
        return self._recorder.expr(value)


def _name(action: Action) -> str:
    return getattr(action, "__name__", repr(action)).strip("_")


def _display(result: Any) -> tuple[dict[str, Any], ...]:
    """Output-area entries for a result: its table, then its plot when it has one; a plain
    mapping (a server's outputs or stats) as a table in words, not a repr."""
    if isinstance(result, Mapping):
        rows = [(str(k).replace("_", " "), _in_words(v)) for k, v in result.items()]
        return (_entry({"text/plain": "\n".join(f"{k}: {v}" for k, v in rows),
                        "text/html": html_table(("", ""), rows)}),)
    outputs = [_entry({"text/plain": repr(result),
                       **({"text/html": result._repr_html_()}
                          if callable(getattr(result, "_repr_html_", None)) else {})})]
    if callable(getattr(result, "plot", None)):
        import plotly.io as pio

        fig = result.plot()
        outputs.append(_entry({"application/vnd.plotly.v1+json": json.loads(pio.to_json(fig)),
                               "text/plain": f"<figure: {fig.layout.title.text}>"}))
    return tuple(outputs)


def _walk(controls: Any) -> Any:
    for control in controls:
        yield control
        yield from _walk(getattr(control, "children", ()))


def _in_words(value: Any) -> str:
    """An array as its dtype, shape, first values (and top class); anything else as text."""
    if isinstance(value, np.ndarray):
        head = np.array2string(value.ravel()[:6], precision=3, separator=", ")
        more = " …" if value.size > 6 else ""
        top = f"; top class {int(value[0].argmax())}" if value.ndim == 2 and value.size else ""
        return f"{value.dtype}{list(value.shape)}: {head}{more}{top}"
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, float):
        return f"{value:.4g}"
    return "-" if value is None or value == "" else str(value)


def _entry(data: dict[str, Any]) -> dict[str, Any]:
    return {"output_type": "display_data", "data": data, "metadata": {}}

