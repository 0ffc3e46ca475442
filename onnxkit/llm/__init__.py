"""Decoder language models: export with a KV cache (onnxruntime-genai's model builder for the
architectures it knows, onnxkit's own export for the rest), verified against ``transformers``;
int4/int8 weights; generation (greedy or sampled, streamed, batched); tokens/s and perplexity.

May import: :mod:`onnxkit.convert`, :mod:`onnxkit.quantize` and the stages before them.

Examples:
    >>> from onnxkit import llm
    >>> lm = llm.export("./tiny-llama", precision="int4")  # doctest: +SKIP
    >>> for piece in lm.generate("The for statement", stream=True):  # doctest: +SKIP
    ...     print(piece, end="")
"""

from onnxkit.base import publish as _publish
from onnxkit.llm._bench import (
    Interval,
    LLMBenchmark,
    LLMSetting,
    benchmark,
    perplexity,
    timed_generation,
)
from onnxkit.llm._export import export
from onnxkit.llm._generate import Generation
from onnxkit.llm._model import PRECISIONS, LanguageModel, is_export, load
from onnxkit.llm._perplexity import check_text
from onnxkit.llm._precision import ALGORITHMS, BLOCK_SIZES
from onnxkit.llm._sampling import Sampling, next_tokens
from onnxkit.llm._source import BUILDER_ARCHITECTURES, ROUTES
from onnxkit.llm._verify import Verification

__all__ = ["export", "load", "is_export", "LanguageModel", "Generation", "Verification",
           "benchmark", "LLMBenchmark", "LLMSetting", "Interval", "perplexity", "timed_generation",
           "Sampling", "next_tokens", "check_text", "PRECISIONS", "BLOCK_SIZES", "ALGORITHMS",
           "ROUTES", "BUILDER_ARCHITECTURES"]

_publish(globals(), __name__, __all__)
