"""Small hand-written torch nets for tests that need a graph of a known shape (the samples
use transformers' own BERT instead)."""

from __future__ import annotations

import math

import torch
from torch import nn


class _EncoderLayer(nn.Module):
    """Post-norm BERT layer, attention written out so it exports as plain MatMul/Softmax."""

    def __init__(self, dim: int, heads: int):
        super().__init__()
        self.heads, self.head_dim = heads, dim // heads
        self.qkv = nn.Linear(dim, 3 * dim)
        self.proj = nn.Linear(dim, dim)
        self.norm1, self.norm2 = nn.LayerNorm(dim), nn.LayerNorm(dim)
        self.ff = nn.Sequential(nn.Linear(dim, 2 * dim), nn.GELU(), nn.Linear(2 * dim, dim))

    def forward(self, x: torch.Tensor, bias: torch.Tensor) -> torch.Tensor:
        b, s, d = x.shape
        qkv = self.qkv(x).reshape(b, s, 3, self.heads, self.head_dim).permute(2, 0, 3, 1, 4)
        q, k, v = qkv.unbind(0)
        scores = q @ k.transpose(-1, -2) / math.sqrt(self.head_dim) + bias
        attended = (scores.softmax(-1) @ v).transpose(1, 2).reshape(b, s, d)
        x = self.norm1(x + self.proj(attended))
        return self.norm2(x + self.ff(x))


class TextClassifier(nn.Module):
    """Token + position embeddings, encoder layers, masked mean pooling, linear head."""

    def __init__(self, *, vocab: int, max_len: int, dim: int, heads: int, layers: int,
                 classes: int):
        super().__init__()
        self.tokens = nn.Embedding(vocab, dim)
        self.positions = nn.Embedding(max_len, dim)
        self.norm = nn.LayerNorm(dim)
        self.layers = nn.ModuleList(_EncoderLayer(dim, heads) for _ in range(layers))
        self.head = nn.Linear(dim, classes)

    def forward(self, input_ids: torch.Tensor, attention_mask: torch.Tensor) -> torch.Tensor:
        positions = torch.arange(input_ids.shape[1], device=input_ids.device)
        x = self.norm(self.tokens(input_ids) + self.positions(positions))
        keep = attention_mask.to(x.dtype)
        bias = (1.0 - keep)[:, None, None, :] * -10000.0  # masked keys get ~zero attention
        for layer in self.layers:
            x = layer(x, bias)
        pooled = (x * keep[..., None]).sum(1) / keep.sum(1, keepdim=True).clamp(min=1.0)
        return self.head(pooled)
