"""``ComposePanel``: a pipeline in one graph, one step at a time — preprocessing, post-processing,
a chain or ensemble with another model, a split — with the graph's inputs, outputs and nodes
after each step."""

from __future__ import annotations

import hashlib
from typing import Any

import ipywidgets as widgets
import traitlets

from onnxkit import Model, ModelLike, load, summarize, workspace
from onnxkit.compose import (
    HOWS,
    NMS,
    ImagePrep,
    chain,
    cut_points,
    ensemble,
    split,
    with_postprocessing,
    with_preprocessing,
)
from onnxkit.errors import ParameterError
from onnxkit.results import html_table
from onnxkit.widgets._base import Panel, call, path_code

STEPS = ("image", "text", "postprocess", "chain", "ensemble", "split")
_WORDS = {"image": "preprocess: image", "text": "preprocess: text (tokenizer)",
          "postprocess": "postprocess", "chain": "chain with another model",
          "ensemble": "ensemble with another model", "split": "split at tensors"}
LAYOUTS = ("hwc", "nhwc", "nchw")


class ComposePanel(Panel):
    """Grow ``model`` into a pipeline in one graph, step by step (:mod:`onnxkit.compose`).

    Args:
        model: the model the pipeline starts from.
        tokenizer: a ``transformers`` tokenizer for the *text* step (none: that step is off).
        others: models to chain or ensemble with (the Workbench offers its models).

    *Add step* (the main action, :meth:`run`) applies the chosen ``step`` to the graph so far
    (``current``) with one kernel call — ``with_preprocessing`` (image: ``resize``, ``crop``,
    ``letterbox``, ``mean``, ``std``, ``layout``; text: the tokenizer),
    ``with_postprocessing`` (``softmax``, ``top_k``, ``labels``, ``threshold``, or ``nms``
    with ``iou``/``score``/``max_detections``), ``chain`` (``partner`` after the graph,
    ``io_map``), ``ensemble`` (``how``) — and shows the new graph's inputs, outputs and
    nodes, and whether the step verified. *split* cuts the graph at ``at`` into ``stages``
    (returned as ``{"stage 1": Model, ...}``; the graph so far stays; ``made`` is the first
    stage). *Undo* goes back one step.

    Examples:
        >>> import onnxkit
        >>> from onnxkit.widgets import ComposePanel
        >>> panel = ComposePanel(onnxkit.samples.tiny_model())
        >>> panel.softmax, panel.labels = True, "cat, dog, bird"
        >>> panel.run().name.startswith("tiny.post")  # a suffix when the workspace has one
        True
        >>> [str(t) for t in onnxkit.summarize(panel.current).outputs][1:]
        ['class: int64[batch]', 'label: string[batch]']
        >>> panel.history
        ['postprocess: verified']
        >>> print(panel.to_code().splitlines()[-1])
        )
    """

    model = traitlets.Instance(Model, read_only=True, help="The model the pipeline starts from.")
    current = traitlets.Instance(Model, help="The graph so far (the model, then each step's).")
    history = traitlets.List(help="The steps so far, in words.")
    stages = traitlets.Tuple(help="The stages of the last split (empty before one).")
    others = traitlets.List(traitlets.Instance(Model), help="Models to chain or ensemble with.")
    tokenizer = traitlets.Any(None, allow_none=True,
                              help="A transformers tokenizer for the text step.")
    step = traitlets.Enum(STEPS, "postprocess", help="The step Add step applies.")
    # image
    resize = traitlets.Unicode("", help="Image: resize to 'h, w' (or the shorter side to 'n').")
    crop = traitlets.Unicode("", help="Image: centre-crop to 'h, w' or 'n' (blank: none).")
    letterbox = traitlets.Unicode("", help="Image: fit into 'h, w', aspect kept, padded.")
    mean = traitlets.Unicode("", help="Image: per-channel mean after scaling, e.g. '0.5'.")
    std = traitlets.Unicode("", help="Image: per-channel std after scaling, e.g. '0.25'.")
    layout = traitlets.Enum(LAYOUTS, "hwc", help="Image: how raw images arrive ('hwc': one "
                            "image of any size; 'nhwc'/'nchw': a batch of one size).")
    # post-processing
    softmax = traitlets.Bool(False, help="Post: softmax over the class scores.")
    top_k = traitlets.Int(0, help="Post: also the k best classes (0: no).")
    labels = traitlets.Unicode("", help="Post: class names, comma-separated.")
    threshold = traitlets.Unicode("", help="Post: decision threshold (blank: the best class).")
    nms = traitlets.Bool(False, help="Post: detector outputs through non-maximum suppression.")
    iou = traitlets.Float(0.5, help="NMS: overlap above which the lower-scored box goes.")
    score = traitlets.Float(0.25, help="NMS: lowest score kept.")
    max_detections = traitlets.Int(100, help="NMS: detections kept per image.")
    # chain / ensemble / split
    partner = traitlets.Unicode("", help="Chain/ensemble: the other model's file.")
    io_map = traitlets.Unicode("", help="Chain: 'output:input, ...' (blank: matching names).")
    how = traitlets.Enum(HOWS, "mean", help="Ensemble: how the outputs are fused.")
    at = traitlets.Unicode("", help="Split: the tensor names to cut at, comma-separated.")

    def __init__(self, model: ModelLike, *, tokenizer: Any = None,
                 others: list[Model] | None = None, **kwargs: Any):
        super().__init__(**kwargs)
        self.set_trait("model", load(model))
        self.current = self.model
        self.tokenizer = tokenizer
        self.others = list(others or [])
        self._past: list[tuple[Model, list[str], list[str]]] = []  # for Undo
        self.step_control = widgets.Dropdown(options=[(_WORDS[s], s) for s in STEPS],
                                             description="step")
        text = {name: widgets.Text(description=name.replace("_", " "), placeholder=hint,
                                   layout=widgets.Layout(width="240px"))
                for name, hint in [("resize", "h, w"), ("crop", "h, w"),
                                   ("letterbox", "h, w"), ("mean", "0.5"), ("std", "0.25"),
                                   ("labels", "cat, dog, bird"), ("threshold", "(best class)"),
                                   ("io_map", "(matching names)"), ("at", "tensor names")]}
        self.controls: dict[str, widgets.Widget] = {
            "step": self.step_control, **text,
            "layout": widgets.Dropdown(options=LAYOUTS, description="layout"),
            "softmax": widgets.Checkbox(description="softmax", indent=False),
            "top_k": widgets.BoundedIntText(min=0, max=1000, description="top k",
                                            layout=widgets.Layout(width="160px")),
            "nms": widgets.Checkbox(description="NMS (detector)", indent=False),
            "iou": widgets.BoundedFloatText(min=0.01, max=0.99, step=0.05, description="iou",
                                            layout=widgets.Layout(width="160px")),
            "score": widgets.BoundedFloatText(min=0.0, max=1.0, step=0.05,
                                              description="score",
                                              layout=widgets.Layout(width="160px")),
            "max_detections": widgets.BoundedIntText(min=1, max=10000, description="max",
                                                     layout=widgets.Layout(width="160px")),
            "partner": widgets.Combobox(description="model", ensure_option=False,
                                        placeholder="another model's file",
                                        layout=widgets.Layout(width="420px")),
            "how": widgets.Dropdown(options=HOWS, description="how"),
        }
        for name, control in self.controls.items():
            traitlets.link((self, name), (control, "value"))
        self.graph_view = widgets.HTML("")
        self.add_button = self._button("Add step", self._add, icon="plus",
                                       button_style="primary")
        self.undo_button = self._button("Undo", self._undo, icon="undo",
                                        tooltip="Back to the graph before the last step")
        c = self.controls
        self._rows = {
            "image": widgets.HBox([c["resize"], c["crop"], c["letterbox"], c["layout"]]),
            "norm": widgets.HBox([c["mean"], c["std"]]),
            "post": widgets.HBox([c["softmax"], c["top_k"], c["labels"], c["threshold"]]),
            "nms": widgets.HBox([c["nms"], c["iou"], c["score"], c["max_detections"]]),
            "partner": widgets.HBox([c["partner"], c["io_map"], c["how"]]),
            "split": widgets.HBox([c["at"]]),
        }
        self.observe(lambda _: self._sync(), ["step", "nms", "tokenizer", "others"])
        # the graph is summarized (and its cut points searched) only when it changes
        self.observe(lambda _: self._show_graph(), ["current", "history", "stages"])
        self._layout(self.step_control, *self._rows.values(), self.graph_view)
        self._show_graph()

    # --- state --------------------------------------------------------------------------------

    def _sync(self) -> None:
        shown = {"image": ("image", "norm"), "text": (), "postprocess": ("post", "nms"),
                 "chain": ("partner",), "ensemble": ("partner",), "split": ("split",)}
        for key, row in self._rows.items():
            row.layout.display = None if key in shown[self.step] else "none"
        c = self.controls
        c["io_map"].layout.display = None if self.step == "chain" else "none"
        c["how"].layout.display = None if self.step == "ensemble" else "none"
        for name in ("softmax", "top_k", "threshold"):
            c[name].disabled = self.nms
        c["partner"].options = [str(m.path) for m in self.others if m != self.current]
        self._sync_buttons()

    def _show_graph(self) -> None:
        self.controls["at"].placeholder = ", ".join(cut_points(self.current)[:3]) or \
            "tensor names"
        self.graph_view.value = self._graph_html()
        self._sync()

    def _enabled(self, button: widgets.Button) -> bool:
        if button is self.undo_button:
            return bool(self._past)
        return not (self.step == "text" and self.tokenizer is None)

    def _hint(self) -> str:
        if self.step == "text" and self.tokenizer is None:
            return "the text step needs a tokenizer: ComposePanel(model, tokenizer=...)"
        return ""

    # --- actions ------------------------------------------------------------------------------

    def _main(self) -> Any:
        return self._add()

    def _add(self) -> Any:
        self._step(_WORDS[self.step])
        if self.step == "split":
            return self._split()
        source, before = self.current, list(self._code)
        made, line = self._apply()
        self._past.append((source, before, list(self.history)))
        self._record(line)
        self.history = [*self.history, f"{_WORDS[self.step]}: {_verified(made)}"]
        self.current = made
        self.made = made
        return made

    def _apply(self) -> tuple[Model, str]:
        step, g = self.step, self.current
        if step == "image":
            prep = self._image_prep()
            return with_preprocessing(g, image=prep), call(
                "composed", "onnxkit.compose.with_preprocessing", "composed",
                image=_prep_code(prep))
        if step == "text":
            return with_preprocessing(g, text=self.tokenizer), call(
                "composed", "onnxkit.compose.with_preprocessing", "composed",
                text=self._tokenizer_code())
        if step == "postprocess":
            options = self._post_options()
            shown = {k: (_nms_code(v) if k == "nms" else repr(v)) for k, v in options.items()}
            return with_postprocessing(g, **options), call(
                "composed", "onnxkit.compose.with_postprocessing", "composed", **shown)
        other = self._partner()
        if step == "chain":
            io = _pairs(self.io_map)
            return chain(g, other, io or None), call(
                "composed", "onnxkit.compose.chain", "composed", self._expr(other),
                *([repr(io)] if io else []))
        return ensemble([g, other], how=self.how), call(
            "composed", "onnxkit.compose.ensemble", f"[composed, {self._expr(other)}]",
            how=repr(self.how))

    def _split(self) -> dict[str, Model]:
        at = [n.strip() for n in self.at.split(",") if n.strip()]
        if not at:
            raise ParameterError("ComposePanel: name the tensors to split at (at=...); "
                                 f"for instance {cut_points(self.current)[:3]}.")
        stages = split(self.current, at=at)
        self._record(call("stages", "onnxkit.compose.split", "composed", at=repr(at)))
        self.stages = stages
        self.made = stages[0]
        return {f"stage {k}": stage for k, stage in enumerate(stages, 1)}  # shown as a table

    def _undo(self) -> Model:
        if not self._past:
            raise ParameterError("ComposePanel: nothing to undo.")
        source, code, history = self._past.pop()
        self._code, self.history, self.current = code, history, source
        self.stages = ()
        return source

    # --- reading the controls -----------------------------------------------------------------

    def _image_prep(self) -> ImagePrep:
        return ImagePrep(resize=_dims(self.resize, "resize"), crop=_dims(self.crop, "crop"),
                         letterbox=_dims(self.letterbox, "letterbox"),
                         mean=_floats(self.mean, "mean"), std=_floats(self.std, "std"),
                         layout=self.layout)

    def _post_options(self) -> dict[str, Any]:
        labels = [s.strip() for s in self.labels.split(",") if s.strip()] or None
        if self.nms:
            return {"nms": NMS(iou=self.iou, score=self.score,
                               max_detections=self.max_detections),
                    **({"labels": labels} if labels else {})}
        options: dict[str, Any] = {"softmax": self.softmax or None,
                                   "top_k": self.top_k or None, "labels": labels,
                                   "threshold": _floats(self.threshold, "threshold", one=True)}
        return {k: v for k, v in options.items() if v is not None}

    def _partner(self) -> Model:
        if not self.partner.strip():
            raise ParameterError(f"ComposePanel: {self.step} needs another model (partner=...): "
                                 "a model file, or one the Workbench offers.")
        return load(self.partner.strip())

    def _tokenizer_code(self) -> str:
        """The tokenizer saved to the workspace once, read back by ``transformers``."""
        vocab = sorted(self.tokenizer.get_vocab().items())
        digest = hashlib.sha1(f"{type(self.tokenizer).__name__}{vocab}".encode()).hexdigest()
        folder = workspace().root / "tokenizers" / digest[:16]
        if not folder.exists():
            self.tokenizer.save_pretrained(str(folder))
        return f"transformers.{type(self.tokenizer).__name__}.from_pretrained({path_code(folder)})"

    # --- display and code -----------------------------------------------------------------------

    def _graph_html(self) -> str:
        s = summarize(self.current)
        rows = [("inputs", ", ".join(str(t) for t in s.inputs)),
                ("outputs", ", ".join(str(t) for t in s.outputs)),
                ("nodes", s.node_count)]
        html = html_table(("graph so far", s.name), rows,
                          caption=" → ".join(["model", *self.history]))
        for k, stage in enumerate(self.stages, 1):
            t = summarize(stage)
            html += html_table((f"stage {k}", t.name),
                               [("inputs", ", ".join(str(i) for i in t.inputs)),
                                ("outputs", ", ".join(str(o) for o in t.outputs)),
                                ("nodes", t.node_count)])
        return html

    def _preamble(self) -> list[str]:
        return [f"model = {self._expr(self.model)}", "composed = model"]

    def to_code(self) -> str:
        code = super().to_code()
        return f"import transformers\n{code}" if "transformers." in code else code


def _verified(model: Model) -> str:
    check = model.lineage[-1].details.get("verification", {}) if model.lineage else {}
    return "verified" if check.get("passed") else "NOT verified"


def _dims(text: str, name: str) -> int | tuple[int, int] | None:
    values = [v.strip() for v in text.replace("x", ",").split(",") if v.strip()]
    if not values:
        return None
    try:
        numbers = [int(v) for v in values]
    except ValueError:
        raise ParameterError(f"ComposePanel({name}=...) must be 'n' or 'h, w' in pixels; got "
                             f"{text!r}.") from None
    return numbers[0] if len(numbers) == 1 else tuple(numbers)  # type: ignore[return-value]


def _floats(text: str, name: str, *, one: bool = False) -> Any:
    values = [v.strip() for v in text.split(",") if v.strip()]
    if not values:
        return None
    try:
        numbers = tuple(float(v) for v in values)
    except ValueError:
        raise ParameterError(f"ComposePanel({name}=...) must be numbers, comma-separated; got "
                             f"{text!r}.") from None
    if one and len(numbers) != 1:
        raise ParameterError(f"ComposePanel({name}=...) is one number; got {text!r}.")
    return numbers[0] if one else numbers


def _pairs(text: str) -> dict[str, str]:
    pairs = {}
    for item in (p.strip() for p in text.split(",") if p.strip()):
        out, sep, into = item.partition(":")
        if not sep or not out.strip() or not into.strip():
            raise ParameterError(f"ComposePanel(io_map=...) takes 'output:input' pairs, "
                                 f"comma-separated; got {item!r}.")
        pairs[out.strip()] = into.strip()
    return pairs


def _prep_code(prep: ImagePrep) -> str:
    fields = {k: getattr(prep, k) for k in ("resize", "crop", "letterbox", "mean", "std")}
    args = [f"{k}={v!r}" for k, v in fields.items() if v is not None]
    if prep.layout != "hwc":
        args.append(f"layout={prep.layout!r}")
    return f"onnxkit.compose.ImagePrep({', '.join(args)})"


def _nms_code(nms: NMS) -> str:
    return (f"onnxkit.compose.NMS(iou={nms.iou!r}, score={nms.score!r}, "
            f"max_detections={nms.max_detections!r})")
