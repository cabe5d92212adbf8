"""The OpenAI-compatible backend against a fake server on 127.0.0.1, and keychain keys."""

import json
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import keyring
import keyring.backend
import pytest
from keyring.backends import fail

from rlm_desktop.llm import keys
from rlm_desktop.llm.base import GenerationSettings, ModelError
from rlm_desktop.llm.openai_compat import OpenAIBackend

KEY = "sk-test-4f9a-secret"


class FakeServer:
    """Speaks chat completions (streaming and not); fails on demand; records requests."""

    def __init__(self) -> None:
        self.requests: list[dict] = []
        self.fail_next: list[int] = []
        self.always: int | None = None
        self.delay = 0.0
        self.in_flight = 0
        self.max_in_flight = 0
        self.lock = threading.Lock()
        server = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args):
                pass

            def do_POST(self):
                body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
                server.requests.append({"headers": dict(self.headers), "body": body})
                with server.lock:
                    server.in_flight += 1
                    server.max_in_flight = max(server.max_in_flight, server.in_flight)
                try:
                    self.answer(body)
                finally:
                    with server.lock:
                        server.in_flight -= 1

            def answer(self, body):
                status = server.always or (server.fail_next.pop(0) if server.fail_next else 200)
                if status != 200:
                    payload = json.dumps(
                        {"error": {"message": "invalid api key" if status == 401 else "busy"}}
                    ).encode()
                    self.send_response(status)
                    self.send_header("Retry-After", "0")
                    self.send_header("Content-Length", str(len(payload)))
                    self.end_headers()
                    self.wfile.write(payload)
                    return
                text = body["messages"][-1]["content"].upper()
                pieces = [
                    text[: len(text) // 3],
                    text[len(text) // 3 : 2 * len(text) // 3],
                    text[2 * len(text) // 3 :],
                ]
                self.send_response(200)
                self.send_header("Content-Type", "text/event-stream")
                self.end_headers()
                for piece in pieces:
                    time.sleep(server.delay)
                    event = {"choices": [{"delta": {"content": piece}}]}
                    self.wfile.write(f"data: {json.dumps(event)}\n\n".encode())
                    self.wfile.flush()
                usage = {
                    "prompt_tokens": 11,
                    "completion_tokens": 3,
                    "prompt_tokens_details": {"cached_tokens": 7},
                }
                self.wfile.write(
                    f"data: {json.dumps({'choices': [], 'usage': usage})}\n\n".encode()
                )
                self.wfile.write(b"data: [DONE]\n\n")

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}/v1"
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)
        self.thread.start()

    def stop(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()


@pytest.fixture
def server():
    fake = FakeServer()
    yield fake
    fake.stop()


def _ask(text):
    return [{"role": "user", "content": text}]


def test_streaming_answer_usage_and_settings(server):
    backend = OpenAIBackend("tiny", server.url, KEY, backoff_s=0.01)
    settings = GenerationSettings(max_tokens=50, temperature=0.3, stop=("END",), seed=7)
    completion = backend.complete(_ask("hello there"), settings)
    assert completion.text == "HELLO THERE"
    assert (
        completion.usage.prompt_tokens,
        completion.usage.cached_tokens,
        completion.usage.completion_tokens,
    ) == (11, 7, 3)
    request = server.requests[0]
    assert request["headers"]["Authorization"] == f"Bearer {KEY}"
    assert {k: request["body"][k] for k in ("max_tokens", "temperature", "stop", "seed")} == {
        "max_tokens": 50,
        "temperature": 0.3,
        "stop": ["END"],
        "seed": 7,
    }
    anonymous = OpenAIBackend("tiny", server.url, None)
    anonymous.complete(_ask("x"))
    assert "Authorization" not in server.requests[1]["headers"]


def test_429_is_retried_with_backoff_then_succeeds(server):
    server.fail_next = [429, 429]
    completion = OpenAIBackend("m", server.url, KEY, backoff_s=0.01).complete(_ask("ok"))
    assert completion.text == "OK" and len(server.requests) == 3


def test_5xx_forever_gives_up_after_the_retries(server):
    server.always = 500
    with pytest.raises(ModelError, match="answered 500: busy"):
        OpenAIBackend("m", server.url, KEY, retries=2, backoff_s=0.01).complete(_ask("x"))
    assert len(server.requests) == 3


def test_401_fails_at_once_and_never_shows_the_key(server):
    server.always = 401
    backend = OpenAIBackend("m", server.url, KEY, backoff_s=0.01)
    with pytest.raises(ModelError) as info:
        backend.complete(_ask("x"))
    assert "invalid api key" in info.value.message and len(server.requests) == 1
    assert KEY not in info.value.message
    assert KEY not in repr(backend) and KEY not in json.dumps(backend.describe())


def test_an_unreachable_server_is_a_clear_error(server):
    url = server.url
    server.stop()
    with pytest.raises(ModelError, match="cannot reach the model server"):
        OpenAIBackend("m", url, None, retries=1, backoff_s=0.01).complete(_ask("x"))


def test_cancel_stops_the_stream(server):
    server.delay = 0.2
    cancel = threading.Event()
    threading.Timer(0.25, cancel.set).start()
    completion = OpenAIBackend("m", server.url).complete(_ask("abcdefghi"), cancel=cancel)
    assert completion.finish_reason == "cancelled" and completion.text != "ABCDEFGHI"


def test_batch_keeps_order_and_bounds_concurrency(server):
    server.delay = 0.05
    backend = OpenAIBackend("m", server.url, concurrency=2)
    answers = backend.batch([_ask(f"q{i}") for i in range(5)])
    assert [a.text for a in answers] == [f"Q{i}" for i in range(5)]
    assert server.max_in_flight == 2


class MemoryKeyring(keyring.backend.KeyringBackend):
    priority = 1

    def __init__(self):
        super().__init__()
        self.store = {}

    def get_password(self, service, username):
        return self.store.get((service, username))

    def set_password(self, service, username, password):
        self.store[(service, username)] = password

    def delete_password(self, service, username):
        if (service, username) not in self.store:
            raise keyring.errors.PasswordDeleteError(username)
        del self.store[(service, username)]


@pytest.fixture
def memory_keyring():
    previous = keyring.get_keyring()
    backend = MemoryKeyring()
    keyring.set_keyring(backend)
    yield backend
    keyring.set_keyring(previous)
    keys.forget_session_keys()


def test_keys_round_trip_through_the_keychain_only(memory_keyring, isolated_home):
    assert keys.provider_for("https://API.example.com:8443/v1") == "api.example.com:8443"
    keys.set_key("api.example.com", KEY)
    assert memory_keyring.store == {("rlm-desktop", "api.example.com"): KEY}
    assert keys.get_key("api.example.com") == KEY
    assert keys.delete_key("api.example.com") and keys.get_key("api.example.com") is None
    keys.set_key("api.example.com", KEY)
    for path in isolated_home.rglob("*"):
        assert not path.is_file() or KEY not in path.read_text(errors="replace")


def test_without_a_keychain_keys_are_session_only(memory_keyring):
    keyring.set_keyring(fail.Keyring())
    assert not keys.keychain_available()
    with pytest.raises(keys.KeychainUnavailableError, match="this session only"):
        keys.set_key("api.example.com", KEY)
    keys.remember_for_session("api.example.com", KEY)
    assert keys.get_key("api.example.com") == KEY


def test_the_key_cli_stores_via_keyring(memory_keyring):
    from click.testing import CliRunner

    from rlm_desktop.cli import cli

    runner = CliRunner()
    result = runner.invoke(cli, ["key", "set", "localhost:8080", "--stdin"], input=KEY + "\n")
    assert result.exit_code == 0 and KEY not in result.output
    assert memory_keyring.store[("rlm-desktop", "localhost:8080")] == KEY
    assert "deleted" in runner.invoke(cli, ["key", "delete", "localhost:8080"]).output
    keyring.set_keyring(fail.Keyring())
    refused = runner.invoke(cli, ["key", "set", "x", "--stdin"], input="k\n")
    assert refused.exit_code == 1 and "no keychain" in refused.output


def test_an_online_pool_uses_the_stored_key(memory_keyring, server):
    from rlm_desktop.llm.spec import ModelPool
    from rlm_desktop.settings import Settings

    keys.set_key(keys.provider_for(server.url), KEY)
    backend = ModelPool(Settings(offline=False), server.url).get("openai:tiny")
    assert backend.complete(_ask("ping")).text == "PING"
    assert server.requests[-1]["headers"]["Authorization"] == f"Bearer {KEY}"
