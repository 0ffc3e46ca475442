from __future__ import annotations

import pytest

from onnxkit import errors


@pytest.mark.parametrize(("cls", "builtin"), [
    (errors.ModelNotFoundError, FileNotFoundError),
    (errors.InvalidModelError, ValueError),
    (errors.ExternalDataError, ValueError),
    (errors.InputError, ValueError),
    (errors.ParameterError, ValueError),
    (errors.UnsupportedModelError, NotImplementedError),
    (errors.WorkspaceError, OSError),
    (errors.MissingDependencyError, ImportError),
])
def test_errors_also_inherit_the_builtin_callers_expect(cls, builtin):
    assert issubclass(cls, errors.OnnxkitError)
    assert issubclass(cls, builtin)


def test_missing_dependency_names_the_extra():
    from onnxkit.base import require

    with pytest.raises(errors.MissingDependencyError, match=r"onnxkit\[tensorflow\]"):
        require("tf2onnx.no_such_module_here", purpose="Converting Keras models")
