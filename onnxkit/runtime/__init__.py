"""Run and measure: execution providers and their options, sessions, feeds checked before
ONNX Runtime sees them, random inputs, comparing outputs, benchmarks, profiles and sweeps.

May import: :mod:`onnxkit.models`, :mod:`onnxkit.inspect` and the foundation.
"""

from onnxkit.base import front_door_names, publish
from onnxkit.runtime._bench import (
    BenchResult,
    batch_size,
    bench_result,
    benchmark,
    bind,
    check_counts,
    timed_runs,
)
from onnxkit.runtime._compare import Comparison, OutputDiff, accuracy, compare
from onnxkit.runtime._evaluate import Evaluation, batch_stats, evaluate
from onnxkit.runtime._feeds import Feeds, prepare_feeds, validate_feeds
from onnxkit.runtime._inputs import graph_feeds, random_inputs
from onnxkit.runtime._isolation import crashes_onnxruntime
from onnxkit.runtime._measure import (
    Measurement,
    Speedup,
    measure,
    measure_models,
    measure_serialized,
    speed_verdict,
    speedup_interval,
)
from onnxkit.runtime._profile import NodePlacement, NodeTime, OpProfile, placement, profile
from onnxkit.runtime._provider_names import (
    ProviderSpec,
    canonical_name,
    short_name,
    split_spec,
)
from onnxkit.runtime._provider_options import (
    OptionSpec,
    io_device,
    provider_options,
    validate_options,
)
from onnxkit.runtime._providers import (
    ProviderFallbackWarning,
    ProviderInfo,
    ProviderTable,
    Resolved,
    providers,
    resolve,
)
from onnxkit.runtime._session import (
    EXECUTION_MODES,
    OPT_LEVELS,
    ExecutionMode,
    OptLevel,
    Providers,
    create_session,
    run,
    run_session,
    session,
    session_options,
)
from onnxkit.runtime._sweep import SweepResult, sweep

__all__ = [
    "BenchResult", "Measurement", "Speedup", "measure", "measure_models", "measure_serialized",
    "speed_verdict", "speedup_interval", "batch_size", "crashes_onnxruntime", "bench_result",
    "benchmark", "bind", "check_counts", "timed_runs", "Evaluation", "batch_stats", "evaluate",
    "Comparison", "OutputDiff", "accuracy", "compare", "Feeds", "prepare_feeds", "validate_feeds",
    "graph_feeds", "random_inputs", "NodePlacement", "NodeTime", "OpProfile", "placement",
    "profile", "ProviderSpec", "canonical_name", "short_name", "split_spec", "OptionSpec",
    "io_device", "provider_options", "validate_options", "ProviderFallbackWarning", "ProviderInfo",
    "ProviderTable", "Resolved", "providers", "resolve", "EXECUTION_MODES", "OPT_LEVELS",
    "ExecutionMode", "OptLevel", "Providers", "create_session", "run", "run_session", "session",
    "session_options", "SweepResult", "sweep",
]

publish(globals(), "onnxkit", front_door_names(__name__))
