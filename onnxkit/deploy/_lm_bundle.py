"""``bundle`` for a :class:`~onnxkit.llm.LanguageModel`: the decoder, its tokenizer and
onnxruntime-genai's ``genai_config.json`` in a folder whose ``predict.py`` generates and whose
``serve.py`` answers the Open Inference Protocol's generate extension, with no onnxkit.

The bundle decodes with onnxruntime-genai (both routes: the model builder writes its config,
onnxkit's own export gets one from :func:`~onnxkit.bundled.serving.textgen.genai_config`) and
tokenizes with ``tokenizers``. Before the folder is put in place its greedy tokens on a smoke
prompt must equal ``LanguageModel.generate``'s; ``verify`` decodes them again."""

from __future__ import annotations

import datetime
import json
import platform
import shutil
from pathlib import Path
from typing import Any

from onnxkit._version import __version__
from onnxkit.bundled import RUNTIME_FILES, TEXT_FILES, write_runtime
from onnxkit.bundled import manifest as _manifest
from onnxkit.bundled.manifest import FORMAT, FORMAT_VERSION, MANIFEST
from onnxkit.bundled.predict import LANGUAGE_MODEL
from onnxkit.bundled.serving import textgen
from onnxkit.deploy._container import CONTAINER_FILES, PORT, write_dockerfile
from onnxkit.deploy._edge import refuse_over_budget
from onnxkit.errors import ConversionError, ParameterError
from onnxkit.llm import LanguageModel
from onnxkit.models import Model

# What the tokenizer needs (tokenizer.json) and what tells how it was made; those present.
TOKENIZER_FILES = ("tokenizer.json", "tokenizer_config.json", "special_tokens_map.json",
                   "config.json", "generation_config.json")
SMOKE_PROMPT, SMOKE_TOKENS = "The", 8
_SUPPORT = ("requirements.txt", "README.md", *RUNTIME_FILES, *TEXT_FILES, *CONTAINER_FILES,
            textgen.GENAI_CONFIG)


def refuse_tensor_options(options: dict[str, Any]) -> None:
    """``bundle``'s options that only a tensor model has must stay unset for a language
    model."""
    given = sorted(name for name, value in options.items() if value is not None)
    if given:
        raise ParameterError(f"bundle({given[0]}=...) does not apply to a language model "
                             f"(given: {', '.join(given)}); a language model's bundle takes "
                             "out_dir, overwrite and max_size_mb. Leave the others unset.")


def write_language_model(lm: LanguageModel, folder: Path, max_size_mb: float | None
                         ) -> dict[str, Any]:
    """Write the bundle of ``lm`` into ``folder`` (empty); its manifest."""
    decoder = Model(lm.path / lm.manifest["model"])
    names = [decoder.path.name, *(f.location for f in decoder.external_data)]
    refuse_over_budget({"model_bytes": decoder.size_bytes}, max_size_mb, None)
    for name in names:
        (folder / name).parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(lm.path / name, folder / name)
    tokenizer = [n for n in TOKENIZER_FILES if (lm.path / n).is_file()]
    if "tokenizer.json" not in tokenizer:
        raise ParameterError(f"bundle(model=...): '{lm.path}' has no tokenizer.json (a fast "
                             "tokenizer), which the bundle's runtime needs. Export the model "
                             "again with onnxkit.llm.export.")
    for name in tokenizer:
        shutil.copyfile(lm.path / name, folder / name)
    config = folder / textgen.GENAI_CONFIG
    if (lm.path / textgen.GENAI_CONFIG).is_file():  # the model builder's own
        shutil.copyfile(lm.path / textgen.GENAI_CONFIG, config)
    else:
        config.write_text(json.dumps(textgen.genai_config(lm.manifest, decoder.path.name,
                                                          lm.config), indent=2) + "\n")
    write_runtime(folder, text=True)
    write_dockerfile(folder)
    draft = _draft(lm, names, _smoke_test(lm, folder))
    (folder / "requirements.txt").write_text(_manifest.requirements(draft))
    (folder / "README.md").write_text(readme(draft), encoding="utf-8")
    draft["files"] = _manifest.file_entries(folder, [*names, *tokenizer, *_SUPPORT])
    (folder / MANIFEST).write_text(json.dumps(draft, indent=2) + "\n")
    return draft


def llm_section(lm: LanguageModel) -> dict[str, Any]:
    keys = ("context_length", "eos_token_ids", "pad_token_id", "layers", "kv_heads",
            "head_size")
    return {k: lm.manifest[k] for k in keys if k in lm.manifest}


def smoke_tokens(folder: Path, llm: dict[str, Any]) -> list[int]:
    """The bundle's greedy tokens on the smoke prompt, decoded by its own runtime."""
    decoding = textgen.TextModel(folder, llm).generate(
        [SMOKE_PROMPT], {"max_new_tokens": SMOKE_TOKENS})
    for _ in decoding:
        pass
    return list(decoding.results[0].tokens)


def _smoke_test(lm: LanguageModel, folder: Path) -> dict[str, Any]:
    expected = list(lm.generate(SMOKE_PROMPT, max_new_tokens=SMOKE_TOKENS).tokens)
    try:
        got = smoke_tokens(folder, llm_section(lm))
    except Exception as e:  # onnxruntime-genai raises RuntimeError with its own text
        raise ConversionError(f"bundle: onnxruntime-genai could not run '{lm.name}' "
                              f"({lm.route} route): {e}. Please report it with the model's "
                              "architecture.") from e
    if got != expected:
        raise ConversionError(f"bundle: the bundle's decoder (onnxruntime-genai) gave the "
                              f"greedy tokens {got} for {SMOKE_PROMPT!r}, but "
                              f"lm.generate gives {expected}; nothing was written. Please "
                              "report it with the model's architecture.")
    return {"prompt": SMOKE_PROMPT, "max_new_tokens": SMOKE_TOKENS, "tokens": got,
            "equal_to_generate": True}


def _draft(lm: LanguageModel, names: list[str], smoke: dict[str, Any]) -> dict[str, Any]:
    from importlib import metadata

    import numpy as np
    import onnxruntime as ort

    return {
        "format": FORMAT, "format_version": FORMAT_VERSION, "kind": LANGUAGE_MODEL,
        "model": {"file": names[0], "name": lm.name, "external_data": names[1:],
                  "route": lm.route, "precision": lm.precision,
                  "architecture": lm.architecture},
        "llm": llm_section(lm), "providers": ["CPUExecutionProvider"],
        "tested_with": {"onnxruntime": ort.__version__,
                        "onnxruntime-genai": metadata.version("onnxruntime-genai"),
                        "tokenizers": metadata.version("tokenizers"),
                        "numpy": np.__version__, "python": platform.python_version(),
                        "platform": platform.platform()},
        "smoke_test": smoke,
        "created": {"by": f"onnxkit {__version__}",
                    "at": datetime.datetime.now(datetime.timezone.utc).isoformat(
                        timespec="seconds"),
                    "source": str(lm.path)},
    }


def lines(manifest: dict[str, Any]) -> list[str]:
    """The lines of a language model bundle's repr, after its first two."""
    m, tested = manifest["model"], manifest["tested_with"]
    return [f"  language model: {m['architecture']}, {m['precision']}, route {m['route']!r}, "
            f"context {manifest['llm']['context_length']}",
            f"  smoke test passed: {len(manifest['smoke_test']['tokens'])} greedy tokens equal "
            "to lm.generate",
            f"  tested with onnxruntime {tested['onnxruntime']}, onnxruntime-genai "
            f"{tested['onnxruntime-genai']}, tokenizers {tested['tokenizers']}"]


def readme(m: dict[str, Any]) -> str:
    name, tested = m["model"]["name"], m["tested_with"]
    return f"""# {name}: a deployable language model

Made by {m['created']['by']} on {m['created']['at']} from `{m['created']['source']}`
({m['model']['architecture']}, {m['model']['precision']}, context
{m['llm']['context_length']} tokens). Tested with onnxruntime {tested['onnxruntime']},
onnxruntime-genai {tested['onnxruntime-genai']} and tokenizers {tested['tokenizers']}
(Python {tested['python']}).

## Files

- `{m['model']['file']}`: the decoder (ONNX, with its KV cache){
    ' and its weights: ' + ', '.join(f'`{n}`' for n in m['model']['external_data'])
    if m['model']['external_data'] else ''}
- `genai_config.json`: how onnxruntime-genai runs it; `tokenizer.json`: its tokenizer
- `predict.py`: generates text; `serve.py` and `serving/`: an HTTP server for it
- `Dockerfile`: the server in a container (non-root, with a readiness healthcheck)
- `requirements.txt`: the versions it was tested with, pinned
- `manifest.json`: SHA-256 and size of every file; predict.py and serve.py refuse to run
  when one differs

## Run it

```bash
python -m venv .venv
.venv/bin/pip install -r requirements.txt
.venv/bin/python predict.py "Once upon a time" --max-tokens 40
.venv/bin/python predict.py "Once upon a time" --do-sample --temperature 0.8 --top-p 0.9 --seed 1
```

Greedy unless `--do-sample`; the text streams to stdout (`--json`: text, tokens and why it
ended, at the end). From Python: `import predict; predict.generate("Once upon", max_new_tokens=40)`.

## Serve it

```bash
.venv/bin/python serve.py --port {PORT}            # 127.0.0.1 only; --host 0.0.0.0 to expose
curl -X POST http://127.0.0.1:{PORT}/v2/models/{name}/generate \\
     -d '{{"text_input": "Once upon a time", "parameters": {{"max_tokens": 40}}}}'
curl -N -X POST http://127.0.0.1:{PORT}/v2/models/{name}/generate_stream \\
     -d '{{"text_input": "Once upon a time", "parameters": {{"max_tokens": 40}}}}'
```

The server speaks the Open Inference Protocol's generate extension (`text_input`,
`parameters`: `max_tokens`, `do_sample`, `temperature`, `top_k`, `top_p`,
`repetition_penalty`, `stop`, `seed`); `generate_stream` sends the text as server-sent events.
Bound beyond loopback it refuses to start without a bearer token (`--token` or
`ONNXKIT_SERVE_TOKEN`; clients send `Authorization: Bearer <token>`), as in the container:

```bash
docker build -t {name.lower()} .
docker run --rm -p {PORT}:{PORT} -e ONNXKIT_SERVE_TOKEN="$(openssl rand -hex 24)" {name.lower()}
```
"""
