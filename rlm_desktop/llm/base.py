"""One small interface for every model backend: stream chat completions, report usage."""

from __future__ import annotations

import threading
import time
from abc import ABC, abstractmethod
from collections.abc import Callable, Iterator, Sequence
from contextlib import nullcontext
from dataclasses import dataclass, field
from functools import partial

from rlm_desktop.errors import RlmDesktopError

Message = dict[str, str]  # {"role": "system" | "user" | "assistant", "content": "..."}


class ModelError(RlmDesktopError):
    """A model could not be loaded or could not answer."""


class ContextOverflowError(ModelError):
    """The prompt (plus the tokens asked for) does not fit the model's context window."""

    def __init__(self, prompt_tokens: int, max_tokens: int, n_ctx: int) -> None:
        super().__init__(
            f"the model was sent {prompt_tokens:,} tokens and needs room for {max_tokens:,} "
            f"more to answer, but its context holds {n_ctx:,}: raise the context size "
            "(Settings, or `rlm-desktop config n_ctx 16384`) or choose a model with a longer one"
        )
        self.prompt_tokens, self.max_tokens, self.n_ctx = prompt_tokens, max_tokens, n_ctx


class OfflineError(ModelError):
    """A network backend was asked for while the app is set to work offline."""


class CancelledError(ModelError):
    """The caller cancelled the generation."""


@dataclass(frozen=True)
class GenerationSettings:
    """How to generate: greedy by default, since sub-calls are meant to be reproducible."""

    max_tokens: int = 512
    temperature: float = 0.0
    top_p: float = 1.0
    stop: tuple[str, ...] = ()
    seed: int = 0
    grammar: str | None = None  # a GBNF grammar (llama.cpp)
    json_schema: dict | None = None


@dataclass
class Usage:
    """What one call cost, or several added up (``calls`` counts them).

    ``cached_tokens`` of the prompt were reused, not evaluated again.
    """

    prompt_tokens: int = 0
    cached_tokens: int = 0
    completion_tokens: int = 0
    time_to_first_token_s: float = 0.0
    total_s: float = 0.0
    calls: int = 1

    @property
    def evaluated_prompt_tokens(self) -> int:
        """Prompt tokens that had to be computed for this call."""
        return self.prompt_tokens - self.cached_tokens

    def add(self, other: Usage) -> None:
        """Add another usage (one call's, or a sum's) to this one."""
        self.calls += other.calls
        self.prompt_tokens += other.prompt_tokens
        self.cached_tokens += other.cached_tokens
        self.completion_tokens += other.completion_tokens
        self.total_s += other.total_s


@dataclass
class Completion:
    """A finished answer and what it cost."""

    text: str
    usage: Usage = field(default_factory=Usage)
    finish_reason: str = "stop"  # stop, length, cancelled, refused (by ``admit``) or error
    error: str = ""  # why a member of a batch failed (finish_reason "error")


# Characters a token stands for where no tokenizer says (a cautious rate: logs, numbers).
CHARS_PER_TOKEN_GUESS = 3


@dataclass(frozen=True)
class Capacity:
    """What sub-calls hold: ``window`` tokens each (prompt and answer; 0: unknown), and
    ``slots`` of them decoded together sharing ``pool`` tokens, each admitted with room for
    ``reserve`` answer tokens (0: all it may write). The chat template adds ``overhead``
    tokens to a one-message prompt. ``exact``: counts come from the model's tokenizer."""

    window: int
    slots: int = 1
    pool: int = 0
    reserve: int = 0
    overhead: int = 0
    exact: bool = False

    def share(self, answer_tokens: int) -> int:
        """Prompt tokens each member of a full batch may have (chat template included)."""
        alone = self.window - answer_tokens
        reserved = min(answer_tokens, self.reserve) if self.reserve else answer_tokens
        together = (self.pool or self.window) // max(1, self.slots) - reserved
        return max(0, min(alone, together))


def failed_alone(answer: Callable[[], Completion]) -> Completion:
    """One member of a batch: its completion, or one that says why it failed (a cancel still
    ends the whole batch)."""
    try:
        return answer()
    except CancelledError:
        raise
    except ModelError as exc:
        return Completion("", finish_reason="error", error=exc.message)


class Backend(ABC):
    """A model. ``stream`` yields text chunks and fills ``usage`` when it ends.

    Backends are used from one worker at a time; ``lock`` serialises callers that share one.
    """

    spec: str = ""
    serial = True  # calls must not overlap (one model, one context)

    def __init__(self) -> None:
        self.lock = threading.RLock()

    @abstractmethod
    def stream(
        self,
        messages: Sequence[Message],
        settings: GenerationSettings,
        usage: Usage,
        cancel: threading.Event | None = None,
    ) -> Iterator[str]:
        """Yield the answer in chunks; fill ``usage`` as it goes; stop early on ``cancel``."""

    def complete(
        self,
        messages: Sequence[Message],
        settings: GenerationSettings | None = None,
        cancel: threading.Event | None = None,
    ) -> Completion:
        """The whole answer at once."""
        settings = settings or GenerationSettings()
        usage = Usage()
        started = time.perf_counter()
        chunks: list[str] = []
        # A local model decodes one sequence at a time; independent HTTP calls need no lock.
        with self.lock if self.serial else nullcontext():
            for chunk in self.stream(messages, settings, usage, cancel):
                if not chunks:
                    usage.time_to_first_token_s = time.perf_counter() - started
                chunks.append(chunk)
        usage.total_s = time.perf_counter() - started
        cancelled = cancel is not None and cancel.is_set()
        reason = "cancelled" if cancelled else self._finish_reason(usage, settings)
        return Completion("".join(chunks), usage, reason)

    def batch(
        self,
        conversations: Sequence[Sequence[Message]],
        settings: GenerationSettings | None = None,
        cancel: threading.Event | None = None,
        admit: Callable[[], bool] | None = None,
    ) -> list[Completion]:
        """Answer independent conversations; backends override this to run them together.

        ``admit`` is asked just before each conversation starts; False refuses it (its
        completion is empty, with finish_reason "refused"). One that fails does not fail
        the others: its completion has finish_reason "error" and says why."""
        return [
            failed_alone(partial(self.complete, c, settings, cancel))
            if admit is None or admit()
            else Completion("", finish_reason="refused")
            for c in conversations
        ]

    def count_tokens(self, text: str) -> int:
        """Tokens in ``text``: exact where the backend has the model's tokenizer, else a
        cautious guess (see ``capacity().exact``)."""
        return len(text) // CHARS_PER_TOKEN_GUESS + 1

    def capacity(self) -> Capacity:
        """What one sub-call, and a batch of them, can hold."""
        return Capacity(window=int(self.describe().get("n_ctx") or 0))

    def describe(self) -> dict:
        """What the model is (name, and metadata where known), for the UI and the CLI."""
        return {"spec": self.spec}

    def close(self) -> None:  # noqa: B027 (most backends hold nothing to release)
        """Release the model's memory."""

    @staticmethod
    def _finish_reason(usage: Usage, settings: GenerationSettings) -> str:
        return "length" if usage.completion_tokens >= settings.max_tokens else "stop"
