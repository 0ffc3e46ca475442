"""``session`` and ``run``: cached ONNX Runtime sessions, forgiving options, checked feeds."""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any, Literal

import numpy as np

from onnxkit import _ort_errors
from onnxkit._feeds import Feeds, validate_feeds
from onnxkit._model import Model, ModelLike, load
from onnxkit._providers import ProviderSpec, Resolved, resolve
from onnxkit._types import graph_inputs
from onnxkit.errors import ParameterError, ProviderError, SessionError

if TYPE_CHECKING:
    import onnxruntime as ort

OptLevel = Literal["disable", "basic", "extended", "layout", "all"]
Providers = ProviderSpec | Sequence[ProviderSpec] | None
_OPT_LEVELS = {"disable": "ORT_DISABLE_ALL", "basic": "ORT_ENABLE_BASIC",
               "extended": "ORT_ENABLE_EXTENDED", "layout": "ORT_ENABLE_LAYOUT",
               "all": "ORT_ENABLE_ALL"}
_ENUM_OPTIONS = {"execution_mode": ("ExecutionMode", {"sequential": "ORT_SEQUENTIAL",
                                                      "parallel": "ORT_PARALLEL"})}
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
    sess = create_session(handle, resolved, threads=threads, opt_level=opt_level, options=options)
    sess.onnxkit_fallbacks = skipped  # type: ignore[attr-defined]
    _cache[key] = sess
    while len(_cache) > _CACHE_SIZE:
        _cache.popitem(last=False)
    return sess


def create_session(handle: Model, resolved: Resolved, *, threads: int | None = None,
                   opt_level: OptLevel | None = None, options: Mapping[str, Any] | None = None,
                   profile_prefix: str | None = None) -> ort.InferenceSession:
    """A new, uncached session (benchmarks time this; profiling needs its own)."""
    import onnxruntime as ort

    so = session_options(threads=threads, opt_level=opt_level, options=options)
    if profile_prefix is not None:
        so.enable_profiling = True
        so.profile_file_prefix = profile_prefix
    resolved = _apply_cpu_options(so, resolved)
    try:
        sess = ort.InferenceSession(str(handle.path), so, providers=[n for n, _ in resolved],
                                    provider_options=[o for _, o in resolved])
    except Exception as e:  # ORT raises its own Fail/InvalidArgument/RuntimeError types
        raise _creation_error(handle, resolved, _ort_errors.clean(str(e))) from e
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
                        f"({names}): {message} {_ort_errors.hint(message)}".strip())


def session_options(*, threads: int | None = None, opt_level: OptLevel | None = None,
                    options: Mapping[str, Any] | None = None) -> ort.SessionOptions:
    import onnxruntime as ort

    so = ort.SessionOptions()
    so.log_severity_level = 3  # errors only: warnings go to stderr, not to the notebook
    if threads is not None:
        if not isinstance(threads, int) or isinstance(threads, bool) or threads < 1:
            raise ParameterError(f"threads must be a positive integer; got {threads!r}.")
        so.intra_op_num_threads = threads
    level = opt_level if opt_level is not None else "all"
    if level not in _OPT_LEVELS:
        raise ParameterError(f"opt_level must be one of {list(_OPT_LEVELS)}; got {level!r}.")
    so.graph_optimization_level = getattr(ort.GraphOptimizationLevel, _OPT_LEVELS[level])
    for name, value in (options or {}).items():
        _set_option(so, name, value)
    return so


def _set_option(so: ort.SessionOptions, name: str, value: Any) -> None:
    import onnxruntime as ort

    if "." in name:  # a session config entry, e.g. "session.intra_op.allow_spinning"
        so.add_session_config_entry(name, str(value))
        return
    if name in _ENUM_OPTIONS:
        enum_name, values = _ENUM_OPTIONS[name]
        if value not in values:
            raise ParameterError(f"options['{name}'] must be one of {list(values)}; got "
                                 f"{value!r}.")
        value = getattr(getattr(ort, enum_name), values[value])
    settable = sorted(a for a in dir(so) if not a.startswith("_")
                      and not callable(getattr(so, a)))
    if name not in settable:
        raise ParameterError(f"options: '{name}' is not a SessionOptions setting. Settable: "
                             f"{', '.join(settable)}; or a config key with dots.")
    try:
        setattr(so, name, value)
    except TypeError as e:
        raise ParameterError(f"options['{name}'] = {value!r} has the wrong type: {e}") from e


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
        message = _ort_errors.clean(str(e))
        raise SessionError(f"running '{name}' failed inside onnxruntime: {message} "
                           f"{_ort_errors.hint(message)}".strip()) from e
    return dict(zip(names, outputs))
