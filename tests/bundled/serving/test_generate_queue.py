"""The generate extension without a model: the protocol's parameters checked and mapped to
generate's, and which queued requests are decoded together (a decode function that records
its batches and waits for the test's signal: no timing decides anything)."""

from __future__ import annotations

import asyncio
import threading

import pytest

pytest.importorskip("starlette")
from onnxkit.bundled.serving.generate import TextEngine, parse_request, settings  # noqa: E402
from onnxkit.bundled.serving.protocol import RequestError  # noqa: E402


@pytest.mark.parametrize("body, says", [
    (b"not json", "not valid JSON"),
    (b"[1, 2]", "JSON object"),
    (b"{}", "text_input must be a string"),
    (b'{"text_input": 3}', "got int 3"),
    (b'{"text_input": "x", "parameters": "fast"}', "parameters must be a JSON object"),
    (b'{"text_input": "x", "parameters": {"max_tokens": -1}}', "max_tokens"),
    (b'{"text_input": "x", "parameters": {"max_tokens": 0}}', "max_tokens"),
    (b'{"text_input": "x", "parameters": {"max_tokens": 2.5}}', "max_tokens"),
    (b'{"text_input": "x", "parameters": {"max_tokens": true}}', "max_tokens"),
    (b'{"text_input": "x", "parameters": {"temperature": -0.5}}', "temperature"),
    (b'{"text_input": "x", "parameters": {"top_p": 1.5}}', "top_p"),
    (b'{"text_input": "x", "parameters": {"stop": "end"}}', "stop must be a list"),
    (b'{"text_input": "x", "parameters": {"stop": [1]}}', "stop must be a list"),
    (b'{"text_input": "x", "parameters": {"details": "yes"}}', "details"),
    (b'{"text_input": "x", "parameters": {"do_sample": 1}}', "do_sample"),
    (b'{"text_input": "x", "parameters": {"seed": -3}}', "seed"),
])
def test_a_malformed_request_is_a_422_saying_what_is_wrong(body, says):
    with pytest.raises(RequestError) as caught:
        parse_request(body)
    assert caught.value.status == 422
    assert says in str(caught.value)


def test_parameters_map_to_generate_and_unknown_ones_are_ignored_as_the_spec_allows():
    text, kwargs, details = parse_request(
        b'{"text_input": "Hi", "parameters": {"max_tokens": 5, "stop": ["\\n", ""], '
        b'"details": true, "best_of": 3}}')
    assert (text, details) == ("Hi", True)
    assert kwargs == {"max_new_tokens": 5, "stop": ["\n"]}  # greedy: no sampling settings
    assert settings({}) == {"max_new_tokens": 20}  # the spec's default max_tokens
    # JSON Schema's integer takes 7.0 (schemathesis sends such numbers): it is 7 tokens
    assert settings({"max_tokens": 7.0}) == {"max_new_tokens": 7}
    assert settings({"max_tokens": 7.0, "top_k": 3.0, "do_sample": True})["top_k"] == 3
    sampled = settings({"do_sample": True, "temperature": 0.7, "top_k": 5, "top_p": 0.9,
                        "seed": 1, "repetition_penalty": 1.2})
    assert sampled == {"max_new_tokens": 20, "do_sample": True, "temperature": 0.7,
                       "top_k": 5, "top_p": 0.9, "seed": 1, "repetition_penalty": 1.2}
    # temperature 0 and top_p 0 are valid by the spec and mean the most likely token
    assert "do_sample" not in settings({"do_sample": True, "temperature": 0})
    assert "do_sample" not in settings({"do_sample": True, "top_p": 0})


class Result:
    def __init__(self, text):
        self.text, self.finish_reason, self.tokens = text, "length", [1]


class Decoder:
    """Echoes each prompt as one piece; records every batch; the first call waits until
    released, so the requests sent meanwhile queue up behind it."""

    def __init__(self):
        self.batches: list[list[str]] = []
        self.release = threading.Event()

    def __call__(self, prompts, kwargs):
        self.batches.append(list(prompts))
        if len(self.batches) == 1:
            assert self.release.wait(30)
        if "fail" in prompts:
            raise ValueError("bad prompt")

        class Stream:
            results = [Result(p.upper()) for p in prompts]

            def __iter__(self):
                return iter(enumerate(prompts))
        return Stream()


async def _answer(engine, prompt, kwargs):
    queued = engine.submit(prompt, kwargs)
    events = []
    while not events or events[-1][0] == "piece":
        events.append(await queued.events.get())
    return events


def test_requests_queued_with_equal_settings_are_decoded_together():
    decoder = Decoder()

    async def scenario():
        engine = TextEngine(generate=decoder, name="m", client_error=KeyError, max_batch=2)
        first = asyncio.ensure_future(_answer(engine, "a", {"max_new_tokens": 4}))
        while not decoder.batches:  # the decoder holds "a"
            await asyncio.sleep(0.001)
        others = [asyncio.ensure_future(_answer(engine, p, {"max_new_tokens": n}))
                  for p, n in [("b", 4), ("c", 8), ("d", 4), ("e", 4)]]
        await asyncio.sleep(0)
        decoder.release.set()
        answers = await asyncio.gather(first, *others)
        await engine.stop()
        return answers

    answers = asyncio.run(scenario())
    # b, d share a's settings (max_batch 2 splits b, d | e); c decodes alone
    assert decoder.batches == [["a"], ["b", "d"], ["c"], ["e"]]
    for prompt, events in zip("abcde", answers):
        assert events[0] == ("piece", prompt)
        assert events[1][0] == "done" and events[1][1].text == prompt.upper()


def test_a_failed_generation_answers_every_request_of_its_batch():
    decoder = Decoder()
    decoder.release.set()

    async def scenario():
        engine = TextEngine(generate=decoder, name="m", client_error=KeyError)
        answer = await _answer(engine, "fail", {})
        again = await _answer(engine, "ok", {})  # the decoder thread lives on
        await engine.stop()
        return answer, again

    failed, again = asyncio.run(scenario())
    kind, error = failed[-1]
    assert kind == "error" and error.status == 424 and "bad prompt" in str(error)
    assert again[-1][0] == "done"


def test_a_full_queue_is_a_429():
    decoder = Decoder()

    async def scenario():
        engine = TextEngine(generate=decoder, name="m", client_error=KeyError,
                            max_queue_size=1)
        held = asyncio.ensure_future(_answer(engine, "a", {}))
        while not decoder.batches:
            await asyncio.sleep(0.001)
        engine.submit("b", {})
        with pytest.raises(RequestError) as caught:
            engine.submit("c", {})
        decoder.release.set()
        await held
        await engine.stop()
        return caught.value

    error = asyncio.run(scenario())
    assert error.status == 429 and error.headers["Retry-After"]


def test_with_a_queue_delay_the_first_request_waits_for_company():
    decoder = Decoder()
    decoder.release.set()

    async def scenario():
        # a delay far longer than the test: only max_batch (2) ends the wait
        engine = TextEngine(generate=decoder, name="m", client_error=KeyError, max_batch=2,
                            max_queue_delay_ms=60_000)
        answers = await asyncio.gather(_answer(engine, "a", {}), _answer(engine, "b", {}))
        await engine.stop()
        return answers

    asyncio.run(scenario())
    assert decoder.batches == [["a", "b"]]


class Stepper:
    """Yields one piece per row each time the test allows a step; records how many steps ran
    and whether the iteration was closed before its end."""

    def __init__(self, steps=50):
        self.steps, self.ran, self.closed = steps, 0, False
        self.allow = threading.Semaphore(0)
        self.started = threading.Event()  # a batch is being decoded

    def __call__(self, prompts, kwargs):
        stepper = self

        class Stream:
            results = [Result(p) for p in prompts]

            def __iter__(self):
                stepper.started.set()
                try:
                    for _ in range(stepper.steps):
                        assert stepper.allow.acquire(timeout=30)
                        stepper.ran += 1
                        yield from enumerate(prompts)
                except GeneratorExit:
                    stepper.closed = True
                    raise
        return Stream()


def test_a_batch_whose_clients_all_left_stops_decoding_and_a_queued_one_is_dropped():
    stepper = Stepper()

    async def scenario():
        engine = TextEngine(generate=stepper, name="m", client_error=KeyError, max_batch=2)
        both = [engine.submit(p, {"max_new_tokens": 50}) for p in ("a", "b")]
        queued = engine.submit("c", {"max_new_tokens": 9})  # other settings: waits its turn
        stepper.allow.release()
        first = [await r.events.get() for r in both]  # step 1 reached both clients
        engine.cancel(both[0])
        stepper.allow.release()
        second = await both[1].events.get()  # b is still served after a left
        engine.cancel(both[1])
        engine.cancel(queued)  # left while waiting: never decoded
        stepper.allow.release()  # the step in which the batch sees nobody listening
        while stepper.ran < 3 or not stepper.closed:
            await asyncio.sleep(0.001)
        ends = [await r.events.get() for r in (*both, queued)]
        await engine.stop()
        return engine, first, second, ends

    engine, first, second, ends = asyncio.run(scenario())
    assert first == [("piece", "a"), ("piece", "b")] and second == ("piece", "b")
    # the batch ended at the piece after its last client left: 3 of 50 steps
    assert stepper.closed and stepper.ran == 3
    assert [(kind, e.status) for kind, e in ends] == [("error", 499)] * 3
    assert engine.metrics.cancellations() == {"cancelled": 3, "stopped_batches": 1}
    assert engine.metrics.snapshot()["batches"] == 1  # a and b's; c never ran
    assert "onnxkit_cancelled_total" in engine.metrics.render()


@pytest.mark.parametrize("route", ["generate", "generate_stream"])
def test_a_client_that_disconnects_over_http_frees_the_decoder(route):
    """Real HTTP (uvicorn, Starlette): the client sends, reads what the route gives before the
    end (the first event of a stream, nothing of a plain generate) and closes its socket."""
    import http.client
    import json
    import socket

    import uvicorn

    from onnxkit.bundled.serving.generate import starlette_app

    stepper = Stepper()
    engine = TextEngine(generate=stepper, name="m", client_error=KeyError)
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    server = uvicorn.Server(uvicorn.Config(starlette_app(engine), host="127.0.0.1", port=port,
                                           log_level="error", lifespan="off"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    try:
        while not server.started:
            assert thread.is_alive()
            threading.Event().wait(0.01)
        client = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
        client.request("POST", f"/v2/models/m/{route}", json.dumps({"text_input": "hi"}),
                       {"Content-Type": "application/json"})
        stepper.allow.release()
        if route == "generate_stream":
            reply = client.getresponse()
            assert reply.status == 200 and reply.readline().startswith(b"data: ")
        else:
            while stepper.ran < 1:  # the first step was decoded; its answer is not ready
                threading.Event().wait(0.01)
        client.close()  # the client goes away
        for _ in range(3000):  # the server notices; bounded at 30 s, decides nothing
            if engine.metrics.cancellations()["cancelled"]:
                break
            threading.Event().wait(0.01)
        stepper.allow.release()  # the next piece: nobody listens, the batch stops
        for _ in range(3000):
            if stepper.closed:
                break
            threading.Event().wait(0.01)
        assert engine.metrics.cancellations()["cancelled"] == 1
        assert stepper.closed and stepper.ran == 2
    finally:
        server.should_exit = True
        thread.join(30)
        engine.close()


@pytest.mark.parametrize("route", ["generate", "generate_stream"])
def test_a_request_the_server_cancels_is_cancelled_in_the_engine(route):
    """Ray Serve cancels a request's task when its client leaves (here: before its first
    piece, while the handler still waits): the engine hears of it."""
    import json

    from starlette.requests import Request

    from onnxkit.bundled.serving.generate import GenerateHandler

    stepper = Stepper()

    async def scenario():
        engine = TextEngine(generate=stepper, name="m", client_error=KeyError)
        handler = GenerateHandler(engine, token=None, open_metrics=False)
        sent = {"body": False}

        async def receive():
            if not sent["body"]:
                sent["body"] = True
                return {"type": "http.request", "body": json.dumps({"text_input": "hi"}).encode(),
                        "more_body": False}
            await asyncio.Event().wait()  # the client says nothing more

        scope = {"type": "http", "method": "POST", "path": f"/v2/models/m/{route}",
                 "headers": [(b"content-type", b"application/json")], "query_string": b""}
        task = asyncio.ensure_future(handler(Request(scope, receive)))
        while not stepper.started.is_set():  # decoding, no piece made yet
            await asyncio.sleep(0.001)
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
        stepper.allow.release()  # the first piece: nobody listens
        while not stepper.closed:
            await asyncio.sleep(0.001)
        assert stepper.ran == 1
        await engine.stop()
        return engine.metrics.cancellations()

    assert asyncio.run(scenario()) == {"cancelled": 1, "stopped_batches": 1}
