"""The text sample's network: a small BERT from transformers' own classes (random start,
trained here), with eager attention so the export shows attention as ORT's fusions know it.
Imported only when the sample is built: it needs torch and transformers."""

from __future__ import annotations

from typing import Any

import torch
from torch import nn
from transformers import BertConfig, BertForSequenceClassification


def bert_classifier(*, vocab: int, max_len: int, hidden: int, heads: int, layers: int,
                    classes: int) -> nn.Module:
    """``BertForSequenceClassification`` of this size, returning its logits alone."""
    config = BertConfig(vocab_size=vocab, hidden_size=hidden, num_hidden_layers=layers,
                        num_attention_heads=heads, intermediate_size=2 * hidden,
                        max_position_embeddings=max_len, num_labels=classes,
                        attn_implementation="eager")  # type: ignore[call-arg]  # kwargs
    return _Logits(BertForSequenceClassification(config))


class _Logits(nn.Module):
    """The classifier's logits as the one output (its forward returns a ModelOutput)."""

    def __init__(self, model: Any):
        super().__init__()
        self.model = model

    def forward(self, input_ids: torch.Tensor, attention_mask: torch.Tensor) -> torch.Tensor:
        return self.model(input_ids=input_ids, attention_mask=attention_mask).logits
