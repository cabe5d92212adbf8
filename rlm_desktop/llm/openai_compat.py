"""Any OpenAI-compatible chat-completions server: a cloud provider, llama-server, vLLM, Ollama."""

from __future__ import annotations

import contextlib
import http.client
import json
import logging
import socket
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import Future, ThreadPoolExecutor

from rlm_desktop.llm.base import (
    Backend,
    Completion,
    GenerationSettings,
    Message,
    ModelError,
    Usage,
    failed_alone,
)

log = logging.getLogger(__name__)

_MAX_BACKOFF_S = 30.0
_MAX_MESSAGE_CHARS = 300
_CANCEL_POLL_S = 0.05


class OpenAIBackend(Backend):
    """Chat completions over HTTP; streaming, retries with backoff, bounded concurrency."""

    # Requests are independent and thread-safe, so Backend.complete takes no lock and
    # batch() can run several at once.
    serial = False

    def __init__(
        self,
        model: str,
        base_url: str,
        api_key: str | None = None,
        *,
        timeout_s: float = 120.0,
        retries: int = 3,
        concurrency: int = 4,
        backoff_s: float = 1.0,
    ) -> None:
        super().__init__()
        self.model = model
        self.base_url = base_url.strip().rstrip("/")
        self.spec = f"openai:{model}"
        self._key = api_key or None
        self.timeout_s = timeout_s
        self.retries = max(0, retries)
        self.concurrency = max(1, concurrency)
        self.backoff_s = backoff_s

    def __repr__(self) -> str:
        # The key is deliberately left out: reprs end up in logs and tracebacks.
        return f"OpenAIBackend(model={self.model!r}, base_url={self.base_url!r})"

    def describe(self) -> dict:
        """The model's name and server, for the UI and the CLI (never the key)."""
        return {
            "spec": self.spec,
            "base_url": self.base_url,
            "model": self.model,
            "kind": "openai-compatible",
        }

    # ------------------------------------------------------------------ generation

    def stream(
        self,
        messages: Sequence[Message],
        settings: GenerationSettings,
        usage: Usage,
        cancel: threading.Event | None = None,
    ) -> Iterator[str]:
        """Yield the answer's pieces as the server streams them; stop early on ``cancel``."""
        if cancel is not None and cancel.is_set():
            return  # cancelled before it started: send nothing to the server
        response = self._open(self._body(messages, settings))
        done = threading.Event()
        if cancel is not None:
            _watch_cancel(response, cancel, done)
        pieces = 0
        got_usage = False
        try:
            content_type = (response.headers.get("Content-Type") or "").lower()
            if "json" in content_type and "event-stream" not in content_type:
                # A server that ignores "stream": true answers with one JSON object.
                event = self._json(response.read())
                got_usage = _fill(usage, event.get("usage"))
                for choice in event.get("choices") or []:
                    text = (choice.get("message") or {}).get("content")
                    if text:
                        pieces += 1
                        yield text
                return
            for raw in response:
                if cancel is not None and cancel.is_set():
                    break
                line = raw.decode("utf-8", "replace").strip()
                if not line.startswith("data:"):
                    continue  # blank separators, ": keep-alive" comments, "event:" lines
                payload = line[5:].strip()
                if payload == "[DONE]":
                    break
                try:
                    event = json.loads(payload)
                except ValueError:
                    log.debug("skipping an unparseable event from %s", self.base_url)
                    continue
                if not isinstance(event, dict):
                    continue
                if event.get("error"):
                    raise ModelError(
                        f"the model server at {self.base_url} reported an error: "
                        f"{self._redact(_error_text(event['error']))}"
                    )
                got_usage = _fill(usage, event.get("usage")) or got_usage
                for choice in event.get("choices") or []:
                    text = (choice.get("delta") or {}).get("content")
                    if text:
                        pieces += 1
                        yield text
        except TimeoutError:
            if cancel is not None and cancel.is_set():
                return
            raise ModelError(
                f"the model server at {self.base_url} stopped answering for {self.timeout_s:g} s"
            ) from None
        except (OSError, http.client.HTTPException) as exc:
            if cancel is not None and cancel.is_set():
                return  # we cut the connection ourselves
            raise ModelError(
                f"the connection to the model server at {self.base_url} broke: "
                f"{self._redact(_reason(exc))}"
            ) from None
        finally:
            done.set()
            response.close()
            if not got_usage:
                usage.completion_tokens = pieces  # no usage from the server: a piece ~ a token

    def batch(
        self,
        conversations: Sequence[Sequence[Message]],
        settings: GenerationSettings | None = None,
        cancel: threading.Event | None = None,
        admit: Callable[[], bool] | None = None,
    ) -> list[Completion]:
        """Independent requests, at most ``concurrency`` in flight; answers in input order.
        ``admit`` is asked as each request is about to be sent."""
        if not conversations:
            return []

        def one(conversation: Sequence[Message]) -> Completion:
            if admit is not None and not admit():
                return Completion("", finish_reason="refused")
            return failed_alone(lambda: self.complete(conversation, settings, cancel))

        workers = min(self.concurrency, len(conversations))
        with ThreadPoolExecutor(max_workers=workers, thread_name_prefix="openai") as pool:
            futures: list[Future[Completion]] = [pool.submit(one, c) for c in conversations]
            try:
                return [f.result() for f in futures]
            except BaseException:
                # A cancel or a bug fails the batch: do not send the requests still queued.
                for f in futures:
                    f.cancel()
                raise

    # ------------------------------------------------------------------ HTTP

    def _body(self, messages: Sequence[Message], settings: GenerationSettings) -> dict:
        """The request body; ``grammar`` is llama.cpp-only and has no OpenAI equivalent."""
        body: dict = {
            "model": self.model,
            "messages": [dict(m) for m in messages],
            "max_tokens": settings.max_tokens,
            "temperature": settings.temperature,
            "top_p": settings.top_p,
            "seed": settings.seed,
            "stream": True,
            "stream_options": {"include_usage": True},
        }
        if settings.stop:
            body["stop"] = list(settings.stop)
        if settings.json_schema:
            body["response_format"] = {
                "type": "json_schema",
                "json_schema": {"name": "answer", "schema": settings.json_schema},
            }
        return body

    def _open(self, body: dict) -> http.client.HTTPResponse:
        """POST with retries on 429/5xx and connection errors; return the open response."""
        url = f"{self.base_url}/chat/completions"
        headers = {
            "Content-Type": "application/json",
            "Accept": "text/event-stream, application/json",
        }
        if self._key:
            headers["Authorization"] = f"Bearer {self._key}"
        data = json.dumps(body).encode("utf-8")
        for attempt in range(self.retries + 1):
            last = attempt == self.retries
            request = urllib.request.Request(url, data=data, headers=headers, method="POST")
            retry_after: float | None = None
            try:
                return urllib.request.urlopen(request, timeout=self.timeout_s)
            except urllib.error.HTTPError as exc:
                message = self._redact(_server_message(exc))
                exc.close()
                if not (exc.code == 429 or exc.code >= 500) or last:
                    raise ModelError(
                        f"the model server at {self.base_url} answered {exc.code}: {message}"
                    ) from None
                retry_after = _retry_after(exc)
                failure = f"{exc.code}: {message}"
            except urllib.error.URLError as exc:
                # Raised while connecting or sending: the server is down or unreachable.
                reason = exc.reason
                if isinstance(reason, TimeoutError):
                    failure = f"no connection within {self.timeout_s:g} s"
                    if last:
                        raise ModelError(
                            f"the model server at {self.base_url} did not accept a connection "
                            f"within {self.timeout_s:g} s"
                        ) from None
                else:
                    failure = self._redact(_reason(reason))
                    if last:
                        raise ModelError(
                            f"cannot reach the model server at {self.base_url}: {failure}"
                        ) from None
            except TimeoutError:
                # Connected, but no answer in time: retrying would only wait that long again.
                raise ModelError(
                    f"the model server at {self.base_url} did not answer within "
                    f"{self.timeout_s:g} s"
                ) from None
            except (OSError, http.client.HTTPException) as exc:
                # The server dropped the connection before answering (restarting, overloaded).
                failure = self._redact(_reason(exc))
                if last:
                    raise ModelError(
                        f"cannot reach the model server at {self.base_url}: {failure}"
                    ) from None
            wait = retry_after if retry_after is not None else self.backoff_s * 2**attempt
            wait = min(max(0.0, wait), _MAX_BACKOFF_S)
            log.info(
                "model server at %s: %s; retry %d of %d in %.2f s",
                self.base_url,
                failure,
                attempt + 1,
                self.retries,
                wait,
            )
            time.sleep(wait)
        raise AssertionError("unreachable")  # the last attempt returns or raises

    def _json(self, raw: bytes) -> dict:
        """A whole JSON answer, or a ModelError saying the server sent something else."""
        try:
            event = json.loads(raw.decode("utf-8", "replace"))
        except ValueError:
            raise ModelError(
                f"the model server at {self.base_url} sent an answer that is not JSON"
            ) from None
        if not isinstance(event, dict):
            raise ModelError(f"the model server at {self.base_url} sent an unexpected answer")
        if event.get("error"):
            raise ModelError(
                f"the model server at {self.base_url} reported an error: "
                f"{self._redact(_error_text(event['error']))}"
            )
        return event

    def _redact(self, text: str) -> str:
        """Remove the key from text a server (or the OS) wrote: some servers echo it back."""
        if self._key and self._key in text:
            text = text.replace(self._key, "[redacted]")
        return text


def _watch_cancel(
    response: http.client.HTTPResponse, cancel: threading.Event, done: threading.Event
) -> None:
    """Cut the connection when ``cancel`` is set, so a read that is waiting returns at once."""
    # urllib gives no public handle on the socket; without one, cancel is checked per event.
    sock = getattr(getattr(getattr(response, "fp", None), "raw", None), "_sock", None)
    if sock is None:
        return

    def watch() -> None:
        while not done.is_set():
            if cancel.wait(_CANCEL_POLL_S):
                if not done.is_set():
                    with contextlib.suppress(OSError):  # already closed: nothing to interrupt
                        sock.shutdown(socket.SHUT_RDWR)
                return

    threading.Thread(target=watch, name="openai-cancel", daemon=True).start()


def _fill(usage: Usage, data: object) -> bool:
    """Copy a server's usage object into ``usage``; True if there was one."""
    if not isinstance(data, dict):
        return False
    usage.prompt_tokens = int(data.get("prompt_tokens") or 0)
    usage.completion_tokens = int(data.get("completion_tokens") or 0)
    details = data.get("prompt_tokens_details") or {}
    if isinstance(details, dict):
        usage.cached_tokens = int(details.get("cached_tokens") or 0)
    return True


def _error_text(error: object) -> str:
    """The message of an OpenAI-style ``error`` value (an object or a plain string)."""
    message = error.get("message") if isinstance(error, dict) else error
    return " ".join(str(message or "unknown error").split())[:_MAX_MESSAGE_CHARS]


def _server_message(exc: urllib.error.HTTPError) -> str:
    """The server's own explanation of an HTTP error, on one line."""
    try:
        raw = exc.read().decode("utf-8", "replace")
    except (OSError, http.client.HTTPException):
        raw = ""
    try:
        body = json.loads(raw)
    except ValueError:
        body = None
    if isinstance(body, dict) and body.get("error"):
        return _error_text(body["error"])
    text = " ".join(raw.split()) if raw and not raw.lstrip().startswith("<") else ""
    return (text or str(exc.reason) or "no reason given")[:_MAX_MESSAGE_CHARS]


def _retry_after(exc: urllib.error.HTTPError) -> float | None:
    """The Retry-After header in seconds, if the server sent one in that form."""
    try:
        return float(exc.headers.get("Retry-After", ""))
    except (AttributeError, TypeError, ValueError):
        return None


def _reason(exc: object) -> str:
    """A short, readable reason for a network failure."""
    if isinstance(exc, OSError) and exc.strerror:
        return exc.strerror
    return " ".join(str(exc).split())[:_MAX_MESSAGE_CHARS] or type(exc).__name__
