"""The OpenAI-compatible backend against a fake chat-completions server on 127.0.0.1."""

from __future__ import annotations

import json
import logging
import socket
import threading
import traceback
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from rlm_desktop.llm import openai_compat
from rlm_desktop.llm.base import GenerationSettings, ModelError, Usage
from rlm_desktop.llm.openai_compat import OpenAIBackend

KEY = "sk-openai-test-5c2b-secret"
FAST = {"backoff_s": 0.01}  # retries in tests must not slow the suite down


class FakeServer:
    """Speaks chat completions (SSE and plain JSON), fails on demand, records every request.

    The answer is the last user message upper-cased, streamed in 3 pieces.
    """

    def __init__(self) -> None:
        self.requests: list[dict] = []
        self.fail_next: list[int] = []  # statuses to answer the next requests with
        self.always: int | None = None  # a status to answer every request with
        self.error_message = "invalid api key"
        self.retry_after: str | None = "0"
        self.delay_s = 0.0  # pause after each streamed piece
        self.stall_s = 0.0  # pause before answering at all
        self.send_usage = True
        self.ignore_stream = False  # answer with one JSON object even when asked to stream
        self.stream_error: str | None = None  # an error event after the first piece
        self.in_flight = 0
        self.max_in_flight = 0
        self.pieces_sent = 0
        self.lock = threading.Lock()
        self.stopping = threading.Event()  # cuts every sleep short at teardown
        fake = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, format: str, *args: object) -> None:
                pass  # keep pytest's output clean

            def do_POST(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                body = json.loads(self.rfile.read(length) or b"{}")
                with fake.lock:
                    fake.requests.append({"headers": dict(self.headers), "body": body})
                    fake.in_flight += 1
                    fake.max_in_flight = max(fake.max_in_flight, fake.in_flight)
                    status = fake.always or (fake.fail_next.pop(0) if fake.fail_next else 200)
                try:
                    if self.path != "/v1/chat/completions":
                        self.reply_json(404, {"error": {"message": f"no route {self.path}"}})
                    elif status != 200:
                        self.fail(status)
                    else:
                        fake.stopping.wait(fake.stall_s)
                        self.answer(body)
                except (BrokenPipeError, ConnectionResetError):
                    pass  # the client hung up (cancel, timeout): nothing to do
                finally:
                    with fake.lock:
                        fake.in_flight -= 1

            def reply_json(self, status: int, payload: dict, extra: dict | None = None) -> None:
                data = json.dumps(payload).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                for name, value in (extra or {}).items():
                    self.send_header(name, value)
                self.end_headers()
                self.wfile.write(data)

            def fail(self, status: int) -> None:
                message = fake.error_message if status == 401 else f"server busy ({status})"
                extra = {"Retry-After": fake.retry_after} if fake.retry_after else {}
                self.reply_json(status, {"error": {"message": message}}, extra)

            def answer(self, body: dict) -> None:
                user = [m for m in body["messages"] if m["role"] == "user"][-1]["content"]
                text = user.upper()
                cut = len(text) // 3, 2 * len(text) // 3
                pieces = [text[: cut[0]], text[cut[0] : cut[1]], text[cut[1] :]]
                usage = {
                    "prompt_tokens": 11,
                    "completion_tokens": 3,
                    "total_tokens": 14,
                    "prompt_tokens_details": {"cached_tokens": 7},
                }
                if not body.get("stream") or fake.ignore_stream:
                    message = {"role": "assistant", "content": text}
                    choice = {"index": 0, "message": message, "finish_reason": "stop"}
                    self.reply_json(200, {"choices": [choice], "usage": usage})
                    return
                self.send_response(200)
                self.send_header("Content-Type", "text/event-stream")
                self.send_header("Cache-Control", "no-cache")
                self.end_headers()
                self.event({"choices": [{"index": 0, "delta": {"role": "assistant"}}]})
                for i, piece in enumerate(pieces):
                    self.event({"choices": [{"index": 0, "delta": {"content": piece}}]})
                    with fake.lock:
                        fake.pieces_sent += 1
                    if fake.stream_error:
                        self.event({"error": {"message": fake.stream_error}})
                        return
                    if i < len(pieces) - 1 and fake.stopping.wait(fake.delay_s):
                        return
                self.event({"choices": [{"index": 0, "delta": {}, "finish_reason": "stop"}]})
                if fake.send_usage and (body.get("stream_options") or {}).get("include_usage"):
                    self.event({"choices": [], "usage": usage})
                self.wfile.write(b"data: [DONE]\n\n")
                self.wfile.flush()

            def event(self, payload: dict) -> None:
                self.wfile.write(f"data: {json.dumps(payload)}\n\n".encode())
                self.wfile.flush()

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.httpd.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}/v1"
        self.thread = threading.Thread(
            target=self.httpd.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        )
        self.thread.start()

    def stop(self) -> None:
        """Stop serving and wake any handler that is sleeping."""
        self.stopping.set()
        self.httpd.shutdown()
        self.httpd.server_close()
        self.thread.join(timeout=5)


@pytest.fixture
def server() -> Iterator[FakeServer]:
    """A fake server for one test, stopped at teardown."""
    fake = FakeServer()
    try:
        yield fake
    finally:
        fake.stop()


def _ask(text: str) -> list[dict[str, str]]:
    return [{"role": "system", "content": "be brief"}, {"role": "user", "content": text}]


def test_streaming_answer_and_usage(server: FakeServer) -> None:
    backend = OpenAIBackend("tiny", server.url + "/", KEY, **FAST)
    usage = Usage()
    chunks = list(backend.stream(_ask("hello there"), GenerationSettings(), usage))
    assert len(chunks) == 3 and "".join(chunks) == "HELLO THERE"
    assert (usage.prompt_tokens, usage.cached_tokens, usage.completion_tokens) == (11, 7, 3)
    completion = backend.complete(_ask("hello there"))
    assert completion.text == "HELLO THERE" and completion.finish_reason == "stop"
    assert completion.usage.evaluated_prompt_tokens == 4
    assert completion.usage.total_s >= completion.usage.time_to_first_token_s > 0


def test_completion_tokens_are_estimated_without_server_usage(server: FakeServer) -> None:
    server.send_usage = False
    completion = OpenAIBackend("tiny", server.url, **FAST).complete(_ask("abcdef"))
    assert completion.text == "ABCDEF"
    assert (completion.usage.prompt_tokens, completion.usage.completion_tokens) == (0, 3)


def test_a_server_that_ignores_stream_still_answers(server: FakeServer) -> None:
    server.ignore_stream = True
    completion = OpenAIBackend("tiny", server.url, **FAST).complete(_ask("plain json"))
    assert completion.text == "PLAIN JSON"
    assert (completion.usage.prompt_tokens, completion.usage.cached_tokens) == (11, 7)


def test_authorization_header_only_with_a_key(server: FakeServer) -> None:
    OpenAIBackend("tiny", server.url, KEY, **FAST).complete(_ask("x"))
    OpenAIBackend("tiny", server.url, None, **FAST).complete(_ask("x"))
    with_key, without_key = (r["headers"] for r in server.requests)
    assert with_key["Authorization"] == f"Bearer {KEY}"
    assert "Authorization" not in without_key


def test_settings_are_mapped_into_the_request(server: FakeServer) -> None:
    schema = {"type": "object", "properties": {"answer": {"type": "string"}}}
    settings = GenerationSettings(
        max_tokens=50,
        temperature=0.3,
        top_p=0.9,
        stop=("END", "STOP"),
        seed=7,
        grammar='root ::= "x"',
        json_schema=schema,
    )
    OpenAIBackend("tiny-model", server.url, **FAST).complete(_ask("q"), settings)
    body = server.requests[0]["body"]
    assert body["model"] == "tiny-model" and body["messages"] == _ask("q")
    assert body["stream"] is True and body["stream_options"] == {"include_usage": True}
    assert (body["max_tokens"], body["temperature"], body["top_p"]) == (50, 0.3, 0.9)
    assert (body["stop"], body["seed"]) == (["END", "STOP"], 7)
    assert body["response_format"] == {
        "type": "json_schema",
        "json_schema": {"name": "answer", "schema": schema},
    }
    assert "grammar" not in json.dumps(body)


def test_429_is_retried_then_succeeds(server: FakeServer) -> None:
    server.fail_next = [429, 429]
    completion = OpenAIBackend("m", server.url, KEY, **FAST).complete(_ask("ok"))
    assert completion.text == "OK" and len(server.requests) == 3


def test_retry_after_is_honoured(server: FakeServer, monkeypatch) -> None:
    # Retry-After: 0 must win over the 2-second backoff.
    waits: list[float] = []
    monkeypatch.setattr(openai_compat.time, "sleep", waits.append)
    server.fail_next = [429, 503]
    completion = OpenAIBackend("m", server.url, backoff_s=2.0).complete(_ask("ok"))
    assert completion.text == "OK" and len(server.requests) == 3
    assert waits == [0.0, 0.0]


def test_5xx_forever_gives_up_after_the_retries(server: FakeServer) -> None:
    server.always = 500
    server.retry_after = None  # exercise the exponential backoff itself
    backend = OpenAIBackend("m", server.url, KEY, retries=2, **FAST)
    with pytest.raises(ModelError, match=r"answered 500: server busy \(500\)") as info:
        backend.complete(_ask("x"))
    assert len(server.requests) == 3
    assert "\n" not in info.value.message and server.url in info.value.message


def test_401_fails_at_once_without_showing_the_key(
    server: FakeServer, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    server.always = 401
    backend = OpenAIBackend("m", server.url, KEY, **FAST)
    with pytest.raises(ModelError) as info:
        backend.complete(_ask("x"))
    assert len(server.requests) == 1
    assert info.value.message == f"the model server at {server.url} answered 401: invalid api key"
    assert KEY not in str(info.value) and KEY not in caplog.text


def test_a_key_echoed_by_the_server_is_redacted(server: FakeServer) -> None:
    server.always = 401
    server.error_message = f"Incorrect API key provided: {KEY}"
    with pytest.raises(ModelError) as info:
        OpenAIBackend("m", server.url, KEY, **FAST).complete(_ask("x"))
    assert "Incorrect API key provided" in info.value.message
    assert KEY not in info.value.message


def test_other_4xx_are_not_retried(server: FakeServer) -> None:
    server.always = 400
    with pytest.raises(ModelError, match="answered 400"):
        OpenAIBackend("m", server.url, **FAST).complete(_ask("x"))
    assert len(server.requests) == 1


def test_a_closed_port_is_a_clear_error() -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    url = f"http://127.0.0.1:{port}/v1"
    backend = OpenAIBackend("m", url, KEY, retries=1, **FAST)
    with pytest.raises(ModelError, match=r"^cannot reach the model server at ") as info:
        backend.complete(_ask("x"))
    assert url in info.value.message and KEY not in info.value.message


def test_a_server_that_does_not_answer_times_out(server: FakeServer) -> None:
    server.stall_s = 5.0
    backend = OpenAIBackend("m", server.url, timeout_s=0.2, **FAST)
    with pytest.raises(ModelError, match=r"did not answer within 0\.2 s"):
        backend.complete(_ask("x"))
    # A slow server is not retried: each retry would wait as long again.
    assert len(server.requests) == 1


def test_an_error_event_mid_stream_is_a_model_error(server: FakeServer) -> None:
    server.stream_error = "the model crashed"
    with pytest.raises(ModelError, match="reported an error: the model crashed"):
        OpenAIBackend("m", server.url, **FAST).complete(_ask("abcdef"))


def test_cancel_mid_stream_stops_early(server: FakeServer) -> None:
    server.delay_s = 1.0
    cancel = threading.Event()
    backend = OpenAIBackend("m", server.url, **FAST)
    timer = threading.Timer(0.2, cancel.set)
    timer.start()
    try:
        completion = backend.complete(_ask("abcdefghi"), cancel=cancel)
    finally:
        timer.cancel()
    # The read waiting for the second piece is cut at once, not after the server's pause.
    assert completion.finish_reason == "cancelled"
    assert completion.text == "ABC" and server.pieces_sent < 3


def test_cancel_between_pieces_closes_the_stream(server: FakeServer) -> None:
    server.delay_s = 0.5
    cancel = threading.Event()
    chunks = []
    for chunk in OpenAIBackend("m", server.url, **FAST).stream(
        _ask("abcdefghi"), GenerationSettings(), Usage(), cancel
    ):
        chunks.append(chunk)
        cancel.set()
    assert chunks == ["ABC"]


def test_a_cancelled_call_sends_nothing(server: FakeServer) -> None:
    cancel = threading.Event()
    cancel.set()
    completion = OpenAIBackend("m", server.url, **FAST).complete(_ask("x"), cancel=cancel)
    assert completion.finish_reason == "cancelled" and completion.text == ""
    assert server.requests == []


def test_batch_keeps_order_and_bounds_concurrency(server: FakeServer) -> None:
    server.delay_s = 0.03
    backend = OpenAIBackend("m", server.url, KEY, concurrency=2, **FAST)
    answers = backend.batch([_ask(f"question {i}") for i in range(5)])
    assert [a.text for a in answers] == [f"QUESTION {i}" for i in range(5)]
    assert all(a.usage.completion_tokens == 3 for a in answers)
    assert len(server.requests) == 5
    assert server.max_in_flight == 2  # overlapping, but never more than asked for


def test_repr_describe_and_errors_never_contain_the_key(server: FakeServer) -> None:
    backend = OpenAIBackend("tiny", server.url, KEY, **FAST)
    assert backend.spec == "openai:tiny"
    assert backend.describe() == {
        "spec": "openai:tiny",
        "base_url": server.url,
        "model": "tiny",
        "kind": "openai-compatible",
    }
    assert KEY not in repr(backend) and KEY not in str(backend)
    assert KEY not in json.dumps(backend.describe())
    server.always = 500
    with pytest.raises(ModelError) as info:
        OpenAIBackend("tiny", server.url, KEY, retries=0).complete(_ask("x"))
    assert KEY not in repr(info.value)
    assert KEY not in "".join(traceback.format_exception(info.value))
