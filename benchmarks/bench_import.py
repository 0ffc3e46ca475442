"""Cost of ``import onnxkit``, as a ratio to ``import onnxruntime``.

Each import is timed in a fresh interpreter, the snippets alternating so that drift in machine
load hits all alike; the figure is median(onnxkit) / median(onnxruntime). ``import onnxkit``
defers its names to first use, so a second line times the import plus touching the core kernel
(load, summarize, run, benchmark: onnx and numpy come in) — what a notebook's first cell pays.
Goal: ratio <= 2.0, and none of the heavy optional modules (torch, plotly, pandas, ...) is
imported by ``import onnxkit``.

Run: ``python benchmarks/bench_import.py [--rounds N]``. Exits non-zero only if the script
itself fails; a missed goal prints MISSED.
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys

GOAL_RATIO = 2.0
WARMUP_ROUNDS = 2
HEAVY_MODULES = (
    "torch", "tensorflow", "plotly", "ipywidgets", "pandas", "skl2onnx",
    "onnxruntime.quantization",
)

_TIME = "import time; t = time.perf_counter(); {0}; print(time.perf_counter() - t)"
SNIPPETS = {
    "import onnxkit": "import onnxkit",
    "import onnxkit + core kernel": "import onnxkit; onnxkit.load; onnxkit.summarize; "
                                    "onnxkit.run; onnxkit.benchmark",
    "import onnxruntime": "import onnxruntime",
}
_LIST_HEAVY = (
    "import json, sys; import onnxkit; "
    "print(json.dumps([m for m in {0!r} if m in sys.modules]))"
)


def _child(code: str) -> str:
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    return out.stdout.strip()


def time_snippet(code: str) -> float:
    return float(_child(_TIME.format(code)))


def measure(rounds: int) -> dict[str, list[float]]:
    """Interleaved timings; the warm-up rounds fill the OS file cache and are discarded."""
    for _ in range(WARMUP_ROUNDS):
        for code in SNIPPETS.values():
            time_snippet(code)
    times: dict[str, list[float]] = {name: [] for name in SNIPPETS}
    for _ in range(rounds):
        for name, code in SNIPPETS.items():
            times[name].append(time_snippet(code))
    return times


def heavy_imported() -> list[str]:
    return json.loads(_child(_LIST_HEAVY.format(HEAVY_MODULES)))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=15, help="measured rounds (default 15)")
    args = parser.parse_args(argv)
    if args.rounds < 1:
        parser.error("--rounds must be >= 1")

    times = measure(args.rounds)
    ort = statistics.median(times["import onnxruntime"])
    print(f"import onnxruntime: {ort:.3f} s (median of {args.rounds})")
    for name in ("import onnxkit", "import onnxkit + core kernel"):
        kit = statistics.median(times[name])
        verdict = "ok" if kit / ort <= GOAL_RATIO else "MISSED"
        print(f"{name}: {kit:.3f} s, ratio {kit / ort:.2f} (goal <= {GOAL_RATIO}) {verdict}")

    heavy = heavy_imported()
    verdict = "ok" if not heavy else "MISSED"
    print(f"heavy modules imported by 'import onnxkit': {', '.join(heavy) or 'none'} "
          f"(goal: none) {verdict}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
