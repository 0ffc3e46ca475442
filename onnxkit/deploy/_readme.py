"""The README.md written into each bundle, from its manifest."""

from __future__ import annotations

from typing import Any


def readme(manifest: dict[str, Any]) -> str:
    m = manifest
    model, tested = m["model"], m["tested_with"]
    single = len(m["inputs"]) == 1
    example = "x.npy" if single else "inputs.npz"
    rows = "\n".join(f"| {t['name']} | {t['dtype']} | {t['shape']} |" for t in m["inputs"])
    out_rows = "\n".join(f"| {t['name']} | {t['dtype']} | {t['shape']} |" for t in m["outputs"])
    return f"""# {model['name']}: a deployable bundle

Made by {m['created']['by']} on {m['created']['at']} from `{m['created']['source']}`.
Tested with onnxruntime {tested['onnxruntime']} and numpy {tested['numpy']}
(Python {tested['python']}).

## Files

- `{model['file']}`: the ONNX model{_data_note(model)}
- `predict.py`: runs it; needs only numpy and onnxruntime
- `serve.py` and `serving/`: an HTTP server for it (Open Inference Protocol); adds starlette
  and uvicorn
- `Dockerfile`: the server in a container (non-root, with a readiness healthcheck)
- `requirements.txt`: the versions it was tested with, pinned
- `manifest.json`: SHA-256 and size of every file, the inputs and outputs, versions

## Run it

```bash
python -m venv .venv
.venv/bin/pip install -r requirements.txt
.venv/bin/python predict.py --input {example}
.venv/bin/python predict.py --input {example} --output predictions.json
```

`--input` takes {'a `.npy` array, ' if single else ''}an `.npz` with one array per input
name, or a `.json` object `{{"input name": [[...]]}}`{' (or a bare list)' if single else ''}.
`--output` writes `.npz` or `.json` (default: print). `--providers cuda,cpu` picks execution
providers (default: {', '.join(m['providers'])}, where available).{_image_note(m)}

## Serve it

```bash
.venv/bin/python serve.py --port 8000            # 127.0.0.1 only; --host 0.0.0.0 to expose
curl http://127.0.0.1:8000/v2/health/ready
curl http://127.0.0.1:8000/v2/models/{model['name']}
```

The server speaks the Open Inference Protocol (KServe v2) that Triton, KServe and MLServer
clients use (`POST /v2/models/{model['name']}/infer`, JSON or binary tensors), plus
`POST /predict` (`{{"inputs": {{"name": [[...]]}}}}`) and Prometheus metrics at `/metrics`.
Concurrent requests are batched (`--max-batch`, `--max-delay-ms`). In a container:
`docker build -t {model['name'].lower()} . && docker run -p 8000:8000 {model['name'].lower()}`.

### Inputs

| name | dtype | shape |
|---|---|---|
{rows}

### Outputs

| name | dtype | shape |
|---|---|---|
{out_rows}
{_post_note(m['postprocess'])}{_edge_note(m.get("edge"))}
## Integrity

`predict.py` checks the SHA-256 of every file in `manifest.json` before it loads the model,
and refuses to run if one is missing or altered. It also checks the input names, dtypes and
ranks. Errors print one line and exit with status 1. With onnxkit installed,
`onnxkit bundle verify .` re-checks the hashes and runs the model once.
"""


def _image_note(m: dict[str, Any]) -> str:
    images = [i["name"] for i in m["inputs"] if "image" in i]
    if not images:
        return ""
    return (f"\n\nThe graph has its image preprocessing: `{'`, `'.join(images)}` also take(s) "
            "JPEG/PNG files (`--input photo.jpg`), decoded with Pillow. The server takes them "
            "at `POST /predict` as a multipart file field named after the input (or `file`) "
            "or as a raw `image/jpeg`/`image/png` body: `curl -F image=@photo.jpg "
            "http://127.0.0.1:8000/predict`.")


def _data_note(model: dict[str, Any]) -> str:
    files = model["external_data"]
    return f" (weights in {', '.join(f'`{f}`' for f in files)})" if files else ""


def _post_note(post: dict[str, Any] | None) -> str:
    if not post:
        return ""
    if post["threshold"] is not None:
        names = f" as {post['labels'][0]!r} / {post['labels'][1]!r}" if post["labels"] else ""
        how = (f"`{post['output']} >= {post['threshold']}` (the second column of a two-class "
               f"output){names}")
    else:
        how = f"the label of the highest score of `{post['output']}`: {', '.join(post['labels'])}"
    return f"\n### Predictions\n\npredict.py also reports {how}.\n"


def _edge_note(edge: dict[str, Any] | None) -> str:
    """What an edge device needs, from the manifest's ``edge`` section."""
    if not edge:
        return ""
    peak = edge["peak_memory"]
    memory = ("not measured (no resettable high-water mark on the machine that made it)"
              if peak["arena_bytes"] is None else
              f"{peak['arena_bytes'] / 1e6:.3g} MB with onnxruntime's CPU arena (what "
              f"predict.py and serve.py use), {peak['no_arena_bytes'] / 1e6:.3g} MB with "
              "`enable_cpu_mem_arena=False`")
    ort = (f"`{edge['ort_format']}` is the ORT-format model (for onnxruntime's mobile and "
           f"minimal builds) and `{edge['reduced_build_config']}` the operator kernels it "
           "needs: pass it to onnxruntime's `build.sh --include_ops_by_config` for a reduced "
           "build." if edge.get("ort_format") else
           f"No ORT-format model: {edge.get('ort_format_error')}.")
    return (f"\n## On an edge device\n\nThe model is {edge['model_bytes'] / 1e6:.3g} MB. "
            f"At its peak a session of it adds {memory} (measured on the inputs "
            f"{peak['inputs']}). {ort}\n")

