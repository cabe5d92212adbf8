"""Any OpenAI-compatible chat-completions server: a cloud provider, llama-server, vLLM, Ollama."""

from __future__ import annotations

import http.client
import json
import logging
import socket
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor

from rlm_desktop.llm.base import (
    Backend,
    Completion,
    GenerationSettings,
    Message,
    ModelError,
    Usage,
)

log = logging.getLogger(__name__)

_MAX_BACKOFF_S = 30.0


class OpenAIBackend(Backend):
    """Chat completions over HTTP; streaming, retries with backoff, bounded concurrency."""

    serial = False  # requests are independent: batch() runs several at once

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
        self.base_url = base_url.rstrip("/")
        self.spec = f"openai:{model}"
        self._key = api_key
        self.timeout_s, self.retries = timeout_s, retries
        self.concurrency, self.backoff_s = concurrency, backoff_s

    def __repr__(self) -> str:
        return f"OpenAIBackend(model={self.model!r}, base_url={self.base_url!r})"

    def describe(self) -> dict:
        return {
            "spec": self.spec,
            "kind": "openai-compatible",
            "base_url": self.base_url,
            "model": self.model,
        }

    # ------------------------------------------------------------------ HTTP

    def _body(self, messages: Sequence[Message], settings: GenerationSettings) -> dict:
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
        headers = {"Content-Type": "application/json", "Accept": "text/event-stream"}
        if self._key:
            headers["Authorization"] = f"Bearer {self._key}"
        data = json.dumps(body).encode("utf-8")
        for attempt in range(self.retries + 1):
            request = urllib.request.Request(url, data=data, headers=headers, method="POST")
            try:
                return urllib.request.urlopen(request, timeout=self.timeout_s)
            except urllib.error.HTTPError as exc:
                message = _server_message(exc)
                retry = exc.code == 429 or exc.code >= 500
                if not retry or attempt == self.retries:
                    raise ModelError(
                        f"the model server at {self.base_url} answered {exc.code}: {message}"
                    ) from None
                wait = _retry_after(exc) or self.backoff_s * 2**attempt
            except (urllib.error.URLError, ConnectionError) as exc:
                reason = getattr(exc, "reason", exc)
                if isinstance(reason, (TimeoutError, socket.timeout)):
                    failure = (
                        f"the model server at {self.base_url} did not answer within "
                        f"{self.timeout_s:g} s"
                    )
                else:
                    failure = f"cannot reach the model server at {self.base_url}: {reason}"
                if attempt == self.retries:
                    raise ModelError(failure) from None
                wait = self.backoff_s * 2**attempt
            except TimeoutError:
                if attempt == self.retries:
                    raise ModelError(
                        f"the model server at {self.base_url} did not answer "
                        f"within {self.timeout_s:g} s"
                    ) from None
                wait = self.backoff_s * 2**attempt
            log.info("model server busy or unreachable; retry %d in %.1f s", attempt + 1, wait)
            time.sleep(min(wait, _MAX_BACKOFF_S))
        raise AssertionError("unreachable")

    def stream(
        self,
        messages: Sequence[Message],
        settings: GenerationSettings,
        usage: Usage,
        cancel: threading.Event | None = None,
    ) -> Iterator[str]:
        response = self._open(self._body(messages, settings))
        pieces = 0
        try:
            for raw in response:
                if cancel is not None and cancel.is_set():
                    break
                line = raw.decode("utf-8", "replace").strip()
                if not line.startswith("data:"):
                    continue
                payload = line[5:].strip()
                if payload == "[DONE]":
                    break
                try:
                    event = json.loads(payload)
                except ValueError:
                    continue
                if event.get("usage"):
                    _fill(usage, event["usage"])
                for choice in event.get("choices") or []:
                    text = (choice.get("delta") or {}).get("content")
                    if text:
                        pieces += 1
                        yield text
        except (OSError, http.client.HTTPException) as exc:
            raise ModelError(f"the connection to {self.base_url} broke: {exc}") from None
        finally:
            response.close()
        if not usage.completion_tokens:
            usage.completion_tokens = pieces  # the server sent no usage: one piece ~ a token

    def batch(self, conversations, settings=None, cancel=None) -> list[Completion]:
        """Independent requests, at most ``concurrency`` in flight; answers in order."""
        with ThreadPoolExecutor(max_workers=max(1, self.concurrency)) as pool:
            futures = [pool.submit(self.complete, c, settings, cancel) for c in conversations]
            return [f.result() for f in futures]


def _fill(usage: Usage, data: dict) -> None:
    usage.prompt_tokens = int(data.get("prompt_tokens") or 0)
    usage.completion_tokens = int(data.get("completion_tokens") or 0)
    details = data.get("prompt_tokens_details") or {}
    usage.cached_tokens = int(details.get("cached_tokens") or 0)


def _server_message(exc: urllib.error.HTTPError) -> str:
    try:
        body = json.loads(exc.read().decode("utf-8", "replace"))
        error = body.get("error")
        message = error.get("message") if isinstance(error, dict) else error
        return str(message or exc.reason)[:300]
    except (ValueError, OSError, AttributeError):
        return str(exc.reason)[:300]


def _retry_after(exc: urllib.error.HTTPError) -> float | None:
    try:
        return float(exc.headers.get("Retry-After", ""))
    except (TypeError, ValueError):
        return None
