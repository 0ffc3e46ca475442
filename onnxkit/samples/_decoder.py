"""The course's language model: a small Llama-architecture decoder trained here, offline, on
text that ships with Python (``pydoc_data.topics``, the language reference's topics), with a
byte-level BPE tokenizer trained on the same text. Trained once per machine (a minute or two
on two cores) and cached in the user cache as a Hugging Face folder; the text it writes reads
like Python's documentation, if not always sensibly."""

from __future__ import annotations

import io
import shutil
import tarfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from onnxkit.base import cache_key, cached_bytes, require, user_cache
from onnxkit.models import workspace
from onnxkit.results import Result, html_table

VOCAB, CONTEXT, SEQ = 2048, 256, 64
STEPS, BATCH, LR = 320, 16, 3e-3  # about 100 s on one thread
HELD_OUT = ("assignment", "for", "while")  # topics kept out of training: the perplexity text


@dataclass(frozen=True)
class DecoderSample(Result):
    """A trained decoder as a Hugging Face folder (config, weights, tokenizer), with text it
    never saw (for perplexity) and a prompt to start from."""

    name: str
    folder: Path
    text: str
    prompt: str
    description: str

    def __repr__(self) -> str:
        return f"DecoderSample '{self.name}' ({self.description})\n  {self.folder}"

    def _repr_html_(self) -> str:
        return html_table(("sample", self.name), [("folder", self.folder),
                                                  ("model", self.description),
                                                  ("held-out text", f"{len(self.text)} chars")])


def text_decoder() -> DecoderSample:
    """A 4-layer Llama-architecture decoder (hidden 128, 4 heads / 2 KV heads, vocab 2048,
    context 256) trained on Python's own documentation (``pydoc_data.topics``).

    ``folder`` is a Hugging Face folder for :func:`onnxkit.llm.export`; ``text`` is the
    held-out topics (assignment, for, while) for :func:`onnxkit.llm.perplexity`.
    """
    from pydoc_data.topics import topics

    key = cache_key(sources=[Path(__file__)], libraries=("torch", "transformers", "tokenizers"),
                    extra=f"text_decoder/{STEPS}")
    data = cached_bytes(user_cache("samples") / f"text_decoder-{key}.tar", _trained_folder)
    folder = workspace().root / "samples" / "text_decoder"
    marker = folder / ".onnxkit-sample"  # which build the folder holds
    if not marker.exists() or marker.read_text() != key:
        partial = folder.with_name(folder.name + ".partial")
        shutil.rmtree(partial, ignore_errors=True)
        with tarfile.open(fileobj=io.BytesIO(data)) as tar:
            tar.extractall(partial, filter="data")
        (partial / marker.name).write_text(key)
        shutil.rmtree(folder, ignore_errors=True)  # an older build of this sample
        partial.rename(folder)
    text = " ".join(" ".join(topics[t].split()) for t in HELD_OUT)
    return DecoderSample("text_decoder", folder, text, "The for statement is used to",
                         "4-layer Llama decoder trained on Python's documentation")


def _training_text() -> str:
    from pydoc_data.topics import topics

    return "\n".join(v for k, v in sorted(topics.items()) if k not in HELD_OUT)


def _tokenizer() -> Any:
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
    from transformers import PreTrainedTokenizerFast

    bpe = Tokenizer(models.BPE())
    bpe.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    bpe.decoder = decoders.ByteLevel()
    bpe.train_from_iterator([_training_text()], trainers.BpeTrainer(
        vocab_size=VOCAB, special_tokens=["<|endoftext|>"], show_progress=False,
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet()))
    return PreTrainedTokenizerFast(tokenizer_object=bpe, bos_token="<|endoftext|>",
                                   eos_token="<|endoftext|>", unk_token="<|endoftext|>")


def _trained_folder() -> bytes:
    """Train the decoder (fixed steps, one thread: the same weights on every run) and return
    its Hugging Face folder as a tar."""
    torch = require("torch", purpose="Building the text decoder sample")
    transformers = require("transformers", purpose="Building the text decoder sample")
    tokenizer = _tokenizer()
    ids = torch.tensor(tokenizer(_training_text(), verbose=False)["input_ids"])
    config = transformers.LlamaConfig(
        vocab_size=VOCAB, hidden_size=128, intermediate_size=384, num_hidden_layers=4,
        num_attention_heads=4, num_key_value_heads=2, max_position_embeddings=CONTEXT,
        bos_token_id=0, eos_token_id=0, tie_word_embeddings=True)
    torch.manual_seed(0)
    model = transformers.LlamaForCausalLM(config)
    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # determinism, and small nets gain nothing from more
    try:
        _train(model, ids, torch)
    finally:
        torch.set_num_threads(threads)
    buffer = io.BytesIO()
    transformers.utils.logging.disable_progress_bar()
    with tarfile.open(fileobj=buffer, mode="w") as tar, _scratch() as scratch:
        model.eval().save_pretrained(scratch)
        tokenizer.save_pretrained(scratch)
        for path in sorted(Path(scratch).iterdir()):
            tar.add(path, arcname=path.name)
    transformers.utils.logging.enable_progress_bar()
    return buffer.getvalue()


def _train(model: Any, ids: Any, torch: Any) -> None:
    generator = torch.Generator().manual_seed(0)
    optimizer = torch.optim.AdamW(model.parameters(), lr=LR, weight_decay=0.01)
    schedule = torch.optim.lr_scheduler.OneCycleLR(optimizer, max_lr=LR, total_steps=STEPS)
    model.train()
    for _ in range(STEPS):
        starts = torch.randint(0, len(ids) - SEQ - 1, (BATCH,), generator=generator)
        batch = torch.stack([ids[s:s + SEQ] for s in starts.tolist()])
        loss = model(input_ids=batch, labels=batch).loss
        optimizer.zero_grad()
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        optimizer.step()
        schedule.step()


def _scratch() -> Any:
    import tempfile

    return tempfile.TemporaryDirectory(prefix="onnxkit-decoder-")
