"""``ConvertPanel``: pick a model in the notebook (or a file), describe inputs, convert, verify."""

from __future__ import annotations

import sys
from collections.abc import Mapping
from typing import Any

import ipywidgets as widgets
import traitlets

from onnxkit import convert
from onnxkit.errors import ParameterError
from onnxkit.widgets._base import Panel, call

_EXPORTERS = ("auto", "dynamo", "torchscript")


def framework_of(obj: Any) -> str | None:
    """``"torch"``, ``"keras"``, ``"sklearn"`` or None, without importing any framework."""
    torch, keras = sys.modules.get("torch"), sys.modules.get("keras")
    if torch is not None and isinstance(obj, torch.nn.Module):
        return "torch"
    if keras is not None and isinstance(obj, keras.Model):
        return "keras"
    if type(obj).__module__.startswith("sklearn") and hasattr(obj, "predict") and \
            not isinstance(obj, type):
        return "sklearn"
    return None


class ConvertPanel(Panel):
    """Convert a model from the notebook's namespace (or a file) to ONNX, verified.

    *Source*: a torch module, scikit-learn estimator or Keras model found in ``namespace``
    (default: the notebook's), or a file (``script.py:NAME``, ``model.keras``). *Inputs*: the
    name of a variable holding example inputs, or shapes such as ``2,3,32,32`` or
    ``2,16:int64; 2,16:int64``. *Convert* calls ``onnxkit.convert.from_*`` and shows the
    verification against the framework and the model's summary.
    """

    source = traitlets.Unicode("", help="A variable name in the namespace, or a file: "
                                        "script.py:NAME or model.keras.")
    inputs = traitlets.Unicode("", help="Example inputs: a variable name, or shapes like "
                                        "'2,3,32,32' or '2,16:int64; 2,16:int64'.")
    exporter = traitlets.Enum(_EXPORTERS, "auto", help="torch: dynamo, TorchScript, or dynamo "
                                                       "falling back to TorchScript (auto).")
    opset = traitlets.Int(0, min=0, help="ONNX opset (0: the converter's default).")
    dynamic_batch = traitlets.Bool(True, help="torch: make axis 0 of inputs and outputs dynamic.")
    dynamic_axes = traitlets.Unicode("", help="torch: more dynamic axes, e.g. "
                                              "'input_ids:1=sequence, attention_mask:1=sequence'.")
    candidates = traitlets.List(traitlets.Unicode(), help="Convertible objects in the namespace.")

    def __init__(self, namespace: Mapping[str, Any] | None = None, **kwargs: Any):
        super().__init__(**kwargs)
        self._namespace = namespace if namespace is not None else _notebook_namespace()
        self.source_control = widgets.Combobox(description="source", ensure_option=False,
                                               placeholder="variable, script.py:NAME or .keras")
        self.inputs_control = widgets.Text(description="inputs",
                                           placeholder="variable, or shapes 2,3,32,32")
        self.exporter_control = widgets.Dropdown(options=_EXPORTERS, description="exporter")
        self.opset_control = widgets.BoundedIntText(min=0, max=30, description="opset (0: auto)")
        self.batch_control = widgets.Checkbox(description="dynamic batch")
        self.axes_control = widgets.Text(description="dynamic axes",
                                         placeholder="input_ids:1=sequence")
        for name, control, attr in [("source", self.source_control, "value"),
                                    ("candidates", self.source_control, "options"),
                                    ("inputs", self.inputs_control, "value"),
                                    ("exporter", self.exporter_control, "value"),
                                    ("opset", self.opset_control, "value"),
                                    ("dynamic_batch", self.batch_control, "value"),
                                    ("dynamic_axes", self.axes_control, "value")]:
            traitlets.link((self, name), (control, attr))
        self.convert_button = self._button("Convert", self._convert, icon="exchange",
                                           button_style="primary")
        self.refresh_button = self._button("Refresh", self.refresh, icon="refresh",
                                           tooltip="Look for models in the namespace again")
        self._layout(widgets.HBox([self.source_control, self.inputs_control]),
                     widgets.HBox([self.exporter_control, self.opset_control]),
                     widgets.HBox([self.batch_control, self.axes_control]))
        self.refresh()

    def refresh(self) -> list[str]:
        """Rescan the namespace for torch modules, scikit-learn estimators and Keras models."""
        self.candidates = sorted(k for k, v in self._namespace.items()
                                 if not k.startswith("_") and framework_of(v))
        if not self.source and self.candidates:
            self.source = self.candidates[0]
        return list(self.candidates)

    def _main(self) -> convert.Conversion:
        return self._convert()

    def _convert(self) -> convert.Conversion:
        if not self.source.strip():
            raise ParameterError("ConvertPanel: choose a source (a model variable, "
                                 "script.py:NAME or a .keras file).")
        self._step("loading the source")
        obj, source_code = self._source()
        framework = framework_of(obj)
        if framework is None:
            raise ParameterError(f"ConvertPanel: '{self.source}' is a {type(obj).__name__}, not "
                                 "a torch module, scikit-learn estimator or Keras model.")
        example, inputs_code = self._example(framework)
        options = self._options(framework)
        self._step(f"converting ({framework})")
        fn: Any = {"torch": convert.from_torch, "sklearn": convert.from_sklearn,
              "keras": convert.from_keras}[framework]
        if framework == "keras" and example is None:
            result = fn(obj, **options)
        else:
            result = fn(obj, example, **options)
        args = [source_code] + ([inputs_code] if inputs_code else [])
        self._record(call("conversion", f"onnxkit.convert.{fn.__name__}", *args,
                          **{k: repr(v) for k, v in options.items()}), "", fresh=True)
        self.made = result.model
        return result

    def _source(self) -> tuple[Any, str]:
        name = self.source.strip()
        if name in self._namespace:
            return self._namespace[name], name
        return convert.load_source(name), f"onnxkit.convert.load_source({name!r})"

    def _example(self, framework: str) -> tuple[Any, str | None]:
        text = self.inputs.strip()
        if text in self._namespace:
            return self._namespace[text], text
        if not text:
            if framework == "keras":
                return None, None  # from_keras makes random inputs from the model's signature
            raise ParameterError(f"ConvertPanel: {framework} needs example inputs: a variable "
                                 "name, or shapes such as '2,3,32,32'.")
        value = convert.example_inputs(text, framework=framework)  # type: ignore[arg-type]
        return value, f"onnxkit.convert.example_inputs({text!r}, framework={framework!r})"

    def _options(self, framework: str) -> dict[str, Any]:
        options: dict[str, Any] = {"opset": self.opset} if self.opset else {}
        if framework == "torch":
            if self.exporter != "auto":
                options["exporter"] = self.exporter
            if self.dynamic_batch:
                options["dynamic_batch"] = True
            axes = _parse_axes(self.dynamic_axes)
            if axes:
                options["dynamic_axes"] = axes
        return options

    def _preamble(self) -> list[str]:
        return []  # the source and inputs are the notebook's own variables


def _parse_axes(text: str) -> dict[str, dict[int, str]]:
    """``'ids:1=sequence, mask:1=sequence'`` -> ``{'ids': {1: 'sequence'}, ...}``."""
    axes: dict[str, dict[int, str]] = {}
    for part in filter(None, (p.strip() for p in text.replace(";", ",").split(","))):
        try:
            name, rest = part.split(":")
            axis, dim = rest.split("=")
            axes.setdefault(name.strip(), {})[int(axis)] = dim.strip()
        except ValueError as e:
            raise ParameterError(f"ConvertPanel: dynamic axes are 'input:axis=name' pairs "
                                 f"separated by commas; got {part!r}.") from e
    return axes


def _notebook_namespace() -> Mapping[str, Any]:
    try:
        from IPython import get_ipython
    except ImportError:
        return {}
    shell = get_ipython()
    return shell.user_ns if shell is not None else {}
