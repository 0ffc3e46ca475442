"""``with_preprocessing``: the model takes raw uint8 images or strings; the steps that made its
input tensors move into the graph, checked against their reference (PIL/numpy, or the
``transformers`` tokenizer)."""

from __future__ import annotations

import warnings
from collections.abc import Sequence
from dataclasses import asdict
from typing import Any

import numpy as np

from onnxkit.base import TensorInfo, graph_inputs, graph_outputs
from onnxkit.bench import compare
from onnxkit.compose._graph import OPSET, check_pairs, join, saved, with_verification
from onnxkit.compose._image import PIXEL_ATOL, PIXELS, ImagePrep, image_graph
from onnxkit.compose._text import from_tokenizer, kind_of, max_length_of
from onnxkit.errors import ParameterError
from onnxkit.models import Model, ModelLike, Step, load, workspace
from onnxkit.runtime import random_inputs, run
from onnxkit.transforms import VerificationWarning, with_weights

# The composed model runs the very tensors the bare model gets: only float rounding differs.
MODEL_RTOL, MODEL_ATOL = 1e-4, 1e-5
# Texts the tokenizer graph is checked on when the caller gives none: unicode, empty, long.
CHECK_TEXTS = ("A short sentence.", "", "Ünïcödé wörds, 日本語 and emoji 😀!",
               "tabs\tand\nnew lines", "word " * 600, "  leading and trailing  ")


def with_preprocessing(model: ModelLike, *, image: ImagePrep | None = None, text: Any = None,
                       input: str | None = None, name: str | None = None,
                       max_length: int | None = None, texts: Sequence[str] | None = None
                       ) -> Model:
    """``model`` preceded by its preprocessing, in one graph.

    Args:
        image: an :class:`ImagePrep`: the model then takes raw ``uint8`` images (``name``,
            default ``"image"``) in place of its image input (``input``, default the only
            rank-4 one).
        text: a ``transformers`` BERT-family (WordPiece) or GPT-2 (BPE) tokenizer: the model
            then takes ``text: string[...]`` in place of ``input_ids``, ``attention_mask``
            (and ``token_type_ids``) — see :func:`from_tokenizer`; ``max_length`` cuts long
            texts (default the tokenizer's ``model_max_length``).
        texts: the texts the tokenizer graph is checked on (default a few hard ones).

    Returns:
        ``<name>.prep.onnx``, verified: the graph's preprocessing against its reference (images:
        PIL and numpy, within ``PIXEL_ATOL`` grey levels; text: token ids equal), then the
        whole model against the bare one fed those tensors; the outcome is in its lineage.

    Examples:
        >>> import onnxkit
        >>> from onnxkit.compose import ImagePrep, with_preprocessing
        >>> cnn = onnxkit.samples.digits_cnn().model
        >>> raw = with_preprocessing(cnn, image=ImagePrep(resize=(8, 8)))
        >>> [str(t) for t in onnxkit.summarize(raw).inputs]
        ['image: uint8[height, width, 1]']
        >>> raw.lineage[-1].details["verification"]["passed"]
        True
    """
    parent = load(model)
    if (image is None) == (text is None):
        raise ParameterError("with_preprocessing: give one of image=ImagePrep(...) or "
                             "text=tokenizer.")
    if image is not None:
        if not isinstance(image, ImagePrep):
            raise ParameterError(f"with_preprocessing(image=...) must be an ImagePrep; got "
                                 f"{type(image).__name__}.")
        return _with_image(parent, image, input, name or "image")
    return _with_text(parent, text, max_length, texts)


# --- images ---------------------------------------------------------------------------------

def _with_image(parent: Model, prep: ImagePrep, input: str | None, name: str) -> Model:
    target, channels_last, channels = _image_input(parent, input)
    _check_size(prep, target, channels_last)
    graph = image_graph(prep, target, name=name, channels_last=channels_last, channels=channels)
    params = {"image": {k: v for k, v in asdict(prep).items() if v is not None}}
    alone = workspace().save(graph, stem=parent.name, tag="image-prep",
                             step=Step("image_prep", params))
    images = _check_images(prep, channels)
    pixels = _check_pixels(alone, prep, name, images, target, channels_last)
    proto = join(graph, with_weights(parent, parent.to_proto(with_weights=False)),
                 [(PIXELS, target.name)], at_least=OPSET, where="with_preprocessing")
    child = saved(parent, proto, op="with_preprocessing", tag="prep", params=params,
                  details={"steps": prep.steps()})
    feeds = [({name: img}, {target.name: run(alone, {name: img})[PIXELS]})
             for img in images]
    return _verified(parent, child, feeds, {"pixels": pixels})


def _image_input(parent: Model, input: str | None) -> tuple[TensorInfo, bool, int]:
    inputs = graph_inputs(parent.proto.graph)
    if input is not None:
        found = [i for i in inputs if i.name == input]
        if not found:
            raise ParameterError(f"with_preprocessing(input=...): '{parent.name}' has no input "
                                 f"'{input}'; its inputs: {[i.name for i in inputs]}.")
    else:
        found = [i for i in inputs if i.shape is not None and len(i.shape) == 4]
        if len(found) != 1:
            raise ParameterError(f"with_preprocessing: '{parent.name}' has {len(found)} rank-4 "
                                 f"inputs ({[str(i) for i in inputs]}); name the image one "
                                 "with input=.")
    target = found[0]
    shape = target.shape or ()
    if len(shape) != 4 or target.dtype not in ("float32", "float16", "float64"):
        raise ParameterError(f"with_preprocessing: the image input must be a float tensor of "
                             f"rank 4 (NCHW or NHWC); '{target}' is not.")
    for channels_last, dim in ((False, shape[1]), (True, shape[3])):
        if isinstance(dim, int) and dim in (1, 3, 4):
            return target, channels_last, dim
    raise ParameterError(f"with_preprocessing: cannot tell the channels of '{target}' (neither "
                         "dim 1 nor dim 3 is 1, 3 or 4). Fix them first with onnxkit.fix_dims.")


def _check_size(prep: ImagePrep, target: TensorInfo, channels_last: bool) -> None:
    shape = target.shape or ()
    spatial = shape[1:3] if channels_last else shape[2:4]
    fixed = [d if isinstance(d, int) else None for d in spatial]
    size = prep.out_size()
    if size is None and any(fixed):
        raise ParameterError(f"with_preprocessing: '{target}' takes a fixed size, but "
                             "ImagePrep(resize=<int>) alone gives a size that follows each "
                             "image; add crop=(h, w) or resize=(h, w).")
    if size is not None and any(f is not None and f != s for f, s in zip(fixed, size)):
        raise ParameterError(f"with_preprocessing: ImagePrep makes {size[0]}x{size[1]} images "
                             f"but '{target}' takes {spatial}; make the sizes agree.")


def _check_images(prep: ImagePrep, channels: int) -> list[np.ndarray]:
    """Two random images, one wide and one tall (odd sizes: rounding shows)."""
    rng = np.random.default_rng(0)
    shapes = {"hwc": [(37, 53, channels), (53, 37, channels)],
              "nhwc": [(2, 37, 53, channels), (1, 53, 37, channels)],
              "nchw": [(2, channels, 37, 53), (1, channels, 53, 37)]}[prep.layout]
    return [rng.integers(0, 256, size=s, dtype=np.uint8) for s in shapes]


def _check_pixels(alone: Model, prep: ImagePrep, name: str, images: list[np.ndarray],
                  target: TensorInfo, channels_last: bool) -> dict[str, Any]:
    """The graph's preprocessing against numpy and PIL, in grey levels of the raw image."""
    unit = prep.scale / min(prep.std or (1.0,))  # one grey level in the model's input
    worst = 0.0
    for img in images:
        got = run(alone, {name: img})
        want, row = prep.reference(img, channels_last=channels_last, dtype=np.float32)
        worst = max(worst, float(np.abs(got[PIXELS].astype(np.float32) - want).max()))
        if row is not None:
            worst = max(worst, float(np.abs(got["letterbox"] - row).max()) / unit)
    levels = worst / unit
    tolerance = PIXEL_ATOL if target.dtype != "float16" else 1.0  # float16: half a level
    return {"passed": levels <= tolerance, "max_grey_levels": levels, "atol": tolerance,
            "images": [list(i.shape) for i in images]}


# --- text -----------------------------------------------------------------------------------

def _with_text(parent: Model, tokenizer: Any, max_length: int | None,
               texts: Sequence[str] | None) -> Model:
    kind_of(tokenizer)
    tok = from_tokenizer(tokenizer, max_length=max_length)
    takes = {i.name for i in graph_inputs(parent.proto.graph)}
    io = [(o.name, o.name) for o in graph_outputs(tok.proto.graph) if o.name in takes]
    if not any(n == "input_ids" for n, _ in io):
        raise ParameterError(f"with_preprocessing(text=...): '{parent.name}' has no input "
                             f"'input_ids' for the token ids; its inputs: {sorted(takes)}.")
    check_pairs(tok, parent, io, "with_preprocessing")
    outputs = [o.name for o in graph_outputs(parent.proto.graph)]
    proto = join(tok.to_proto(), with_weights(parent, parent.to_proto(with_weights=False)), io,
                 at_least=OPSET, where="with_preprocessing", outputs=outputs)
    limit = max_length_of(tokenizer, max_length, "with_preprocessing")
    child = saved(parent, proto, op="with_preprocessing", tag="prep",
                  params={"text": type(tokenizer).__name__, "max_length": limit})
    texts = list(CHECK_TEXTS if texts is None else texts)
    tokens = token_check(tok, tokenizer, texts, max_length=limit)
    feeds = []
    for t in texts:
        ids = run(tok, {"text": np.array([t], dtype=object)})
        if ids["input_ids"].size == 0:
            continue  # no token at all (BPE on ""): the token check covers it; few models run it
        feeds.append(({"text": np.array([t], dtype=object)},
                      {n: ids[n] for n, _ in io}))
    return _verified(parent, child, feeds, {"tokens": tokens})


def token_check(tokenizer_model: ModelLike, tokenizer: Any, texts: Sequence[str], *,
                max_length: int | None = None) -> dict[str, Any]:
    """Do the graph's token ids equal ``tokenizer(text)["input_ids"]`` on every text? One
    text per run (the form a WordPiece graph takes); the first mismatches are listed."""
    model = load(tokenizer_model)
    cut = {"truncation": True, "max_length": max_length} if max_length else {}
    mismatches = []
    for text in texts:
        got = run(model, {"text": np.array([text], dtype=object)})["input_ids"][0].tolist()
        want = tokenizer(text, **cut)["input_ids"]
        if got != want and len(mismatches) < 5:
            mismatches.append({"text": text[:80], "graph": got[:20], "tokenizer": want[:20]})
    return {"passed": not mismatches, "texts": len(texts), "mismatches": mismatches}


# --- the whole model against the bare one ---------------------------------------------------

def _verified(parent: Model, child: Model, feeds: list[tuple[dict, dict]],
              checks: dict[str, Any]) -> Model:
    """Each raw feed through ``child`` against its tensors through ``parent``."""
    others = {k: v for k, v in random_inputs(parent, batch=1).items()}
    worst: dict[str, Any] = {"passed": True, "max_abs": 0.0}
    for raw, tensors in feeds:
        rest = {k: v for k, v in others.items() if k not in tensors and k not in raw}
        expected = run(parent, {**tensors, **_batched(rest, tensors)})
        got = run(child, {**raw, **_batched(rest, tensors)})
        result = compare(expected, {k: got[k] for k in expected}, rtol=MODEL_RTOL,
                         atol=MODEL_ATOL)
        worst["passed"] = worst["passed"] and bool(result)
        worst["max_abs"] = max(worst["max_abs"], max(o.max_abs or 0.0 for o in result.outputs))
    check = {**checks, "model": {**worst, "rtol": MODEL_RTOL, "atol": MODEL_ATOL,
                                 "feeds": len(feeds)}}
    check["passed"] = all(c["passed"] for c in check.values() if isinstance(c, dict))
    if not check["passed"]:
        warnings.warn(f"'{child.name}' did not verify: {check}", VerificationWarning,
                      stacklevel=4)
    return with_verification(child, check)


def _batched(rest: dict[str, np.ndarray], tensors: dict[str, np.ndarray]) -> dict[str, Any]:
    """The model's other inputs, with the batch of the prepared tensors."""
    rows = len(next(iter(tensors.values())))
    return {k: np.repeat(v[:1], rows, axis=0) if v.ndim else v for k, v in rest.items()}
