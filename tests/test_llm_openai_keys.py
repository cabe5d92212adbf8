"""Keys through the CLI and an online model pool (the backend and keys module in detail:
test_llm_openai.py, test_keys.py)."""

import json
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import keyring
import keyring.backend
import pytest
from keyring.backends import fail

from rlm_desktop.llm import keys

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
