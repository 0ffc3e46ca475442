"""onnxkit.cluster on a real two-node Ray cluster on this machine (Ray's own multi-node test
harness: a head and a worker node, each a raylet with its own worker processes, on loopback)."""

from __future__ import annotations

import os
import signal

import numpy as np
import pytest
from result_contract import check_result_contract

import onnxkit
from onnxkit.errors import Cancelled, ClusterError, ParameterError

ray = pytest.importorskip("ray")


@pytest.fixture(scope="module")
def cluster():
    from ray.cluster_utils import Cluster

    nodes = Cluster(initialize_head=True, head_node_args={
        "num_cpus": 1, "include_dashboard": False, "node_ip_address": "127.0.0.1"})
    nodes.add_node(num_cpus=1, resources={"accel": 1}, node_ip_address="127.0.0.1")
    connected = onnxkit.cluster.connect(nodes.address)  # 127.0.0.1:port (see conftest)
    yield connected
    connected.shutdown()
    nodes.shutdown()


def test_the_nodes_table_lists_both_nodes_with_their_hardware(cluster):
    table = cluster.nodes()
    assert len(table.nodes) == 2
    for node in table.nodes:
        assert node.alive and node.cpus == 1
        assert "CPUExecutionProvider" in node.providers
        assert node.machine["logical cores"] == os.cpu_count()
    assert [n.resources.get("accel", 0) for n in table.nodes].count(1) == 1
    frame = table.table()
    assert list(frame["cpus"]) == [1.0, 1.0] and "instruction sets" in frame.columns
    assert cluster.node("accel").resources["accel"] == 1
    for result in (cluster, table, table.nodes[0]):
        check_result_contract(result)


def test_evaluation_on_the_cluster_equals_the_local_one(cluster, digits):
    images, labels = digits.inputs["image"], digits.labels
    fp16 = onnxkit.to_fp16(digits.model)
    here = onnxkit.evaluate(fp16, images, labels=labels, reference=digits.model, batch=64,
                            threads=1)
    done = []
    there = onnxkit.evaluate(fp16, images, labels=labels, reference=digits.model, batch=64,
                             threads=1, cluster=cluster,
                             progress=lambda i, total: done.append((i, total)))
    assert there.where.startswith("ray") and there.retried == 0
    assert (there.rows, there.batches, there.score, there.max_abs_err, there.cosine,
            there.agreement) == (here.rows, here.batches, here.score, here.max_abs_err,
                                 here.cosine, here.agreement)  # bit for bit
    assert done[-1] == (8, 8) and len(done) == 8


def test_a_stream_of_batches_and_a_metric(cluster, digits):
    def stream():
        for i in range(0, 448, 64):
            yield {"image": digits.inputs["image"][i:i + 64]}, digits.labels[i:i + 64]

    def mean_top_score(outputs, labels):
        return float(outputs["logits"].max(axis=1).mean())

    local = onnxkit.evaluate(digits.model, stream(), metric=mean_top_score, threads=1)
    remote = onnxkit.evaluate(digits.model, stream(), metric=mean_top_score, threads=1,
                              cluster=cluster)
    assert remote.rows == local.rows == 448 and remote.score == pytest.approx(local.score)
    assert remote.score_name == "metric"


def test_a_killed_worker_has_its_batches_run_again(cluster, digits, tmp_path):
    marker = str(tmp_path / "killed")  # the workers share this machine's filesystem

    def top_score(outputs, labels):
        return float(outputs["logits"].max(axis=1).mean())

    def dies_once(outputs, labels):  # the first batch to get here kills its own worker
        try:
            os.close(os.open(marker, os.O_CREAT | os.O_EXCL))  # once, whichever worker
        except FileExistsError:
            return top_score(outputs, labels)
        os.kill(os.getpid(), signal.SIGKILL)

    images, labels = digits.inputs["image"], digits.labels
    result = onnxkit.evaluate(digits.model, images, labels=labels, metric=dies_once, batch=32,
                              threads=1, cluster=cluster)
    local = onnxkit.evaluate(digits.model, images, labels=labels, metric=top_score, batch=32,
                             threads=1)
    assert os.path.exists(marker) and result.retried == 1  # one worker died, one batch rerun
    assert (result.rows, result.batches, result.score) == (450, 15, local.score)


def test_cancel_stops_the_evaluation(cluster, digits):
    def cancel(done, total):
        raise Cancelled("stop")

    with pytest.raises(Cancelled):
        onnxkit.evaluate(digits.model, digits.inputs["image"], batch=16, cluster=cluster,
                         progress=cancel)


def test_a_study_computes_its_accuracy_on_the_cluster_and_times_on_a_node(cluster, digits):
    data, labels = digits.inputs["image"][128:], digits.labels[128:]
    fast = {"rounds": 2, "max_rounds": 2, "runs": 5}
    local = onnxkit.Study(digits.model, data=data, labels=labels, **fast)
    local.add("fp16", onnxkit.to_fp16(digits.model))
    remote = onnxkit.Study(digits.model, data=data, labels=labels, cluster=cluster, on="accel",
                           **fast)
    remote.add("fp16", onnxkit.to_fp16(digits.model))
    for name in ("reference", "fp16"):
        assert remote[name].score == local[name].score
        assert remote[name].agreement == local[name].agreement
    assert remote["fp16"].p50_ms > 0 and remote["fp16"].peak_mem_bytes is None
    assert "timed on node accel" in remote.settings["where"]


def test_a_node_without_the_provider_is_refused(cluster, digits):
    with pytest.raises(ClusterError, match="has CUDAExecutionProvider; nodes that do: none"):
        onnxkit.sweep(digits.model, providers=["cuda"], cluster=cluster, on="accel")
    with pytest.raises(ClusterError, match="no node matches on='tpu'"):
        cluster.node("tpu")
    with pytest.raises(ParameterError, match="cluster="):
        onnxkit.Study(digits.model, on="accel")


def test_sweep_on_a_node(cluster, digits):
    result = onnxkit.sweep(digits.model, threads=[1], batch=[1, 8], runs=10, rounds=2,
                           cluster=cluster, on="accel")
    assert [r.batch_size for r in result.results] == [1, 8]
    assert np.all(result.table()["runs"] == 10)


def test_a_worker_keeps_the_sessions_of_the_last_few_evaluations_only(cluster):
    from onnxkit.cluster import _map

    def kept(shared, sessions, batch):  # runs on a worker: what it holds now
        import onnxkit.cluster._map as worker_map
        return {"kept": len(worker_map._SESSIONS)}

    seen = [part["kept"] for i in range(_map.KEPT + 3)
            for part in cluster.map_batches(kept, {"evaluation": i}, range(4), lambda: None)[0]]
    # workers are reused across evaluations (so they keep some), never past the bound
    assert 1 < max(seen) <= _map.KEPT


def test_assess_study_and_tune_give_the_same_quality_here_and_on_the_cluster(
        cluster, tmp_path, monkeypatch):
    """One quality path: a two-output model's error, cosine and agreement columns are
    identical whether they were computed here or on the cluster's workers."""
    import graphs

    from onnxkit.bench import Speedup
    from onnxkit.study import _tune

    model = onnxkit.load(graphs.save(graphs.two_output_model(), tmp_path / "two.onnx"))
    data = np.random.default_rng(1).standard_normal((600, 16)).astype(np.float32)
    labels = np.random.default_rng(2).integers(0, 3, 600)
    int8 = onnxkit.quantize.dynamic(model)
    fast = {"rounds": 1, "max_rounds": 1, "runs": 1}

    def columns(row):
        return (row.max_abs_err, row.cosine, row.agreement, row.score)

    def assessed(where):
        return columns(onnxkit.quantize.assess(model, [int8], data, labels=labels,
                                               cluster=where, **fast).rows[1])

    def studied(where):
        study = onnxkit.Study(model, data=data, labels=labels, cluster=where, **fast)
        study.add("int8", int8)
        return columns(study["int8"])

    def tuned(where):
        found = onnxkit.quantize.tune(model, data, labels=labels, max_accuracy_drop=1.0,
                                      budget_s=10_000, cluster=where)
        return columns(next(c for c in found.candidates if c.recipe == "dynamic"))

    # tune's timings injected: only the quality columns matter here
    monkeypatch.setattr(_tune, "head_to_head", lambda *a: (1.0, Speedup(1, 0.9, 1.1, 0.95, 8)))
    here = [assessed(None), studied(None), tuned(None)]
    there = [assessed(cluster), studied(cluster), tuned(cluster)]
    assert here == there
    assert here[0] == here[1] == here[2] and here[0][0] > 0
