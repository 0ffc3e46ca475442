"""Workbench: the tabbed app, driven from Python: current model, rebuilt panels, shared study."""

from __future__ import annotations

import ipywidgets as widgets
import pytest
from graphs import relu_model, save
from panel_helpers import run_code

import onnxkit
from onnxkit.widgets import (
    ClusterPanel,
    ComposePanel,
    DeployPanel,
    InspectPanel,
    OptimizePanel,
    ProviderPanel,
    QuantizePanel,
    ServePanel,
    StudyPanel,
    TunePanel,
    Workbench,
)

TITLES = ("Inspect", "Convert", "Optimize", "Compose", "Quantize", "Tune", "Providers", "Study",
          "Deploy", "Serve", "Cluster")


def _bench(model, **kwargs):
    bench = Workbench(model, namespace={}, **kwargs)
    study = bench.panels["study"]
    study.rounds, study.max_rounds, study.runs = 1, 1, 5
    return bench


def test_tabs_panels_and_header(tiny):
    bench = _bench(tiny)
    assert isinstance(bench.tab, widgets.Tab) and bench.tab.titles == TITLES
    assert list(bench.panels) == [t.lower() for t in TITLES]
    assert [slot.children[0] for slot in bench.tab.children] == list(bench.panels.values())
    kinds = [InspectPanel, None, OptimizePanel, ComposePanel, QuantizePanel, TunePanel,
             ProviderPanel, StudyPanel, DeployPanel, ServePanel, ClusterPanel]
    for panel, kind in zip(bench.panels.values(), kinds):
        assert kind is None or isinstance(panel, kind)
    assert bench.model == tiny and bench.models == [tiny]
    assert bench.panels["quantize"].model == tiny and bench.panels["study"].reference == tiny
    assert "tiny" in bench.current.value and bench.study is None
    assert bench.to_code() == "import onnxkit\n"


def test_a_result_stays_on_its_tab_and_becomes_current_when_asked(tiny):
    bench = _bench(tiny)
    bench.tab.selected_index = 2
    optimize = bench.panels["optimize"]
    optimize.level = "basic"
    optimize.optimize_button.click()
    assert bench.wait(timeout=120) and optimize.error == ""
    optimized = optimize.made
    # offered in the header, measured by the study; nothing else moved
    assert bench.model == tiny and bench.models == [tiny, optimized]
    assert bench.panels["optimize"] is optimize and optimize.comparison.value
    assert bench.tab.selected_index == 2 and bench.panels["quantize"].model == tiny
    assert "Optimize works on <b>tiny</b>" in bench.current.value
    labels = [label for label, _ in bench.choice.options]
    assert " vs the reference: " in labels[1]  # the study's verdict where it is offered
    # the Code views: the panel's and the session's, runnable as pasted
    assert "onnxkit.optimize_pipeline(model" in optimize.code_view.value
    assert "# --- Optimize ---" in bench.code_view.value
    assert run_code(optimize.to_code())["optimized"].path == optimized.path
    bench.use(optimized)
    assert bench.tab.selected_index == 2 and bench.panels["quantize"].model == optimized


def test_optimize_then_quantize_share_the_model_and_the_study(tiny):
    bench = _bench(tiny, follow=True)
    optimize, old_quantize = bench.panels["optimize"], bench.panels["quantize"]
    optimize.level = "basic"
    optimized = optimize.run()
    # the new model is current; the panels that take it are made again for it...
    assert bench.model == optimized and bench.models == [tiny, optimized]
    quantize = bench.panels["quantize"]
    assert quantize is not old_quantize and quantize.model == optimized
    assert bench.tab.children[list(bench.panels).index("quantize")].children == (quantize,)
    assert bench.panels["deploy"].model == optimized and bench.panels["tune"].model == optimized
    # ...except the one that made it, which keeps its result, shown or not, until Use as
    # current on its tab moves it to the current model
    assert bench.panels["optimize"] is optimize and optimize.comparison.value
    bench.tab.selected_index = 2
    assert bench.panels["optimize"] is optimize and "keeps its result" in bench.current.value
    bench.use(bench.model)
    assert bench.panels["optimize"] is not optimize and bench.tab.selected_index == 2
    assert bench.panels["optimize"].model == optimized
    assert "tiny.opt-basic" in bench.current.value

    assert bench.wait(timeout=120)
    assert bench.study.names == ["reference", "opt-basic"]
    assert bench.panels["study"].source == str(optimized.path)

    quantized = quantize.run().rows[-1]
    assert quantized.name == "tiny.opt-basic.int8-dynamic"
    assert bench.model.name == "tiny.opt-basic.int8-dynamic"
    assert bench.wait(timeout=120)
    assert bench.study.names == ["reference", "opt-basic", "opt-basic.int8-dynamic"]

    code = bench.to_code()
    order = [code.index(f"# --- {t} ---") for t in ("Optimize", "Study", "Quantize")]
    assert order == sorted(order) and code.count("# --- Study ---") == 2
    assert code.startswith("import ") and code.count("import onnxkit") == 1
    namespace = run_code(code)
    assert namespace["optimized"].path == optimized.path
    assert namespace["quantized"].path == bench.model.path
    assert namespace["study"].names == bench.study.names


def test_use_as_current_goes_back(tiny):
    bench = _bench(tiny)
    bench.panels["optimize"].level = "basic"
    optimized = bench.panels["optimize"].run()
    assert bench.model == tiny and bench.models == [tiny, optimized]  # offered, not taken
    assert [label for label, _ in bench.choice.options][1].startswith("tiny.opt-basic")
    inspect = bench.panels["inspect"]
    bench.choice.value = 1
    bench.use_button.click()
    assert bench.model == optimized and bench.panels["inspect"] is not inspect
    assert bench.panels["inspect"].run().name == "tiny.opt-basic"
    bench.use(tiny)
    assert bench.model == tiny and bench.panels["optimize"].model == tiny
    assert bench.wait(timeout=120) and bench.study.names == ["reference", "opt-basic"]


def test_a_model_of_another_interface_is_not_offered_to_the_study(tiny, tmp_path):
    bench = _bench(tiny)
    bench.panels["optimize"].level = "basic"
    optimized = bench.panels["optimize"].run()
    relu = save(relu_model(), tmp_path / "relu.onnx")
    bench.use(relu)  # another signature: a current model, but not a variant of the reference
    assert bench.model.name == "relu" and bench.panels["deploy"].model.name == "relu"
    assert bench.wait(timeout=120)
    study = bench.panels["study"]
    assert study.error == "" and not study.busy and bench.study.names == ["reference",
                                                                          "opt-basic"]
    assert study.source_control.options == (str(optimized.path),)  # Add offers what it takes
    assert study.source == str(optimized.path)
    assert "not a variant of the reference" in bench.current.value  # the header says why
    assert "not in the study" in [label for label, _ in bench.choice.options][-1]


@pytest.mark.parametrize("key", ["optimize", "quantize"])
def test_busy_panels_are_made_again_later(tiny, key):
    bench = _bench(tiny)
    panel = bench.panels[key]
    panel.busy = True  # as if an action were running
    bench.use(onnxkit.optimize(tiny, level="basic"))
    assert bench.panels[key] is panel
    panel.busy = False
    bench.tab.selected_index = list(bench.panels).index(key)
    assert bench.panels[key] is not panel and bench.panels[key].model == bench.model
    assert bench.wait(timeout=120)


def test_buttons_in_the_background_and_a_conversion(tiny):
    from sklearn.datasets import load_iris
    from sklearn.linear_model import LogisticRegression

    x, y = load_iris(return_X_y=True)
    namespace = {"clf": LogisticRegression(max_iter=500).fit(x, y),
                 "rows": x[:10].astype("float32")}
    bench = Workbench(tiny, namespace=namespace, follow=True)
    bench.panels["study"].rounds, bench.panels["study"].runs = 1, 5
    optimize = bench.panels["optimize"]
    optimize.level = "basic"
    optimize.optimize_button.click()  # the action, rebuilds and the study's add run off-thread
    assert bench.wait(timeout=120)
    assert optimize.error == "" and bench.model == optimize.optimized
    assert bench.panels["quantize"].model == optimize.optimized
    assert bench.study.names == ["reference", "opt-basic"]

    convert = bench.panels["convert"]
    convert.source, convert.inputs = "clf", "rows"
    convert.convert_button.click()
    assert bench.wait(timeout=120) and convert.error == ""
    converted = convert.result.model
    assert bench.model == converted and bench.panels["deploy"].model == converted
    assert bench.models == [tiny, optimize.optimized, converted]
    # not a variant of tiny (another signature): not offered to the study, which stays as it was
    assert bench.panels["study"].error == "" and "not a variant" in bench.current.value
    assert bench.study.names == ["reference", "opt-basic"]
    code = bench.to_code()
    assert "# --- Convert ---" in code and "onnxkit.convert.from_sklearn(clf, rows" in code
    scope = dict(namespace)
    exec(code, scope)
    assert scope["conversion"].model.path == converted.path
