"""``ImagePrep``: raw uint8 images to a vision model's input tensor, as an ONNX graph (resize
with antialiasing, letterbox, centre crop, mean/std, layout, dtype), and the same steps in
numpy and PIL as its reference."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal

import numpy as np
import onnx
from onnx import TensorProto, helper

from onnxkit.base import TensorInfo, require
from onnxkit.compose._graph import Builder, processing_model
from onnxkit.errors import InputError, ParameterError

Layout = Literal["hwc", "nhwc", "nchw"]
LAYOUTS: tuple[Layout, ...] = ("hwc", "nhwc", "nchw")
# The graph resizes in float32 and PIL's float mode ("F") does the same: they agree to float
# rounding. Measured max 3e-5 on 0..255 pixels; this margin is in 0..255 units.
PIXEL_ATOL = 1e-3
Size = tuple[int, int]
PIXELS = "pixels"  # the graph's output: the model's input tensor


def _size(value: int | tuple[int, int] | None, name: str) -> Size | None:
    if value is None:
        return None
    pair = (value, value) if isinstance(value, int) else tuple(value)
    if len(pair) != 2 or not all(isinstance(v, int) and not isinstance(v, bool) and v > 0
                                 for v in pair):
        raise ParameterError(f"ImagePrep({name}=...) must be a positive int or a (height, width) "
                             f"pair of them; got {value!r}.")
    return (int(pair[0]), int(pair[1]))


@dataclass(frozen=True)
class ImagePrep:
    """How a raw image becomes the model's input, every step inside the graph.

    Steps, in order: the image arrives as ``uint8`` in ``layout`` (``"hwc"``: one image
    ``[height, width, channels]`` of any size; ``"nhwc"``/``"nchw"``: a batch of one size);
    it is resized (bilinear, antialiased when shrinking, as PIL does) — ``resize=int``: the
    shorter side to that length, the longer one ``floor(length * long / short)``;
    ``resize=(h, w)``: exactly; ``letterbox=(h, w)``: to fit inside, the aspect kept
    (``round``), then padded centred with ``pad_value`` — then centre-cropped to ``crop``
    (offsets ``(size - crop) // 2``), scaled by ``scale`` (default 1/255), normalized with
    per-channel ``mean`` and ``std``, laid out and cast as the model's input wants.

    A letterboxed model also outputs ``letterbox: float32[6]`` — ``[scale_y, scale_x,
    pad_top, pad_left, height, width]`` — from which ``with_postprocessing(nms=...)`` maps
    boxes back onto the original image.

    Examples:
        >>> ImagePrep(resize=256, crop=224, mean=(0.485, 0.456, 0.406),
        ...           std=(0.229, 0.224, 0.225)).steps()
        ['uint8 hwc', 'resize shorter side to 256', 'crop 224x224', 'scale 0.00392157', 'mean/std']
    """

    resize: int | tuple[int, int] | None = None
    crop: int | tuple[int, int] | None = None
    letterbox: int | tuple[int, int] | None = None
    mean: tuple[float, ...] | None = None
    std: tuple[float, ...] | None = None
    layout: Layout = "hwc"
    antialias: bool = True
    scale: float = 1 / 255
    pad_value: float = 114.0

    def __post_init__(self) -> None:
        if self.layout not in LAYOUTS:
            raise ParameterError(f"ImagePrep(layout=...) must be one of {LAYOUTS}; got "
                                 f"{self.layout!r}.")
        if self.letterbox is not None and (self.resize is not None or self.crop is not None):
            raise ParameterError("ImagePrep: letterbox=... fits the whole image into its size; "
                                 "it does not combine with resize= or crop=. Use one or the "
                                 "other.")
        _size(self.letterbox, "letterbox")
        _size(self.crop, "crop")
        if self.resize is not None and not isinstance(self.resize, int):
            _size(self.resize, "resize")
        elif self.resize is not None:
            _size(self.resize, "resize")

    def steps(self) -> list[str]:
        """The steps in words, in order."""
        out = [f"uint8 {self.layout}"]
        if isinstance(self.resize, int):
            out.append(f"resize shorter side to {self.resize}")
        elif self.resize is not None:
            out.append("resize to {}x{}".format(*self.resize))
        if self.letterbox is not None:
            out.append("letterbox {}x{}".format(*_size(self.letterbox, "letterbox")))
        if self.crop is not None:
            out.append("crop {}x{}".format(*_size(self.crop, "crop")))
        out.append(f"scale {self.scale:g}")
        if self.mean is not None or self.std is not None:
            out.append("mean/std")
        return out

    def out_size(self) -> Size | None:
        """The (height, width) every image comes out at, or None (resize of the shorter side)."""
        fixed = self.crop if self.crop is not None else self.letterbox
        if fixed is None and self.resize is not None and not isinstance(self.resize, int):
            fixed = self.resize
        return _size(fixed, "size")

    # --- the reference: the same steps in numpy and PIL -------------------------------------

    def reference(self, image: np.ndarray, *, channels_last: bool = False,
                  dtype: Any = np.float32) -> tuple[np.ndarray, np.ndarray | None]:
        """The model input (NCHW, or NHWC with ``channels_last``) and the letterbox row that
        numpy and PIL compute for ``image``: what the graph is checked against."""
        batch = _as_nchw(np.asarray(image), self.layout).astype(np.float32)
        rows = [self._one(picture) for picture in batch]
        out = np.stack([r[0] for r in rows])
        if channels_last:
            out = out.transpose(0, 2, 3, 1)
        return out.astype(dtype), rows[0][1]

    def _one(self, chw: np.ndarray) -> tuple[np.ndarray, np.ndarray | None]:
        height, width = chw.shape[1:]
        box = None
        if isinstance(self.resize, int):
            short = min(height, width)
            chw = _resized(chw, (self.resize * height // short, self.resize * width // short),
                           self.antialias)
        elif self.resize is not None:
            chw = _resized(chw, _size(self.resize, "resize"), self.antialias)  # type: ignore
        if self.letterbox is not None:
            chw, box = self._letterboxed(chw)
        if self.crop is not None:
            ch, cw = _size(self.crop, "crop")  # type: ignore[misc]
            top, left = (chw.shape[1] - ch) // 2, (chw.shape[2] - cw) // 2
            chw = chw[:, top:top + ch, left:left + cw]
        chw = chw * np.float32(self.scale)
        if self.mean is not None:
            chw = chw - np.asarray(self.mean, np.float32)[:, None, None]
        if self.std is not None:
            chw = chw / np.asarray(self.std, np.float32)[:, None, None]
        return chw, box

    def _letterboxed(self, chw: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        th, tw = _size(self.letterbox, "letterbox")  # type: ignore[misc]
        height, width = chw.shape[1:]
        if th * width <= tw * height:  # the height limits
            new = (th, (2 * width * th + height) // (2 * height))
        else:
            new = ((2 * height * tw + width) // (2 * width), tw)
        chw = _resized(chw, new, self.antialias)
        top, left = (th - new[0]) // 2, (tw - new[1]) // 2
        out = np.full((chw.shape[0], th, tw), self.pad_value, np.float32)
        out[:, top:top + new[0], left:left + new[1]] = chw
        row = np.array([new[0] / height, new[1] / width, top, left, height, width], np.float32)
        return out, row


def _as_nchw(image: np.ndarray, layout: Layout) -> np.ndarray:
    if image.dtype != np.uint8:
        raise InputError(f"ImagePrep.reference: the image must be uint8; got {image.dtype}.")
    rank = 3 if layout == "hwc" else 4
    if image.ndim != rank:
        raise InputError(f"ImagePrep.reference: a '{layout}' image has rank {rank}; got shape "
                         f"{list(image.shape)}.")
    if layout == "hwc":
        image = image[None]
    return image if layout == "nchw" else image.transpose(0, 3, 1, 2)


def _resized(chw: np.ndarray, size: Size, antialias: bool) -> np.ndarray:
    if antialias:  # PIL's bilinear filter widens with the shrink factor: antialiasing
        image = require("PIL.Image", purpose="The image preprocessing reference")
        return np.stack([np.asarray(image.fromarray(c, mode="F").resize(
            (size[1], size[0]), image.Resampling.BILINEAR)) for c in chw])
    return _bilinear(_bilinear(chw, size[0], axis=1), size[1], axis=2)


def _bilinear(a: np.ndarray, n: int, axis: int) -> np.ndarray:
    """Plain bilinear along ``axis`` (half-pixel centres, edges clamped: ONNX Resize's)."""
    m = a.shape[axis]
    x = np.clip((np.arange(n) + 0.5) * m / n - 0.5, 0, m - 1)
    lo = np.floor(x).astype(int)
    hi = np.minimum(lo + 1, m - 1)
    w = (x - lo).astype(np.float32)
    shape = [1] * a.ndim
    shape[axis] = n
    w = w.reshape(shape)
    return np.take(a, lo, axis=axis) * (1 - w) + np.take(a, hi, axis=axis) * w


# --- the graph ------------------------------------------------------------------------------

def image_graph(prep: ImagePrep, target: TensorInfo, *, name: str, channels_last: bool,
                channels: int) -> onnx.ModelProto:
    """The preprocessing graph: ``name`` (uint8 raw images) -> ``pixels`` (``target``'s type;
    and the ``letterbox`` row when letterboxing)."""
    b = Builder()
    x = b.node("Cast", [name], to=TensorProto.FLOAT)
    if prep.layout == "hwc":
        x = b.node("Unsqueeze", [x, b.const([0])])
    if prep.layout != "nchw":
        x = b.node("Transpose", [x], perm=[0, 3, 1, 2])
    hw = b.node("Slice", [b.node("Shape", [x]), b.const([2]), b.const([4])])
    if isinstance(prep.resize, int):
        short = b.node("ReduceMin", [hw], keepdims=1)
        x = b.resize(x, b.node("Div", [b.node("Mul", [hw, b.const([prep.resize])]), short]),
                     prep.antialias)
    elif prep.resize is not None:
        x = b.resize(x, b.const(list(_size(prep.resize, "resize"))), prep.antialias)  # type: ignore
    outputs = [helper.make_tensor_value_info(PIXELS, _elem(target.dtype), None)]
    if prep.letterbox is not None:
        x, row = _letterbox(b, x, hw, prep)
        outputs.append(helper.make_tensor_value_info("letterbox", TensorProto.FLOAT, [6]))
        b.node("Identity", [row], out="letterbox")
    if prep.crop is not None:
        size = b.const(list(_size(prep.crop, "crop")))  # type: ignore[arg-type]
        now = b.node("Slice", [b.node("Shape", [x]), b.const([2]), b.const([4])])
        start = b.node("Div", [b.node("Sub", [now, size]), b.const([2])])
        x = b.node("Slice", [x, start, b.node("Add", [start, size]), b.const([2, 3])])
    x = b.node("Mul", [x, b.const(np.float32(prep.scale))])
    if prep.mean is not None:
        x = b.node("Sub", [x, b.const(_per_channel(prep.mean, channels, "mean"))])
    if prep.std is not None:
        x = b.node("Div", [x, b.const(_per_channel(prep.std, channels, "std"))])
    if channels_last:
        x = b.node("Transpose", [x], perm=[0, 2, 3, 1])
    b.node("Cast", [x], out=PIXELS, to=_elem(target.dtype))
    raw = {"hwc": ["height", "width", channels], "nhwc": ["batch", "height", "width", channels],
           "nchw": ["batch", channels, "height", "width"]}[prep.layout]
    inputs = [helper.make_tensor_value_info(name, TensorProto.UINT8, raw)]
    return processing_model(b.nodes, "image_prep", inputs, outputs, b.inits)


def _letterbox(b: Builder, x: str, hw: str, prep: ImagePrep) -> tuple[str, str]:
    """Resize to fit inside the letterbox (integer rounding, as the reference) and pad."""
    th, tw = _size(prep.letterbox, "letterbox")  # type: ignore[misc]
    h = b.node("Slice", [hw, b.const([0]), b.const([1])])
    w = b.node("Slice", [hw, b.const([1]), b.const([2])])
    by_height = b.node("LessOrEqual", [b.node("Mul", [b.const([th]), w]),
                                       b.node("Mul", [b.const([tw]), h])])

    def fitted(limit: int, side: str) -> str:  # round(hw * limit / side), in integers
        twice = b.node("Mul", [b.const([2]), side])
        return b.node("Div", [b.node("Add", [b.node("Mul", [hw, b.const([2 * limit])]), side]),
                              twice])

    new = b.node("Where", [by_height, fitted(th, h), fitted(tw, w)])
    x = b.resize(x, new, prep.antialias)
    before = b.node("Div", [b.node("Sub", [b.const([th, tw]), new]), b.const([2])])
    after = b.node("Sub", [b.node("Sub", [b.const([th, tw]), new]), before])
    # Pads for all four axes: onnxruntime's layout optimizer misreads Pad's `axes` (as it
    # does Resize's) when it moves Transposes through them for an NHWC (int8) model.
    zeros = b.const([0, 0])
    x = b.node("Pad", [x, b.node("Concat", [zeros, before, zeros, after], axis=0),
                       b.const(np.float32(prep.pad_value))], mode="constant")
    as_float = [b.node("Cast", [t], to=TensorProto.FLOAT) for t in (new, hw, before)]
    scale = b.node("Div", [as_float[0], as_float[1]])
    return x, b.node("Concat", [scale, as_float[2], as_float[1]], axis=0)


def _per_channel(values: tuple[float, ...], channels: int, name: str) -> np.ndarray:
    values = tuple(values)
    if len(values) not in (1, channels):
        raise ParameterError(f"ImagePrep({name}=...) has {len(values)} values but the model "
                             f"takes {channels} channels; give one per channel (or one).")
    return np.asarray(values, np.float32).reshape(1, -1, 1, 1)


def _elem(dtype: str) -> int:
    return helper.np_dtype_to_tensor_dtype(np.dtype(dtype))
