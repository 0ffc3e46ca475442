"""``session`` and ``run``: cached ONNX Runtime sessions, forgiving options, checked feeds."""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any, Literal

import numpy as np

from onnxkit.base import clean_ort_message, graph_inputs, integer, one_of, ort_hint, require
from onnxkit.errors import ParameterError, ProviderError, SessionError
from onnxkit.models import Model, ModelLike, load
from onnxkit.runtime._feeds import Feeds, validate_feeds
from onnxkit.runtime._provider_names import ProviderSpec
from onnxkit.runtime._providers import Resolved, resolve

if TYPE_CHECKING:
    import onnxruntime as ort

OptLevel = Literal["disable", "basic", "extended", "layout", "all"]
# ONNX Runtime's graph optimization levels, as onnxkit names them (the panels and the CLI
# offer exactly these).
OPT_LEVELS: tuple[OptLevel, ...] = ("disable", "basic", "extended", "layout", "all")
_ORT_LEVELS = dict(zip(OPT_LEVELS, ("ORT_DISABLE_ALL", "ORT_ENABLE_BASIC",
                                    "ORT_ENABLE_EXTENDED", "ORT_ENABLE_LAYOUT", "ORT_ENABLE_ALL")))
Providers = ProviderSpec | Sequence[ProviderSpec] | None
ExecutionMode = Literal["sequential", "parallel"]
# How a session runs independent nodes: one at a time, or in parallel (inter-op threads).
EXECUTION_MODES: tuple[ExecutionMode, ...] = ("sequential", "parallel")
_ENUM_OPTIONS = {"execution_mode": ("ExecutionMode", dict(zip(
    EXECUTION_MODES, ("ORT_SEQUENTIAL", "ORT_PARALLEL"))))}
_CACHE_SIZE = 8
_cache: OrderedDict[tuple[Any, ...], ort.InferenceSession] = OrderedDict()


def session(model: ModelLike, *, providers: Providers = None, threads: int | None = None,
            opt_level: OptLevel | None = None, options: Mapping[str, Any] | None = None
            ) -> ort.InferenceSession:
    """An ``onnxruntime.InferenceSession`` for ``model``, reused while the file is unchanged.

    Args:
        providers: ``"cpu"``, ``"CUDA"``, ``"CUDAExecutionProvider"``,
            ``("CUDAExecutionProvider", {"device_id": 0})`` or a list of these, in priority
            order. Default: CPU. Providers missing from this build are skipped with a warning
            and listed in the session's ``onnxkit_fallbacks``. Options are checked against
            the provider's schema first (``provider_options``); a provider of this build
            that fails to start raises :class:`~onnxkit.errors.ProviderError` (bare ORT
            would quietly run on the CPU instead).
        threads: intra-op threads (default: ORT's choice, one per physical core).
        opt_level: graph optimization level (default ``"all"``).
        options: further ``SessionOptions`` attributes (``{"execution_mode": "parallel"}``) and
            config entries (keys containing a dot, e.g. ``"session.intra_op.allow_spinning"``).

    Examples:
        >>> import onnxkit
        >>> onnxkit.session(onnxkit.samples.tiny_model(), providers="cpu").get_providers()
        ['CPUExecutionProvider']
    """
    handle = load(model)
    resolved, skipped = resolve(providers)
    stat = handle.path.stat()
    key = (str(handle.path), stat.st_mtime_ns, stat.st_size, repr(resolved), skipped, threads,
           opt_level, repr(sorted((options or {}).items())))
    if key in _cache:
        _cache.move_to_end(key)
        return _cache[key]
    sess = create_session(handle, resolved, threads=threads, opt_level=opt_level, options=options,
                          where="session")
    sess.onnxkit_fallbacks = skipped  # type: ignore[attr-defined]
    _cache[key] = sess
    while len(_cache) > _CACHE_SIZE:
        _cache.popitem(last=False)
    return sess


def create_session(handle: Model, resolved: Resolved, *, threads: int | None = None,
                   opt_level: OptLevel | None = None, options: Mapping[str, Any] | None = None,
                   profile_prefix: str | None = None, where: str = "session"
                   ) -> ort.InferenceSession:
    """A new, uncached session (benchmarks time this; profiling needs its own). ``where`` is
    the public function asking, for the messages of bad options."""
    import onnxruntime as ort

    so = session_options(threads=threads, opt_level=opt_level, options=options, where=where)
    register_custom_ops(so, handle)
    if profile_prefix is not None:
        so.enable_profiling = True
        so.profile_file_prefix = profile_prefix
    resolved = _apply_cpu_options(so, resolved)
    try:
        sess = ort.InferenceSession(str(handle.path), so, providers=[n for n, _ in resolved],
                                    provider_options=[o for _, o in resolved])
    except Exception as e:  # ORT raises its own Fail/InvalidArgument/RuntimeError types
        raise _creation_error(handle, resolved, clean_ort_message(str(e))) from e
    # A provider that fails to start is dropped: ORT prints or logs why ("EP Error") and runs
    # on the CPU. stdout is not captured for the reason: sessions are made in panel threads.
    dropped = [n for n, _ in resolved if n not in sess.get_providers()]
    if dropped:
        raise ProviderError(
            f"{', '.join(dropped)} could not start, and onnxruntime fell back to "
            f"{', '.join(sess.get_providers())}; its reason is printed above or in the log "
            f"(stderr). Check the options {dict(resolved)}: often a value the device does not "
            "support; and that the device and its drivers are present.")
    return sess


def custom_op_libraries(model: Model) -> list[str]:
    """The operator libraries a session of ``model`` must register: onnxruntime-extensions'
    (tokenizers...) when the model uses its domain. Every session onnxkit makes loads them,
    in this process or a child's."""
    if not any(o.domain == "ai.onnx.contrib" for o in model.proto.opset_import):
        return []
    ortx = require("onnxruntime_extensions", purpose=f"Running '{model.name}' (its tokenizer "
                   "operators)")
    return [ortx.get_library_path()]


def register_custom_ops(so: ort.SessionOptions, model: Model) -> None:
    for library in custom_op_libraries(model):
        so.register_custom_ops_library(library)


def _apply_cpu_options(so: ort.SessionOptions, resolved: Resolved) -> Resolved:
    """The CPU provider ignores provider options in Python: ``use_arena`` is a session option."""
    cpu = dict(resolved).get("CPUExecutionProvider", {})
    if "use_arena" in cpu:
        so.enable_cpu_mem_arena = cpu["use_arena"] == "True"
    return tuple((n, {k: v for k, v in o.items() if n != "CPUExecutionProvider"})
                 for n, o in resolved)


def _creation_error(handle: Model, resolved: Resolved, message: str) -> Exception:
    names = ", ".join(n for n, _ in resolved)
    keys = [k for _, o in resolved for k in o]
    if keys and ("option" in message.lower() or any(k in message for k in keys)):
        return ProviderError(f"{names} rejected the provider options "
                             f"{[o for _, o in resolved]}: {message}")
    return SessionError(f"onnxruntime could not create a session for '{handle.name}' "
                        f"({names}): {message} {ort_hint(message)}".strip())


def session_options(*, threads: int | None = None, opt_level: OptLevel | None = None,
                    options: Mapping[str, Any] | None = None, where: str = "session"
                    ) -> ort.SessionOptions:
    """ORT ``SessionOptions`` from onnxkit's keywords, each checked (``where``: the public
    function whose parameters these are, named in the messages)."""
    import onnxruntime as ort

    so = ort.SessionOptions()
    so.log_severity_level = 3  # errors only: warnings go to stderr, not to the notebook
    if threads is not None:
        so.intra_op_num_threads = integer(threads, where, "threads",
                                          fix="pass None for ORT's default")
    level = one_of(opt_level if opt_level is not None else "all", OPT_LEVELS, where,
                   "opt_level")
    so.graph_optimization_level = getattr(ort.GraphOptimizationLevel, _ORT_LEVELS[level])
    for name, value in (options or {}).items():
        _set_option(so, name, value, where)
    return so


def _set_option(so: ort.SessionOptions, name: str, value: Any, where: str) -> None:
    import onnxruntime as ort

    if "." in name:  # a session config entry, e.g. "session.intra_op.allow_spinning"
        so.add_session_config_entry(name, str(value))
        return
    if name in _ENUM_OPTIONS:
        enum_name, values = _ENUM_OPTIONS[name]
        value = getattr(getattr(ort, enum_name), values[one_of(value, tuple(values), where,
                                                               f"options['{name}']")])
    settable = sorted(a for a in dir(so) if not a.startswith("_")
                      and not callable(getattr(so, a)))
    if name not in settable:
        raise ParameterError(f"{where}(options=...) has '{name}', which is not a "
                             f"SessionOptions setting. Settable: {', '.join(settable)}; or a "
                             "config key with dots (e.g. 'session.intra_op.allow_spinning').")
    try:
        setattr(so, name, value)
    except TypeError as e:
        raise ParameterError(f"{where}(options=...): '{name}' = {value!r} has the wrong "
                             f"type: {e}") from e


def run(model: ModelLike, feeds: Feeds | np.ndarray, *, providers: Providers = None
        ) -> dict[str, np.ndarray]:
    """Run ``model`` on ``feeds`` and return ``{output name: array}``.

    Feeds are checked first (names, dtypes, ranks, fixed dims, consistent symbolic dims), so a
    mistake gives an :class:`~onnxkit.errors.InputError` naming the input instead of an ORT
    error. The outputs are exactly what a bare ``InferenceSession.run`` returns.

    Examples:
        >>> import numpy as np, onnxkit
        >>> out = onnxkit.run(onnxkit.samples.tiny_model(), {"x": np.ones((2, 4), np.float32)})
        >>> {k: v.shape for k, v in out.items()}
        {'y': (2, 3)}
    """
    handle = load(model)
    arrays = validate_feeds(graph_inputs(handle.proto.graph), feeds)
    sess = session(handle, providers=providers)
    return run_session(sess, arrays, handle.name)


def run_session(sess: ort.InferenceSession, arrays: dict[str, Any], name: str
                ) -> dict[str, np.ndarray]:
    names = [o.name for o in sess.get_outputs()]
    try:
        outputs = sess.run(names, arrays)
    except Exception as e:
        message = clean_ort_message(str(e))
        raise SessionError(f"running '{name}' failed inside onnxruntime: {message} "
                           f"{ort_hint(message)}".strip()) from e
    return dict(zip(names, outputs))
