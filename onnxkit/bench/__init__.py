"""Measure models: speed (benchmark, measure with intervals, sweep over providers and
threads, per-operator profiles and node placement) and agreement (compare outputs, evaluate
on data).

May import: :mod:`onnxkit.runtime` and the stages before it.
"""

from onnxkit.base import front_door_names, publish
from onnxkit.bench._bench import BenchResult, benchmark
from onnxkit.bench._bench import batch_size as batch_size
from onnxkit.bench._bench import bench_result as bench_result
from onnxkit.bench._bench import bind as bind
from onnxkit.bench._bench import check_counts as check_counts
from onnxkit.bench._bench import timed_runs as timed_runs
from onnxkit.bench._compare import Comparison, OutputDiff, accuracy, compare
from onnxkit.bench._evaluate import Evaluation, evaluate
from onnxkit.bench._evaluate import batch_stats as batch_stats
from onnxkit.bench._measure import (
    Measurement,
    Speedup,
    measure,
    measure_models,
    speed_verdict,
    speedup_interval,
)
from onnxkit.bench._measure import measure_serialized as measure_serialized
from onnxkit.bench._profile import NodePlacement, NodeTime, OpProfile, placement, profile
from onnxkit.bench._sweep import SweepResult, sweep

# What a user imports. The `name as name` imports above are the kernel's own: the later
# stages build on them; a user's code does not need them.
__all__ = [
    "benchmark", "BenchResult", "measure", "measure_models", "Measurement", "Speedup",
    "speed_verdict", "speedup_interval", "sweep", "SweepResult", "profile", "OpProfile",
    "NodeTime", "placement", "NodePlacement", "compare", "Comparison", "OutputDiff", "accuracy",
    "evaluate", "Evaluation",
]

publish(globals(), "onnxkit", front_door_names(__name__))
