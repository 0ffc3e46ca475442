"""``GeneratePanel``: a language model continues a prompt, the text streaming in as it is
made, with its speed live."""

from __future__ import annotations

import html
import time
from typing import Any

import ipywidgets as widgets
import traitlets

from onnxkit import llm
from onnxkit.widgets._base import Panel, call, path_code


class GeneratePanel(Panel):
    """Generate text with ``lm`` (an :class:`onnxkit.llm.LanguageModel`, or the folder
    :func:`onnxkit.llm.export` wrote) and watch it arrive.

    *Generate* (the main action, :meth:`run`) calls ``lm.generate(prompt, stream=True, ...)``
    with the settings shown (greedy, or sampled with ``temperature``/``top_k``/``top_p`` and a
    ``seed``); the text grows in the panel piece by piece, with the tokens/s so far (pieces
    per second while it streams; the decode speed of :class:`~onnxkit.llm.Generation` at the
    end). Cancel stops it between two pieces.

    Examples:
        >>> from onnxkit.widgets import GeneratePanel
        >>> lm = onnxkit.llm.load(folder)  # doctest: +SKIP
        >>> panel = GeneratePanel(lm, prompt="The for statement")  # doctest: +SKIP
        >>> panel.run().text == panel.text  # doctest: +SKIP
        True
    """

    lm = traitlets.Any(read_only=True, help="The language model that generates.")
    prompt = traitlets.Unicode("", help="The text to continue.")
    max_new_tokens = traitlets.Int(64, min=1, help="At most this many new tokens.")
    do_sample = traitlets.Bool(False, help="Sample instead of taking the likeliest token.")
    temperature = traitlets.Float(0.8, min=0.01, help="Sampling: below 1 sharper, above flatter.")
    top_k = traitlets.Int(50, min=0, help="Sampling: only the k likeliest tokens (0: all).")
    top_p = traitlets.Float(0.95, min=0.01, max=1.0, help="Sampling: the likeliest tokens "
                            "whose probabilities add up to p.")
    seed = traitlets.Int(0, help="Sampling: the same seed gives the same text.")
    text = traitlets.Unicode("", help="What has been generated so far (grows while it runs).")
    tokens_per_s = traitlets.Float(0.0, help="Speed so far; the decode speed once done.")

    def __init__(self, lm: Any, *, prompt: str = "", **kwargs: Any):
        super().__init__(**kwargs)
        self.set_trait("lm", lm if isinstance(lm, llm.LanguageModel) else llm.load(lm))
        self.prompt = prompt
        self.prompt_control = widgets.Textarea(description="prompt", rows=3,
                                               layout=widgets.Layout(width="100%"))
        self.tokens_control = widgets.BoundedIntText(min=1, max=100_000,
                                                     description="max new tokens")
        self.sample_control = widgets.Checkbox(description="sample")
        self.temperature_control = widgets.BoundedFloatText(min=0.01, max=10, step=0.1,
                                                            description="temperature")
        self.top_k_control = widgets.BoundedIntText(min=0, max=1_000_000, description="top k")
        self.top_p_control = widgets.BoundedFloatText(min=0.01, max=1, step=0.05,
                                                      description="top p")
        self.seed_control = widgets.IntText(description="seed")
        for name, control in [("prompt", self.prompt_control),
                              ("max_new_tokens", self.tokens_control),
                              ("do_sample", self.sample_control),
                              ("temperature", self.temperature_control),
                              ("top_k", self.top_k_control), ("top_p", self.top_p_control),
                              ("seed", self.seed_control)]:
            traitlets.link((self, name), (control, "value"))
        self.stream_view = widgets.HTML("")
        self.speed = widgets.Label("")
        self.generate_button = self._button("Generate", self._generate, icon="play",
                                            button_style="primary")
        self.observe(self._show_text, "text")
        self.observe(self._show_speed, "tokens_per_s")
        self._layout(self.prompt_control,
                     widgets.HBox([self.tokens_control, self.sample_control]),
                     widgets.HBox([self.temperature_control, self.top_k_control,
                                   self.top_p_control, self.seed_control]),
                     self.stream_view, self.speed)

    def _main(self) -> llm.Generation:
        return self._generate()

    def _settings(self) -> dict[str, Any]:
        settings: dict[str, Any] = {"max_new_tokens": self.max_new_tokens}
        if self.do_sample:
            settings.update(do_sample=True, temperature=self.temperature, top_k=self.top_k,
                            top_p=self.top_p, seed=self.seed)
        return settings

    def _generate(self) -> llm.Generation:
        settings = self._settings()
        self.text, self.tokens_per_s = "", 0.0
        self._step("generating")
        stream = self.lm.generate(self.prompt, stream=True, **settings)
        pieces, first = 0, 0.0
        for piece in stream:
            now = time.perf_counter()
            first = first or now
            pieces += 1
            self.text += piece
            if now > first:
                self.tokens_per_s = (pieces - 1) / (now - first)
            self._step(f"generating: {len(self.text)} characters")
        generation = stream.results[0]
        self.text = generation.text
        self.tokens_per_s = generation.tokens_per_s
        self._record(call("generation", "lm.generate", repr(self.prompt),
                          **{k: repr(v) for k, v in settings.items()}),
                     "print(generation.text)", "", fresh=True)
        return generation

    def _show_text(self, _: Any = None) -> None:
        self.stream_view.value = (
            "<pre style='white-space: pre-wrap'><b>" + html.escape(self.prompt) + "</b>"
            + html.escape(self.text) + "</pre>")

    def _show_speed(self, _: Any = None) -> None:
        speed = self.tokens_per_s
        self.speed.value = "" if not speed or speed != speed else f"{speed:.1f} tokens/s"

    def _preamble(self) -> list[str]:
        return [f"lm = onnxkit.llm.load({path_code(self.lm.path)})"]
