"""Rendering a :class:`~onnxkit._demo._report.DemoReport`: its plots and the one-file HTML report.

Nothing here measures: every figure comes from the results the demo computed. The page embeds
plotly.js once, inline, so it works offline; each plot is a div drawn by that one copy.
"""

from __future__ import annotations

import datetime
import html
from typing import TYPE_CHECKING

from onnxkit.results import fmt_bytes, html_table

if TYPE_CHECKING:
    import plotly.graph_objects as go

    from onnxkit._demo._report import DemoReport

_TITLES = {"sample": "0. The sample", "convert": "1. Convert: PyTorch to ONNX",
           "optimize": "2. Optimize: a leaner graph, and float16",
           "quantize": "3. Quantize: int8 weights (and activations)",
           "compare": "4. Compare: every variant, measured the same way",
           "bundle": "5. Bundle: a folder that runs anywhere"}

_EXPLAIN = {
    "sample": "A small CNN (two Conv-BatchNorm-ReLU blocks, max pooling, two linear layers) is "
              "trained in PyTorch on scikit-learn's 8x8 handwritten digits. The held-out images "
              "were never seen in training: the first {calibration_rows} calibrate int8 "
              "quantization, the other {evaluation_rows} measure every variant's accuracy.",
    "convert": "<code>onnxkit.convert.from_torch</code> exports the module with torch.onnx "
               "(the dynamo exporter, falling back to TorchScript) with a dynamic batch axis, "
               "then runs the ONNX model in ONNX Runtime on the example inputs, and again at "
               "another batch size, and compares the outputs with PyTorch's.",
    "optimize": "<code>onnxkit.optimize(level=\"basic\")</code> simplifies the graph with "
                "onnxslim and applies ONNX Runtime's portable graph optimizations (constant "
                "folding, BatchNorm folded into the convolutions...): standard ONNX ops only, "
                "so the file runs on any ONNX Runtime. <code>onnxkit.to_fp16</code> halves the "
                "weights while keeping float32 inputs and outputs. Both are checked against "
                "their parent on random inputs.",
    "quantize": "<code>onnxkit.quantize.static</code> stores weights and activations in 8 bits; "
                "the activations' ranges come from running the calibration images "
                "(QDQ format, per-channel weights). <code>onnxkit.quantize.dynamic</code> "
                "quantizes weights only ahead of time and activations on the fly: no "
                "calibration, but each run pays for it. The plot shows where int8 static "
                "loses precision: the signal-to-quantization-noise ratio of each activation "
                "against the float model (higher is better; under ~20 dB deserves a look).",
    "compare": "A <code>onnxkit.Study</code> measures every variant the same way: size on "
               "disk, latency (batches of 256 images, all models timed in the same "
               "interleaved rounds so machine noise hits them alike; each speedup is the "
               "median of per-round ratios with its 95% interval, and rounds are added until "
               "the fastest separates from the exported model or the time budget is spent), "
               "peak memory of a fresh process, agreement of the top-1 class with the "
               "exported model, and accuracy on the evaluation images. <code>Study.best("
               "max_accuracy_drop={max_accuracy_drop})</code> picks a variant only if it is "
               "faster beyond the spread and loses at most one point of accuracy; among "
               "variants tied with the fastest it takes the smallest, and when none "
               "qualifies it keeps the exported model and says why.",
    "bundle": "<code>onnxkit.deploy.bundle</code> writes the chosen model with a "
              "<code>manifest.json</code> (SHA-256 of every file, inputs and outputs, versions "
              "tested), a standalone <code>predict.py</code> that needs only numpy and "
              "onnxruntime, pinned <code>requirements.txt</code> and a README. "
              "<code>onnxkit.deploy.verify</code> re-checks the hashes and runs the model once.",
}

_STYLE = """
body{font-family:system-ui,-apple-system,'Segoe UI',sans-serif;max-width:1100px;
 margin:24px auto;padding:0 20px;color:#1d2330;line-height:1.5}
h1{font-size:26px;margin-bottom:4px} h2{font-size:20px;margin:0 0 6px}
section{border-top:1px solid #d8dde6;padding-top:18px;margin-top:26px}
.lead{color:#4a5363} .time{color:#6b7280;font-size:13px;font-weight:normal;margin-left:8px}
.headline{font-family:ui-monospace,monospace;font-size:13px;background:#eef3f8;
 padding:4px 8px;border-radius:4px;display:inline-block}
.bad{color:#b42318;font-weight:bold}
pre{background:#f5f7fa;padding:10px 12px;border-radius:6px;overflow-x:auto;font-size:12px}
code{font-size:90%} table{margin:8px 0}
.plot{margin:10px 0;border:1px solid #eceff3;border-radius:6px}
#environment table{align-self:flex-start}
"""

_CODE = """import onnxkit
from onnxkit import samples, convert, quantize, deploy

s = samples.digits_torch()
images, labels = s.inputs["image"], s.labels
calibration, data, truth = images[:{calibration_rows}], {{"image": images[{calibration_rows}:]}}, \\
    labels[{calibration_rows}:]

conversion = convert.from_torch(s.module, s.example_inputs, dynamic_batch=True,
                                input_names=["image"], output_names=["logits"])
optimized = onnxkit.optimize(conversion.model, level="basic")
variants = {{"optimized": optimized, "fp16": onnxkit.to_fp16(optimized),
            "int8-static": quantize.static(optimized, calibration),
            "int8-dynamic": quantize.dynamic(optimized)}}

study = onnxkit.Study(conversion.model, data=data, labels=truth, batch={latency_batch})
study.add_all(variants)
best = study.best(max_accuracy_drop={max_accuracy_drop})
deploy.bundle(best.model, "digits-bundle", labels=[str(d) for d in range(10)])
deploy.verify("digits-bundle")
"""


def figures(report: DemoReport) -> dict[str, go.Figure]:
    """The plots by stage: model summary, op counts per variant, int8 error, Pareto chart."""
    plots = {"convert": report.summaries["exported"].plot(),
             "optimize": _op_counts(report),
             "quantize": report.layer_errors.plot(n=12),
             "compare": report.study.plot()}
    for fig in plots.values():
        fig.update_layout(template="plotly_white", margin={"t": 60, "b": 40})
    return plots


def _op_counts(report: DemoReport) -> go.Figure:
    import plotly.graph_objects as go

    names = [n for n in ("exported", "optimized", "fp16") if n in report.summaries]
    ops = sorted({op for n in names for op in report.summaries[n].op_counts})
    fig = go.Figure([go.Bar(name=f"{n} ({report.summaries[n].node_count} nodes)", x=ops,
                            y=[report.summaries[n].op_counts.get(op, 0) for op in ops])
                     for n in names])
    fig.update_layout(barmode="group", title="operators per model: what each step changed",
                      yaxis_title="nodes", height=380)
    return fig


def _section(report: DemoReport, name: str, body: str) -> str:
    stage = report.stage(name)
    explain = _EXPLAIN[name].format(**report.settings)  # trusted text: our own constants
    return (f"<section id='{name}'><h2>{html.escape(_TITLES[name])}"
            f"<span class='time'>{stage.seconds:.1f} s</span></h2>"
            f"<p>{explain}</p><div class='headline'>{html.escape(stage.headline)}</div>"
            f"{body}</section>")


def _plot(fig: go.Figure) -> str:
    inner = fig.to_html(full_html=False, include_plotlyjs=False,
                        config={"displaylogo": False, "responsive": True})
    return f"<div class='plot'>{inner}</div>"


def _variant_table(report: DemoReport, names: list[str]) -> str:
    base = report.models["exported"].size_bytes
    rows = []
    for name in names:
        model = report.models[name]
        check = model.lineage[-1].details.get("verification", {}) if name != "exported" else {}
        passed = check.get("passed")
        verdict = "-" if passed is None else "yes" if passed else "NO"
        err = check.get("max_abs")
        rows.append((name, model.path.name, fmt_bytes(model.size_bytes),
                     f"{model.size_bytes / base:.2f}x", report.summaries[name].node_count,
                     verdict, "-" if err is None else f"{err:.2g}"))
    return html_table(("variant", "file", "size", "vs exported", "nodes",
                          "verified vs parent", "max abs err"), rows,
                         bad=[r[5] == "NO" for r in rows])


def _summary_table(report: DemoReport) -> str:
    rows = [(s.name, f"{s.seconds:.1f} s", s.headline) for s in report.stages]
    return html_table(("stage", "time", "result"), rows,
                         caption=f"total {report.seconds:.1f} s")


def _environment(report: DemoReport) -> str:
    versions = html_table(("package", "version"), report.versions.items(),
                             caption="versions")
    return (f"<section id='environment'><h2>Environment</h2>"
            f"<div style='display:flex;gap:24px;flex-wrap:wrap;align-items:flex-start'>"
            f"{versions}{report.machine._repr_html_()}</div></section>")


def page(report: DemoReport) -> str:
    """The whole report: one HTML file with plotly.js inline and every plot drawn by it."""
    from plotly.offline import get_plotlyjs

    plots = {name: _plot(fig) for name, fig in figures(report).items()}
    best = report.study[report.best] if report.best != "reference" else None
    verdict = "passed" if report else "<span class='bad'>FAILED</span>"
    quick = " (quick run: fewer latency rounds, noisier timings)" if report.quick else ""
    lead = (f"A PyTorch model taken to a verified deployment bundle in "
            f"{report.seconds:.1f} s{quick}: {verdict}. Deployed variant: "
            f"<b>{html.escape(report.best)}</b>"
            + (f", {best.speedup.median:.2f}x the exported model's speed at "
               f"{best.size_bytes / report.study['reference'].size_bytes:.2f}x its size."
               if best is not None else ", as no variant stayed within the accuracy limit."))
    sections = [
        _section(report, "sample", ""),
        _section(report, "convert", report.conversion._repr_html_() + plots["convert"]),
        _section(report, "optimize", _variant_table(report, ["exported", "optimized", "fp16"])
                 + plots["optimize"]),
        _section(report, "quantize", _variant_table(report, ["int8-static", "int8-dynamic"])
                 + plots["quantize"]),
        _section(report, "compare", report.study._repr_html_() + plots["compare"]),
        _section(report, "bundle", report.bundle._repr_html_() + report.check._repr_html_()
                 + f"<p>Run it: <code>{html.escape(report.bundle.command)}</code></p>"),
    ]
    code = _CODE.format(**report.settings)
    when = datetime.datetime.now().astimezone().strftime("%Y-%m-%d %H:%M %Z")
    return "".join([
        "<!DOCTYPE html><html lang='en'><head><meta charset='utf-8'>",
        "<meta name='viewport' content='width=device-width, initial-scale=1'>",
        "<title>onnxkit demo: the digits CNN from PyTorch to a deployment bundle</title>",
        f"<style>{_STYLE}</style>",
        f"<script type='text/javascript'>{get_plotlyjs()}</script></head><body>",
        "<h1>onnxkit demo: from PyTorch to a deployment bundle</h1>",
        f"<p class='lead'>{lead}</p>",
        f"<p class='lead'>Written {html.escape(when)}. Report: "
        f"<code>{html.escape(str(report.path))}</code>. Bundle: "
        f"<code>{html.escape(str(report.bundle_dir))}</code>.</p>",
        _summary_table(report), *sections, _environment(report),
        "<section id='code'><h2>The same in Python</h2>",
        f"<pre>{html.escape(code)}</pre></section>",
        "</body></html>\n"])
