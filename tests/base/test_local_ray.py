"""The one local Ray of a process: started from a thread that outlives the caller's, shut
down only when its last user (cluster, serve) leaves."""

from __future__ import annotations

import threading

import pytest

from onnxkit.base import init_ray, release_ray

ray = pytest.importorskip("ray")


def test_the_last_user_to_leave_shuts_ray_down():
    started: list[bool] = []
    caller = threading.Thread(target=lambda: started.append(
        init_ray(ray, None, where="test", num_cpus=1, user="serve")))
    caller.start()
    caller.join()  # the calling thread is gone: Ray is not
    try:
        assert started == [True] and ray.is_initialized()
        assert init_ray(ray, None, where="test", user="cluster") is False  # joins it
        assert release_ray(ray, "serve") is False and ray.is_initialized()
        assert ray.get(ray.put(41)) + 1 == 42  # still answers: the other user keeps it
        assert release_ray(ray, "cluster") is True and not ray.is_initialized()
    finally:
        if ray.is_initialized():
            ray.shutdown()
