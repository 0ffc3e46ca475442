"""The decode engine: one ONNX Runtime session stepped token by token, the KV cache kept in
ORT's own buffers between steps (IOBinding: each step's ``present.*`` outputs are bound as the
next step's ``past_key_values.*`` inputs, never copied through numpy).

Both routes' graphs take ``input_ids``, ``attention_mask``, the cache, and ``position_ids``
where the graph asks for it. They differ in how a batch of prompts of different lengths is
laid out: a graph with GroupQueryAttention (the model builder's) reads only each row's count
of ones in the mask, so its rows are padded on the right and the mask stays "the first n
positions"; every other graph reads the mask itself, so its rows are padded on the left (as
``transformers`` does) and each step appends a one.

A GroupQueryAttention graph can also share its cache buffers (as onnxruntime-genai does): given
the ``capacity`` a generation needs, each past tensor is allocated once at that length and
bound as its present too, so GQA writes each new token in place and a step binds only the new
token and the mask (no cache allocated, copied or rebound per step).
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from typing import Any, Literal

import numpy as np

from onnxkit.errors import InputError, UnsupportedModelError
from onnxkit.models import load
from onnxkit.runtime import Providers, create_session, resolve

Padding = Literal["left", "right"]
PAST, PRESENT = "past_key_values.", "present."
_DTYPES = {"tensor(float)": np.float32, "tensor(float16)": np.float16,
           "tensor(int64)": np.int64, "tensor(int32)": np.int32}


@dataclass
class Batch:
    """The state of one batch being decoded: its mask, positions and cache."""

    mask: np.ndarray  # int64 [batch, total]: which cache positions are real tokens
    lengths: np.ndarray  # real tokens per row so far
    cache: list[Any] = field(default_factory=list)  # OrtValues, in the session's past order
    binding: Any = None  # shared buffers: the IOBinding kept from step to step

    @property
    def size(self) -> int:
        return int(self.mask.shape[0])


class Decoder:
    """Prefill and decode steps of a decoder graph with explicit cache tensors.

    Args:
        path: the decoder's ``.onnx`` file (external weights beside it).
        kv_heads, head_size: the cache geometry (a past tensor is ``[batch, kv_heads, past,
            head_size]``).
        threads: ORT's intra-op threads (default: ORT's choice).
        spinning: let ORT's idle pool threads spin between runs. Off by default: a decode
            loop runs the graph hundreds of times a second with Python work in between, and
            spinning threads then take the CPU from it and from everything else on the machine
            (measured on two shared cores: two threads with spinning decoded 2-3x slower than
            without, int4 and fp32 alike).
    """

    def __init__(self, path: str | os.PathLike[str], *, kv_heads: int, head_size: int,
                 providers: Providers = None, threads: int | None = None,
                 spinning: bool = False) -> None:
        resolved, _ = resolve(providers)
        handle = load(path)
        self.session = create_session(
            handle, resolved, threads=threads, where="llm",
            options={"session.intra_op.allow_spinning": "1" if spinning else "0"})
        inputs = {i.name: i for i in self.session.get_inputs()}
        self.past_names = [n for n in inputs if n.startswith(PAST)]
        self.output_names = [o.name for o in self.session.get_outputs()]
        missing = {"input_ids", "attention_mask"} - set(inputs)
        if missing or not self.past_names or "logits" not in self.output_names:
            raise UnsupportedModelError(
                f"'{path}' is not a decoder with a KV cache: it needs inputs input_ids, "
                f"attention_mask and past_key_values.*, and a logits output; it has inputs "
                f"{sorted(inputs)} and outputs {self.output_names}. Export it with "
                "onnxkit.llm.export.")
        self.present_of = {PRESENT + n[len(PAST):]: n for n in self.past_names}
        self.ids_dtype = _DTYPES[inputs["input_ids"].type]
        self.cache_dtype = _DTYPES[inputs[self.past_names[0]].type]
        self.uses_positions = "position_ids" in inputs
        ops = {n.op_type for n in handle.proto.graph.node}
        self.padding: Padding = "right" if "GroupQueryAttention" in ops else "left"
        self.kv_heads, self.head_size = kv_heads, head_size

    @property
    def layers(self) -> int:
        return len(self.past_names) // 2

    def cache_bytes(self, batch: int, tokens: int) -> int:
        """Bytes the cache holds for ``batch`` rows of ``tokens`` positions."""
        return (len(self.past_names) * batch * self.kv_heads * tokens * self.head_size
                * np.dtype(self.cache_dtype).itemsize)

    def prefill(self, prompts: list[list[int]], pad_id: int, *, capacity: int | None = None
                ) -> tuple[Batch, np.ndarray]:
        """Run the prompts (token ids, one list a row) through the graph: the batch state and
        the logits of each row's last real token, ``float32 [batch, vocab]``. ``capacity``:
        the most tokens a row will hold (prompt and new tokens); with it a GroupQueryAttention
        graph decodes in shared buffers of that length."""
        if not prompts or any(len(p) == 0 for p in prompts):
            raise InputError("llm: every prompt needs at least one token; got an empty one.")
        rows, width = len(prompts), max(len(p) for p in prompts)
        ids = np.full((rows, width), pad_id, dtype=self.ids_dtype)
        mask = np.zeros((rows, width), dtype=np.int64)
        for r, prompt in enumerate(prompts):
            span = slice(width - len(prompt), width) if self.padding == "left" else \
                slice(0, len(prompt))
            ids[r, span], mask[r, span] = prompt, 1
        batch = Batch(mask, np.array([len(p) for p in prompts]))
        if capacity is not None and self.padding == "right" and capacity >= width:
            logits = self._shared_prefill(batch, ids, capacity)
        else:
            empty = np.zeros((rows, self.kv_heads, 0, self.head_size), self.cache_dtype)
            logits = self._run(batch, ids, {n: empty for n in self.past_names})
        last = (np.full(rows, width - 1) if self.padding == "left" else batch.lengths - 1)
        return batch, logits[np.arange(rows), last]

    def step(self, batch: Batch, tokens: np.ndarray) -> np.ndarray:
        """Feed one token a row; the logits that follow, ``float32 [batch, vocab]``."""
        rows, total = batch.mask.shape
        if self.padding == "left":
            batch.mask = np.concatenate([batch.mask, np.ones((rows, 1), np.int64)], axis=1)
        else:  # GroupQueryAttention counts the ones: keep them first
            batch.mask = (np.arange(total + 1)[None, :] <= batch.lengths[:, None]).astype(
                np.int64)
        batch.lengths = batch.lengths + 1
        ids = np.asarray(tokens, dtype=self.ids_dtype).reshape(rows, 1)
        if batch.binding is not None:
            return self._shared_step(batch, ids)
        return self._run(batch, ids, None)[:, -1]

    def sequence_logits(self, ids: list[int]) -> np.ndarray:
        """The logits after every position of one sequence, ``float32 [len, vocab]``."""
        empty = np.zeros((1, self.kv_heads, 0, self.head_size), self.cache_dtype)
        batch = Batch(np.ones((1, len(ids)), np.int64), np.array([len(ids)]))
        arr = np.asarray([ids], dtype=self.ids_dtype)
        return self._run(batch, arr, {n: empty for n in self.past_names})[0]

    def _run(self, batch: Batch, ids: np.ndarray, fresh: dict[str, np.ndarray] | None
             ) -> np.ndarray:
        binding = self.session.io_binding()
        binding.bind_cpu_input("input_ids", ids)
        binding.bind_cpu_input("attention_mask", batch.mask)
        if self.uses_positions:
            binding.bind_cpu_input("position_ids", self._positions(batch, ids.shape[1]))
        if fresh is not None:
            for name, value in fresh.items():
                binding.bind_cpu_input(name, value)
        else:
            for name, value in zip(self.past_names, batch.cache):
                binding.bind_ortvalue_input(name, value)
        for name in self.output_names:
            binding.bind_output(name, "cpu")
        self.session.run_with_iobinding(binding)
        outputs = dict(zip(self.output_names, binding.get_outputs()))
        batch.cache = [outputs[p] for p in self._presents()]
        logits = outputs["logits"].numpy()
        return logits.astype(np.float32, copy=False)

    def _shared_prefill(self, batch: Batch, ids: np.ndarray, capacity: int) -> np.ndarray:
        import onnxruntime as ort

        shape = (batch.size, self.kv_heads, capacity, self.head_size)
        buffers = [ort.OrtValue.ortvalue_from_numpy(np.zeros(shape, self.cache_dtype))
                   for _ in self.past_names]
        binding = self.session.io_binding()
        binding.bind_output("logits", "cpu")  # first: get_outputs()[0] (rebinding keeps it)
        by_past = {past: present for present, past in self.present_of.items()}
        for name, buffer in zip(self.past_names, buffers):
            binding.bind_ortvalue_input(name, buffer)
            binding.bind_ortvalue_output(by_past[name], buffer)
        batch.cache, batch.binding = buffers, binding
        return self._shared_run(batch, ids)

    def _shared_step(self, batch: Batch, ids: np.ndarray) -> np.ndarray:
        if batch.mask.shape[1] > batch.cache[0].shape()[2]:
            raise InputError(f"llm: the batch was prefilled for {batch.cache[0].shape()[2]} "
                             "tokens a row and has no room for another; pass a larger "
                             "capacity to prefill.")
        return self._shared_run(batch, ids)[:, -1]

    def _shared_run(self, batch: Batch, ids: np.ndarray) -> np.ndarray:
        binding = batch.binding
        binding.bind_cpu_input("input_ids", ids)
        binding.bind_cpu_input("attention_mask", batch.mask)
        if self.uses_positions:  # the own route's fused graphs (GPT-2) take positions
            binding.bind_cpu_input("position_ids", self._positions(batch, ids.shape[1]))
        binding.bind_output("logits", "cpu")  # again: a bound output keeps its last shape
        self.session.run_with_iobinding(binding)
        return binding.get_outputs()[0].numpy().astype(np.float32, copy=False)

    def _presents(self) -> list[str]:
        by_past = {past: present for present, past in self.present_of.items()}
        return [by_past[n] for n in self.past_names]

    def _positions(self, batch: Batch, width: int) -> np.ndarray:
        """Each new token's position: its count of real tokens before it (pads excluded)."""
        positions = np.maximum(np.cumsum(batch.mask, axis=1) - 1, 0)
        return positions[:, -width:].astype(np.int64)
