"""Child process of ``onnxkit.check``: the checks that run native code which may crash.

Run as a script (``python _check_worker.py MODEL``), it imports only onnx and onnxruntime and
prints one JSON line per finished stage, flushed, so the parent knows where a crash happened.
"""

import json
import sys


def _emit(stage: str, ok: bool, message: str = "", detail: str = "") -> None:
    print(json.dumps({"stage": stage, "ok": ok, "message": message, "detail": detail}), flush=True)


def _checker(path: str) -> None:
    import onnx

    onnx.checker.check_model(path)  # by path: works beyond protobuf's 2 GiB limit
    _emit("checker", True)


def _shapes(path: str) -> None:
    import onnx

    # Weights are not needed to infer shapes: initializers carry their dims in the proto.
    model = onnx.load_model(path, load_external_data=False)
    inferred = onnx.shape_inference.infer_shapes(model, check_type=True, strict_mode=True)
    values = list(inferred.graph.value_info)
    unknown = sum(
        1 for v in values
        if not v.type.tensor_type.HasField("shape")
        or any(not (d.HasField("dim_value") or d.dim_param) for d in v.type.tensor_type.shape.dim)
    )
    _emit("shapes", True, detail=f"{len(values)} intermediate values typed, "
          f"{unknown} with unknown dims")


def _runtime(path: str) -> None:
    import onnx
    import onnxruntime as ort

    options = ort.SessionOptions()
    options.log_severity_level = 3
    if any(o.domain == "ai.onnx.contrib" for o in onnx.load_model(
            path, load_external_data=False).opset_import):  # its custom operators first
        import onnxruntime_extensions

        options.register_custom_ops_library(onnxruntime_extensions.get_library_path())
    ort.InferenceSession(path, options, providers=["CPUExecutionProvider"])
    _emit("runtime", True, detail=f"onnxruntime {ort.__version__} created a CPU session")


def main(path: str) -> None:
    for stage, fn in (("checker", _checker), ("shapes", _shapes), ("runtime", _runtime)):
        try:
            fn(path)
        except Exception as e:  # report and go on: later stages still say something useful
            _emit(stage, False, f"{type(e).__name__}: {e}")


if __name__ == "__main__":
    main(sys.argv[1])
