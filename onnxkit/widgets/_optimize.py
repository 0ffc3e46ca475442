"""``OptimizePanel``: graph optimizations, onnxslim, fusion and float16, before vs after."""

from __future__ import annotations

from typing import Any

import ipywidgets as widgets
import traitlets

from onnxkit import (
    FUSION_MODEL_TYPES,
    OPT_LEVELS,
    Model,
    ModelLike,
    ModelSummary,
    has_attention,
    load,
    optimize_pipeline,
    summarize,
)
from onnxkit.errors import ParameterError
from onnxkit.results import fmt_bytes, fmt_count, html_table
from onnxkit.widgets._base import Panel, call


class OptimizePanel(Panel):
    """Optimize ``model``: fusion, onnxslim + ONNX Runtime's graph optimizations, float16.

    Args:
        model: the model to optimize.

    *Optimize* (the main action, :meth:`run`) applies, in this order and each only when
    chosen: :func:`onnxkit.fuse_transformer` (offered when the graph has attention),
    :func:`onnxkit.optimize` (``level`` and ``simplify``; level ``"disable"`` with simplify
    off skips it) and :func:`onnxkit.to_fp16`. It returns the new model and shows its summary
    beside the original's, with what each step changed (from the model's lineage).

    Examples:
        >>> import onnxkit
        >>> from onnxkit.widgets import OptimizePanel
        >>> panel = OptimizePanel(onnxkit.samples.tiny_model())
        >>> panel.level = "basic"
        >>> panel.run().name
        'tiny.opt-basic'
        >>> print(panel.to_code().splitlines()[-1])
        optimized = onnxkit.optimize_pipeline(model, level='basic', simplify=True)
    """

    model = traitlets.Instance(Model, read_only=True, help="The model to optimize.")
    # 'basic' by default: the panel feeds quantization and deployment, and the higher levels
    # write ops laid out for this CPU that neither the quantizer nor other ORT builds take.
    level = traitlets.Enum(OPT_LEVELS, "basic", help="ONNX Runtime's graph optimization level "
                           "('disable': none; 'basic' keeps standard ONNX ops: portable and "
                           "quantizable; 'all' adds ops for this CPU and ORT build).")
    simplify = traitlets.Bool(True, help="Simplify with onnxslim (constant folding) first.")
    fp16 = traitlets.Bool(False, help="Convert the weights and activations to float16 last.")
    fuse = traitlets.Bool(False, help="Fuse attention/LayerNorm/GELU subgraphs first "
                                      "(onnxruntime.transformers; only for transformer graphs).")
    model_type = traitlets.Enum(FUSION_MODEL_TYPES, "bert",
                                help="Fusion: onnxruntime.transformers' model type.")
    fusable = traitlets.Bool(False, read_only=True,
                             help="Whether the graph has attention, so fusion applies.")
    optimized = traitlets.Instance(Model, allow_none=True,
                                   help="The last optimized model (None before Optimize).")
    summaries = traitlets.Tuple(help="(original, optimized) ModelSummary of the last Optimize.")

    def __init__(self, model: ModelLike, **kwargs: Any):
        super().__init__(**kwargs)
        self.set_trait("model", load(model))
        self.set_trait("fusable", has_attention(self.model))
        self.level_control = widgets.Dropdown(options=OPT_LEVELS, description="level")
        self.simplify_control = widgets.Checkbox(description="simplify (onnxslim)")
        self.fp16_control = widgets.Checkbox(description="float16")
        self.fuse_control = widgets.Checkbox(description="transformer fusion")
        self.model_type_control = widgets.Dropdown(options=FUSION_MODEL_TYPES, description="type")
        for name, control in [("level", self.level_control),
                              ("simplify", self.simplify_control),
                              ("fp16", self.fp16_control), ("fuse", self.fuse_control),
                              ("model_type", self.model_type_control)]:
            traitlets.link((self, name), (control, "value"))
        self.fuse_control.disabled = not self.fusable
        self.hint = widgets.Label("")
        self.comparison = widgets.HTML("")
        self.optimize_button = self._button("Optimize", self._optimize, icon="bolt",
                                            button_style="primary")
        self.observe(lambda _: self._sync(), ["level", "simplify", "fp16", "fuse"])
        self.observe(self._show, "summaries")
        self._layout(widgets.HBox([self.level_control, self.simplify_control]),
                     widgets.HBox([self.fuse_control, self.model_type_control]),
                     self.fp16_control, self.hint, self.comparison)
        self._sync()

    def _sync(self) -> None:
        self.model_type_control.disabled = not (self.fusable and self.fuse)
        if not self._chosen():
            self.hint.value = "choose a level, simplify, fusion or float16"
        elif self.fuse and not self.fusable:
            self.hint.value = "no attention in this graph: fusion does not apply"
        else:
            self.hint.value = ""
        self._sync_buttons()

    def _enabled(self, button: widgets.Button) -> bool:
        return bool(self._chosen())

    def _chosen(self) -> list[str]:
        steps = ["fuse"] if self.fuse and self.fusable else []
        if self.level != "disable" or self.simplify:
            steps.append("optimize")
        return steps + (["fp16"] if self.fp16 else [])

    # --- action -------------------------------------------------------------------------------

    def _main(self) -> Model:
        return self._optimize()

    def _optimize(self) -> Model:
        if not self._chosen():
            raise ParameterError("OptimizePanel: nothing to do; choose a level, simplify, "
                                 "fusion (transformer graphs) or float16.")
        options = {"fuse": self.model_type if self.fuse and self.fusable else None,
                   "level": None if self.level == "disable" else self.level,
                   "simplify": self.simplify, "fp16": self.fp16}
        steps = len(self._chosen()) + 1  # and the summaries

        def on_step(what: str, done: int, _total: int) -> None:
            self._progress(done, steps)
            self._step(what)

        current = optimize_pipeline(self.model, on_step=on_step, **options)
        self._progress(steps - 1, steps)
        self._step("summarizing")
        summaries = (summarize(self.model), summarize(current))
        self._progress(steps, steps)
        shown = {k: repr(v) for k, v in options.items()  # level and simplify always
                 if k in ("level", "simplify") or v}
        self._record(call("optimized", "onnxkit.optimize_pipeline", "model", **shown), "",
                     fresh=True)
        self.optimized = current
        self.summaries = summaries
        self.made = current
        return current

    # --- display ------------------------------------------------------------------------------

    def _show(self, _: Any = None) -> None:
        if len(self.summaries) != 2 or self.optimized is None:
            self.comparison.value = ""
            return
        before, after = self.summaries
        self.comparison.value = _comparison_html(before, after, self.optimized)

    def _preamble(self) -> list[str]:
        return [f"model = {self._expr(self.model)}"]


def _comparison_html(before: ModelSummary, after: ModelSummary, model: Model) -> str:
    """The two summaries side by side, then what each lineage step recorded."""
    rows = [("name", before.name, after.name),
            ("size", fmt_bytes(before.size_bytes), fmt_bytes(after.size_bytes)),
            ("nodes", before.node_count, after.node_count),
            ("parameters", fmt_count(before.parameter_count),
             fmt_count(after.parameter_count))]
    html = html_table(("", "original", "optimized"), rows)
    fresh = model.lineage[len(model.lineage) - _new_steps(before, model):]
    for step in fresh:
        changes = step.details.get("op_changes", {})
        lines = [(op, a, b) for op, (a, b) in changes.items()]
        notes = step.notes()
        html += html_table((f"{step.op}: op", "before", "after"), lines or [("(none)", "", "")],
                           caption=step.call() + (f" ({notes})" if notes else ""))
    return html


def _new_steps(before: ModelSummary, model: Model) -> int:
    """How many of ``model``'s lineage steps came after the original (``before``)."""
    for i, step in enumerate(model.lineage):
        if step.source == before.path:
            return len(model.lineage) - i
    return len(model.lineage)
