"""Tokenizers in the graph: a ``transformers`` WordPiece (BERT family) or byte-level BPE (GPT-2)
tokenizer as onnxruntime-extensions operators, so the model takes strings."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Sequence
from typing import Any

import onnx
from onnx import TensorProto, helper

from onnxkit.base import require
from onnxkit.compose._graph import OPSET, Builder, join, processing_model
from onnxkit.errors import ParameterError
from onnxkit.models import Model, Step, workspace

_BERT = ("BertTokenizer", "BertTokenizerFast", "DistilBertTokenizer", "DistilBertTokenizerFast")
_GPT2 = ("GPT2Tokenizer", "GPT2TokenizerFast")
KINDS = {**dict.fromkeys(_BERT, "wordpiece"), **dict.fromkeys(_GPT2, "bpe")}
# transformers' "no limit" is a huge number; a real model_max_length is far below this.
_NO_LIMIT = 1 << 20
OUTPUTS = ("input_ids", "attention_mask", "token_type_ids")


def kind_of(tokenizer: Any) -> str:
    name = type(tokenizer).__name__
    if name not in KINDS:
        raise ParameterError(
            f"with_preprocessing(text=...) takes a transformers BERT-family (WordPiece) or "
            f"GPT-2 (byte-level BPE) tokenizer; got {name}. These two are the ones onnxkit "
            "puts in the graph with onnxruntime-extensions.")
    return KINDS[name]


def max_length_of(tokenizer: Any, max_length: int | None, where: str) -> int | None:
    if max_length is not None:
        if not isinstance(max_length, int) or max_length < 2:
            raise ParameterError(f"{where}(max_length=...) must be an int of at least 2; got "
                                 f"{max_length!r}.")
        return max_length
    limit = getattr(tokenizer, "model_max_length", None)
    return int(limit) if isinstance(limit, int) and 2 <= limit < _NO_LIMIT else None


def from_tokenizer(tokenizer: Any, *, max_length: int | None = None) -> Model:
    """The tokenizer as a model: ``text: string[1]`` (WordPiece: one text; its operator reads
    two as a sentence pair) or ``string[batch]`` (BPE, padded) -> ``input_ids``,
    ``attention_mask`` (and ``token_type_ids`` for WordPiece) as ``int64[batch, sequence]``,
    cut to ``max_length`` tokens as ``tokenizer(text, truncation=True)`` cuts them.

    Args:
        max_length: tokens at most; default the tokenizer's ``model_max_length`` when set.

    The ids equal the tokenizer's own (``tokenizer(text)["input_ids"]``) but for one case:
    WordPiece's special tokens typed into a text (``"[CLS]"``) are split as words by the
    graph. Sessions that onnxkit makes load onnxruntime-extensions' operators for it.
    """
    kind = kind_of(tokenizer)
    limit = max_length_of(tokenizer, max_length, "from_tokenizer")
    ops = _wordpiece(tokenizer) if kind == "wordpiece" else _bpe(tokenizer)
    adapter = _adapter(kind, limit)
    proto = join(ops, adapter, [(n, f"{n}_raw") for n in _op_outputs(kind)],
                 where="from_tokenizer")
    proto.graph.name = f"tokenizer_{kind}"
    digest = hashlib.sha1(proto.SerializeToString()).hexdigest()[:8]
    step = Step("from_tokenizer", {"tokenizer": type(tokenizer).__name__, "kind": kind,
                                   "max_length": limit, "vocab": len(tokenizer)})
    return workspace().save(proto, stem=f"tokenizer-{kind}-{digest}", step=step)


def _op_outputs(kind: str) -> tuple[str, ...]:
    return OUTPUTS if kind == "wordpiece" else OUTPUTS[:2]


def _wordpiece(tokenizer: Any) -> onnx.ModelProto:
    ortx = require("onnxruntime_extensions", purpose="A tokenizer in the graph")
    options = tokenizer.init_kwargs
    lower = bool(options.get("do_lower_case", True))
    strip = options.get("strip_accents")  # transformers: None means "as lower-casing does"
    pre, _ = ortx.gen_processing_models(tokenizer, pre_kwargs={
        "do_lower_case": int(lower), "strip_accents": int(lower if strip is None else strip)})
    pre.graph.input[0].type.tensor_type.shape.dim[0].dim_value = 1  # two would be a pair
    return _tidy(pre, drop=("offset_mapping",))


def _bpe(tokenizer: Any) -> onnx.ModelProto:
    """GPT-2's operator from the tokenizer's own vocabulary and merges (onnxruntime-extensions
    reads them from the object only in transformers' older layout: given here by name)."""
    ortx = require("onnxruntime_extensions", purpose="A tokenizer in the graph")
    model = json.loads(tokenizer.backend_tokenizer.to_str())["model"]
    merges = [" ".join(m) if isinstance(m, list) else m for m in model["merges"]]
    attrs = {"vocab": json.dumps(model["vocab"], separators=(",", ":")),
             "merges": "\n".join(merges), "model_name": "GPT2"}
    if tokenizer.added_tokens_encoder:
        attrs["added_token"] = "\n".join(f"{k}={v}" for k, v in
                                         tokenizer.added_tokens_encoder.items())
    pre, _ = ortx.gen_processing_models("GPT2Tokenizer", pre_kwargs=attrs)
    for value in pre.graph.input:
        value.name = "text"
        value.type.tensor_type.shape.dim[0].dim_param = "batch"
    for node in pre.graph.node:
        node.input[:] = ["text" if n == "input_text" else n for n in node.input]
    return _tidy(pre, drop=())


def _tidy(proto: onnx.ModelProto, drop: Sequence[str]) -> onnx.ModelProto:
    """The extensions' graph with onnx's own opset under its usual (empty) domain name and
    the outputs onnxkit does not use dropped."""
    kept = [o for o in proto.graph.output if o.name not in drop]
    del proto.graph.output[:]
    proto.graph.output.extend(kept)
    versions = {o.domain: o.version for o in proto.opset_import if o.domain != "ai.onnx"}
    versions[""] = max(versions.get("", 0), OPSET)
    del proto.opset_import[:]
    proto.opset_import.extend(helper.make_opsetid(d, v) for d, v in versions.items())
    proto.ir_version = 8
    return proto


def _adapter(kind: str, limit: int | None) -> onnx.ModelProto:
    """From the operator's outputs to ``[1, sequence]`` (WordPiece) or ``[batch, sequence]``
    int64 tensors, cut to ``limit`` tokens; WordPiece keeps its closing [SEP], as
    transformers' truncation does."""
    b = Builder()
    names = _op_outputs(kind)
    for name in names:
        x = f"{name}_raw"
        if kind == "wordpiece":
            if limit is not None:  # the first limit - 1 tokens, then the last ([SEP])
                end = b.node("Sub", [b.node("Min", [b.node("Shape", [x]), b.const([limit])]),
                                     b.const([1])])
                head = b.node("Slice", [x, b.const([0]), end])
                tail = b.node("Slice", [x, b.const([-1]), b.const([1 << 62])])
                x = b.node("Concat", [head, tail], axis=0)
            b.node("Unsqueeze", [x, b.const([0])], out=name)
        elif limit is not None:
            b.node("Slice", [x, b.const([0]), b.const([limit]), b.const([1])], out=name)
        else:
            b.node("Identity", [x], out=name)
    rank = 1 if kind == "wordpiece" else 2
    inputs = [helper.make_tensor_value_info(f"{n}_raw", TensorProto.INT64, [None] * rank)
              for n in names]
    batch = 1 if kind == "wordpiece" else "batch"
    outputs = [helper.make_tensor_value_info(n, TensorProto.INT64, [batch, "sequence"])
               for n in names]
    return processing_model(b.nodes, "token_adapter", inputs, outputs, b.inits)
