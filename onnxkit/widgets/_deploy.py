"""``DeployPanel``: a self-contained bundle folder, its verification, and the ORT format."""

from __future__ import annotations

import math
from typing import Any

import ipywidgets as widgets
import traitlets

from onnxkit import Model, ModelLike, deploy, load, workspace
from onnxkit.errors import ParameterError
from onnxkit.widgets._base import Panel, call, path_code

_OPTIMIZATIONS = ("fixed", "runtime")


class DeployPanel(Panel):
    """Package ``model`` for deployment: a bundle folder, its check, or an ``.ort`` file.

    Args:
        model: the model to deploy.
        folder: the bundle folder (default: ``<workspace>/bundles/<model name>``).

    Buttons: *Bundle* (the main action, :meth:`run`: :func:`onnxkit.deploy.bundle` writes the
    model, ``manifest.json``, ``predict.py``, pinned requirements and a README into
    ``folder``; an existing non-empty folder is refused unless ``overwrite`` and it holds a
    previous bundle; the printed code passes ``overwrite=True``, so it runs again into the
    folder it made), *Verify* (:func:`onnxkit.deploy.verify` re-checks the folder's hashes
    and runs it once) and *ORT format* (:func:`onnxkit.deploy.to_ort_format`, for
    ONNX Runtime Mobile).

    Examples:
        >>> import onnxkit
        >>> from onnxkit.widgets import DeployPanel
        >>> panel = DeployPanel(onnxkit.samples.tiny_model())
        >>> panel.labels, panel.overwrite = "cat, dog, bird", True
        >>> sorted(f for f in panel.run().files if "/" not in f)  # and the serving/ package
        ['Dockerfile', 'README.md', 'predict.py', 'requirements.txt', 'serve.py', 'tiny.onnx']
        >>> "labels=['cat', 'dog', 'bird']" in panel.to_code()
        True
    """

    model = traitlets.Instance(Model, read_only=True, help="The model to deploy.")
    folder = traitlets.Unicode(help="Bundle: the folder to write (it must not exist or be empty, "
                                    "unless overwrite).")
    labels = traitlets.Unicode("", help="Bundle: class names, comma-separated, one per class "
                                        "of the output ('': none).")
    threshold = traitlets.Float(None, allow_none=True, help="Bundle: a binary score cut-off "
                                "(None: none).")
    overwrite = traitlets.Bool(False, help="Bundle: replace a previous bundle in the folder.")
    optimization = traitlets.Enum(_OPTIMIZATIONS, "fixed", help="ORT format: optimizations "
                                  "baked in (fixed) or replayed at load time (runtime).")
    bundled = traitlets.Instance(deploy.Bundle, allow_none=True,
                                 help="The last bundle written (None before Bundle).")

    def __init__(self, model: ModelLike, *, folder: str | None = None, **kwargs: Any):
        super().__init__(**kwargs)
        self.set_trait("model", load(model))
        self.folder = folder if folder is not None else \
            str(workspace().root / "bundles" / self.model.name)
        self.folder_control = widgets.Text(description="folder",
                                           layout=widgets.Layout(width="520px"))
        self.labels_control = widgets.Text(description="labels", placeholder="cat, dog, bird")
        self.threshold_control = widgets.Text(description="threshold", placeholder="(none)",
                                              continuous_update=False)
        self.overwrite_control = widgets.Checkbox(description="overwrite a previous bundle")
        self.optimization_control = widgets.Dropdown(options=_OPTIMIZATIONS,
                                                     description="ORT opt.")
        for name, control in [("folder", self.folder_control),
                              ("labels", self.labels_control),
                              ("overwrite", self.overwrite_control),
                              ("optimization", self.optimization_control)]:
            traitlets.link((self, name), (control, "value"))
        self.threshold_control.observe(self._parse_threshold, "value")
        self.observe(self._show_threshold, "threshold")
        self.bundle_button = self._button("Bundle", self._bundle, icon="archive",
                                          button_style="primary")
        self.verify_button = self._button("Verify", self._verify, icon="check",
                                          tooltip="Check the folder's hashes and run it once")
        self.ort_button = self._button("ORT format", self._ort, icon="mobile",
                                       tooltip="Convert to .ort for ONNX Runtime Mobile")
        self.observe(lambda _: self._sync_buttons(), "folder")
        self._layout(self.folder_control,
                     widgets.HBox([self.labels_control, self.threshold_control]),
                     self.overwrite_control, self.optimization_control)

    def _parse_threshold(self, change: dict[str, Any]) -> None:
        text = change["new"].strip()
        try:
            value = float(text) if text else None
            if value is not None and not math.isfinite(value):
                raise ValueError
        except ValueError:
            self.status.value = (f"threshold: {text!r} is not a number; kept "
                                 f"{self.threshold!r}")
            self._show_threshold()  # not a number: show the value in force again
            return
        self.threshold = value

    def _show_threshold(self, _: Any = None) -> None:
        self.threshold_control.value = "" if self.threshold is None else repr(self.threshold)

    def _enabled(self, button: widgets.Button) -> bool:
        return button is self.ort_button or bool(self.folder.strip())

    # --- actions ------------------------------------------------------------------------------

    def _main(self) -> deploy.Bundle:
        return self._bundle()

    def _bundle(self) -> deploy.Bundle:
        folder = self._folder()
        options: dict[str, Any] = {}
        labels = [part.strip() for part in self.labels.split(",") if part.strip()]
        if labels:
            options["labels"] = labels
        if self.threshold is not None:
            options["threshold"] = self.threshold
        if self.overwrite:
            options["overwrite"] = True
        self._step("bundling and smoke-testing")
        result = deploy.bundle(self.model, folder, **options)
        # The folder now holds this bundle: the code replaces it, so it runs again as pasted.
        code = {**options, "overwrite": True}
        self._record(call("bundle", "onnxkit.deploy.bundle", "model", path_code(result.path),
                          **{k: self._expr(v) for k, v in code.items()}), "")
        self.bundled = result
        return result

    def _verify(self) -> deploy.BundleCheck:
        folder = self._folder()
        self._step("verifying")
        check = deploy.verify(folder)
        self._record(call("check", "onnxkit.deploy.verify", path_code(check.path)), "")
        return check

    def _ort(self) -> deploy.OrtConversion:
        options: dict[str, Any] = ({"optimization": self.optimization}
                                   if self.optimization != "fixed" else {})
        self._step("converting to the ORT format")
        result = deploy.to_ort_format(self.model, **options)
        self._record(call("ort_model", "onnxkit.deploy.to_ort_format", "model",
                          **{k: repr(v) for k, v in options.items()}), "")
        return result

    def _folder(self) -> str:
        if not self.folder.strip():
            raise ParameterError("DeployPanel: give the bundle folder.")
        return self.folder.strip()

    def _preamble(self) -> list[str]:
        return [f"model = {self._expr(self.model)}"]
