"""Real architectures for the benchmarks, built offline from transformers' config classes
(random weights: nothing downloads)."""

from __future__ import annotations

import warnings
from typing import Any

import numpy as np

import onnxkit


def torch_model(module: Any, inputs: dict[str, Any] | tuple[Any, ...]) -> onnxkit.Model:
    """``module`` converted with a dynamic batch and its logits as the output."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return onnxkit.convert.from_torch(module, inputs, outputs=["logits"],
                                          dynamic_batch=True).model


def bert_shaped(rows: int = 1, sequence: int = 128) -> tuple[onnxkit.Model, dict[str, np.ndarray]]:
    """transformers' BertForSequenceClassification, 4 layers, hidden 256, 4 heads (the zoo's
    BERT), and ``rows`` random token sequences for it."""
    import torch
    import transformers as T

    torch.manual_seed(0)
    config = T.BertConfig(vocab_size=1000, hidden_size=256, num_hidden_layers=4,
                          num_attention_heads=4, intermediate_size=1024,
                          attn_implementation="eager")
    ids = torch.randint(1, 1000, (1, sequence))
    model = torch_model(T.BertForSequenceClassification(config).eval(),
                        {"input_ids": ids, "attention_mask": torch.ones_like(ids)})
    rng = np.random.default_rng(0)
    return model, {"input_ids": rng.integers(1, 1000, (rows, sequence)),
                   "attention_mask": np.ones((rows, sequence), np.int64)}
