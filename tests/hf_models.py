"""Real architectures, offline: transformers' own model classes built from small configs with
random weights (never from_pretrained), and their example inputs."""

from __future__ import annotations

from typing import Any

VOCAB = 128


def _seeded() -> Any:
    import torch

    torch.manual_seed(0)
    return torch


def text_inputs(batch: int = 2, length: int = 12, mask: bool = True) -> dict[str, Any]:
    torch = _seeded()
    inputs = {"input_ids": torch.randint(1, VOCAB, (batch, length))}
    if mask:
        inputs["attention_mask"] = torch.ones(batch, length, dtype=torch.int64)
    return inputs


def image_inputs(batch: int = 2, size: int = 64) -> tuple[Any, ...]:
    torch = _seeded()
    return (torch.randn(batch, 3, size, size),)


def bert(layers: int = 1, hidden: int = 32) -> Any:
    import transformers as T

    _seeded()
    config = T.BertConfig(vocab_size=VOCAB, hidden_size=hidden, num_hidden_layers=layers,
                          num_attention_heads=2, intermediate_size=2 * hidden,
                          max_position_embeddings=64)
    return T.BertForSequenceClassification(config).eval()


def distilbert() -> Any:
    import transformers as T

    _seeded()
    config = T.DistilBertConfig(vocab_size=VOCAB, dim=32, n_layers=1, n_heads=2, hidden_dim=64,
                                max_position_embeddings=64)
    return T.DistilBertForSequenceClassification(config).eval()


def gpt2(use_cache: bool = False) -> Any:
    import transformers as T

    _seeded()
    config = T.GPT2Config(vocab_size=VOCAB, n_embd=32, n_layer=1, n_head=2, n_positions=64,
                          use_cache=use_cache)
    return T.GPT2LMHeadModel(config).eval()


def bart(use_cache: bool = True) -> Any:
    import transformers as T

    _seeded()
    config = T.BartConfig(vocab_size=VOCAB, d_model=32, encoder_layers=1, decoder_layers=1,
                          encoder_attention_heads=2, decoder_attention_heads=2,
                          encoder_ffn_dim=64, decoder_ffn_dim=64, max_position_embeddings=64,
                          use_cache=use_cache)
    return T.BartForConditionalGeneration(config).eval()


def t5_encoder() -> Any:
    import transformers as T

    _seeded()
    config = T.T5Config(vocab_size=VOCAB, d_model=32, d_ff=64, d_kv=16, num_layers=1,
                        num_heads=2, use_cache=False)
    return T.T5EncoderModel(config).eval()


def whisper_encoder() -> Any:
    import transformers as T

    _seeded()
    config = T.WhisperConfig(vocab_size=VOCAB, d_model=32, encoder_layers=1,
                             encoder_attention_heads=2, encoder_ffn_dim=64, num_mel_bins=16,
                             max_source_positions=32)
    return T.WhisperForAudioClassification(config).eval()


def vit() -> Any:
    import transformers as T

    _seeded()
    config = T.ViTConfig(image_size=32, patch_size=8, hidden_size=32, num_hidden_layers=1,
                         num_attention_heads=2, intermediate_size=64, num_labels=5)
    return T.ViTForImageClassification(config).eval()


def resnet(labels: int = 10) -> Any:
    import transformers as T

    _seeded()
    config = T.ResNetConfig(embedding_size=16, hidden_sizes=[16, 32], depths=[1, 1],
                            num_labels=labels)
    return T.ResNetForImageClassification(config).eval()


def mobilenet_v2() -> Any:
    import transformers as T

    _seeded()
    config = T.MobileNetV2Config(image_size=64, depth_multiplier=0.35, num_labels=10)
    return T.MobileNetV2ForImageClassification(config).eval()


def convnext() -> Any:
    import transformers as T

    _seeded()
    config = T.ConvNextConfig(num_stages=2, hidden_sizes=[16, 32], depths=[1, 1], num_labels=10)
    return T.ConvNextForImageClassification(config).eval()


def recurrent_tagger(cell: str = "LSTM") -> Any:
    """A token tagger over an LSTM/GRU, batch first: [batch, sequence, 16] -> 5 tags."""
    torch = _seeded()

    class Tagger(torch.nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.rnn = getattr(torch.nn, cell)(16, 32, batch_first=True)
            self.head = torch.nn.Linear(32, 5)

        def forward(self, x: Any) -> Any:
            return self.head(self.rnn(x)[0])

    return Tagger().eval()
