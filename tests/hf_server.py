"""A local server shaped like Hugging Face for download tests: ``/{repo}/resolve/main/{file}``
answers with a redirect carrying X-Linked-Size and X-Linked-Etag, and the file store behind
it honours Range and If-Range. It can cut a transfer mid-way, lie about the checksum, or
serve something that is not a model; it records what it was asked and how much it sent."""

from __future__ import annotations

import hashlib
import re
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from tests.model_layouts import demo_header

_HUB = re.compile(r"^/(.+)/resolve/main/([^/?]+)$")


@dataclass
class Served:
    """What the server sends, how it misbehaves, and what it was asked."""

    body: bytes
    etag: str = '"v1"'
    linked_sha: str | None = None  # X-Linked-Etag; None: the body's real sha256
    cut_after: list[int] = field(default_factory=list)  # cut these GETs short, in order
    requests: list[dict] = field(default_factory=list)
    sent: int = 0  # body bytes sent in all

    def sha(self) -> str:
        return hashlib.sha256(self.body).hexdigest()


def _handler(served: Served) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def log_message(self, *args) -> None:
            pass

        def do_HEAD(self) -> None:
            self._answer(head=True)

        def do_GET(self) -> None:
            self._answer(head=False)

        def _answer(self, head: bool) -> None:
            served.requests.append(
                {
                    "method": self.command,
                    "path": self.path,
                    "range": self.headers.get("Range"),
                    "if_range": self.headers.get("If-Range"),
                }
            )
            hub = _HUB.match(self.path)
            if hub:  # the hub: a redirect to the file store, with the file's facts
                self.send_response(302)
                self.send_header("Location", f"/store/{hub.group(2)}?signature=x")
                self.send_header("X-Linked-Size", str(len(served.body)))
                self.send_header("X-Linked-Etag", f'"{served.linked_sha or served.sha()}"')
                self.send_header("Content-Length", "0")
                self.end_headers()
                return
            if not self.path.startswith("/store/"):
                self.send_error(404)
                return
            start = 0
            wanted = self.headers.get("Range")
            if wanted and self.headers.get("If-Range") in (None, served.etag):
                start = int(wanted.removeprefix("bytes=").rstrip("-"))
            body = served.body[start:]
            self.send_response(206 if start else 200)
            if start:
                self.send_header("Content-Range", f"bytes {start}-{len(served.body) - 1}/*")
            self.send_header("Content-Length", str(len(body)))
            self.send_header("ETag", served.etag)
            self.send_header("Accept-Ranges", "bytes")
            self.end_headers()
            if head:
                return
            if served.cut_after:
                body = body[: served.cut_after.pop(0)]  # then the connection closes
            self.wfile.write(body)
            served.sent += len(body)

    return Handler


@contextmanager
def serving(monkeypatch: pytest.MonkeyPatch) -> Iterator[Served]:
    """Serve the demo model's header; Hugging Face downloads (HF_ENDPOINT) go here."""
    served = Served(demo_header())
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), _handler(served))
    thread = threading.Thread(target=httpd.serve_forever, args=(0.02,), daemon=True)
    thread.start()
    monkeypatch.setenv("HF_ENDPOINT", f"http://127.0.0.1:{httpd.server_port}")
    try:
        yield served
    finally:
        httpd.shutdown()
        httpd.server_close()
        thread.join()
