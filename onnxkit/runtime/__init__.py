"""Run models: execution providers and their options, sessions, and feeds checked before ONNX
Runtime sees them (random inputs when a user has none). Measuring them is the next stage,
:mod:`onnxkit.bench`.

May import: :mod:`onnxkit.models`, :mod:`onnxkit.inspect` and the foundation.
"""

from onnxkit.base import front_door_names, publish
from onnxkit.runtime._feeds import Feeds
from onnxkit.runtime._feeds import prepare_feeds as prepare_feeds
from onnxkit.runtime._feeds import validate_feeds as validate_feeds
from onnxkit.runtime._inputs import graph_feeds as graph_feeds
from onnxkit.runtime._inputs import random_inputs
from onnxkit.runtime._isolation import crashes_onnxruntime as crashes_onnxruntime
from onnxkit.runtime._provider_names import ProviderSpec, canonical_name
from onnxkit.runtime._provider_names import short_name as short_name
from onnxkit.runtime._provider_names import split_spec as split_spec
from onnxkit.runtime._provider_options import OptionSpec, provider_options, validate_options
from onnxkit.runtime._provider_options import io_device as io_device
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
    run,
    session,
    session_options,
)
from onnxkit.runtime._session import create_session as create_session
from onnxkit.runtime._session import custom_op_libraries as custom_op_libraries
from onnxkit.runtime._session import register_custom_ops as register_custom_ops
from onnxkit.runtime._session import run_session as run_session

# What a user imports. The `name as name` imports above are the kernel's own: the later
# stages build on them; a user's code does not need them.
__all__ = [
    "providers", "ProviderTable", "ProviderInfo", "ProviderFallbackWarning", "ProviderSpec",
    "canonical_name", "resolve", "Resolved", "provider_options", "validate_options", "OptionSpec",
    "session", "session_options", "run", "Providers", "OptLevel", "OPT_LEVELS", "ExecutionMode",
    "EXECUTION_MODES", "Feeds", "random_inputs",
]

publish(globals(), "onnxkit", front_door_names(__name__))
