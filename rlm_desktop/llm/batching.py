"""Continuous batching: one decode loop for every request on one llama.cpp context.

Requests wait in a queue. Each takes a sequence when one is free and the KV cells allow, its
prompt is evaluated in pieces that share steps with the others, and every step one
``llama_decode`` advances all of them. A finished request frees its sequence and cells at
once, and the next waiting prompt takes them in the same loop.

Two kinds of request share the loop:

- a *sub-call* takes any free slot; its cells are returned when it ends. Slots share a
  pool of cells: a prompt is admitted with room for ``ANSWER_RESERVE`` answer tokens, and
  when answers grow past what is free, the newest sub-call is set aside (its cells freed)
  and evaluated again later — it never overflows the cache. Sub-calls whose prompts begin
  alike (a chat template, a question asked of every piece) share those cells.
- a *conversation turn* brings a ``prepare`` function, run in the loop's thread before its
  first step, that picks its own sequence and says how much of the prompt that sequence
  already holds (see ``conversations.py``); its cells stay for the next turn.

A step never holds more tokens than the context's ``n_batch`` (more aborts the process) and
is sized so that it lasts about ``STEP_SECONDS``: a cancelled request ends within a second.
"""

from __future__ import annotations

import codecs
import logging
import threading
import time
from collections import deque
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

from rlm_desktop.llm.base import Completion, GenerationSettings, ModelError, Usage
from rlm_desktop.llm.native import NO_KV_SLOT, NativeContext, NativeModel, Sampler

log = logging.getLogger(__name__)

# Answer tokens a sub-call's admission sets aside; longer answers grow into free cells.
ANSWER_RESERVE = 128
# How long one decode step should take: the longest wait for a cancel to be seen.
STEP_SECONDS = 0.4
_MIN_STEP_TOKENS = 16
# Shorter beginnings shared between sub-calls are evaluated again rather than copied.
MIN_SHARED = 8


@dataclass(eq=False)
class Request:
    """One prompt to answer, and (filled in by the loop) its answer."""

    prompt: list[int]
    max_tokens: int
    settings: GenerationSettings
    stops: Sequence[str] = ()
    cancel: threading.Event | None = None
    # Called just before the request takes a slot; False refuses it (a budget ran out).
    admit: Callable[[], bool] | None = None
    # Text as it is generated (in the loop's thread), then None once the request has ended.
    on_text: Callable[[str | None], None] | None = None
    # A conversation turn: picks its sequence, returns (sequence, prompt tokens it holds).
    prepare: Callable[[NativeContext], tuple[int, int]] | None = None
    # A conversation turn: told (sequence, tokens in its cells) when the turn ends.
    release: Callable[[int, list[int]], None] | None = None
    # After the first ``checkpoint`` prompt tokens are in the cells: on_checkpoint(seq, n).
    checkpoint: int = 0
    on_checkpoint: Callable[[NativeContext, int, list[int]], None] | None = None

    done: threading.Event = field(default_factory=threading.Event)
    result: Completion | None = None
    error: BaseException | None = None

    # The loop's bookkeeping.
    seq: int = -1
    tokens: list[int] = field(default_factory=list)  # prompt, then generated tokens
    pos: int = 0  # how many of ``tokens`` are in the sequence's cells
    cached: int = 0
    generated: int = 0
    text: str = ""
    shown: int = 0  # characters of ``text`` passed to on_text
    finish: str = ""
    admitted: bool = False
    started: float = 0.0
    first_token_s: float = 0.0
    share: tuple[Request, int] | None = None  # a live sub-call whose first cells it can share
    _stopped: threading.Event = field(default_factory=threading.Event)
    _sampler: Sampler | None = None
    _decoder: codecs.IncrementalDecoder | None = None

    @property
    def conversation(self) -> bool:
        return self.prepare is not None

    def stop(self) -> None:
        """Ask the loop to end this request (its answer so far is kept)."""
        self._stopped.set()

    def stopped(self) -> bool:
        return self._stopped.is_set() or (self.cancel is not None and self.cancel.is_set())

    def wait(self) -> Completion:
        """Block until the request has ended; its completion, or the loop's error."""
        self.done.wait()
        if self.error is not None:
            raise self.error
        assert self.result is not None
        return self.result


@dataclass
class SchedulerStats:
    """What the loop did: steps, sequences per step, tokens evaluated, set-asides."""

    steps: int = 0
    live: int = 0  # sum over steps of the sequences in each step
    prompt_tokens: int = 0
    generated_tokens: int = 0
    preempted: int = 0
    seconds: float = 0.0

    @property
    def occupancy(self) -> float:
        """Mean sequences per decode step."""
        return self.live / self.steps if self.steps else 0.0


class Scheduler:
    """The decode loop of one context. ``slots`` are the sequences sub-calls may take and
    ``pool`` the cells they hold together; ``on_full`` frees cells when the cache is full
    (it returns False when it cannot)."""

    def __init__(
        self,
        context: NativeContext,
        model: NativeModel,
        *,
        slots: Sequence[int] = (),
        pool: int = 0,
        on_full: Callable[[], bool] | None = None,
        threads: Callable[[], tuple[int, int]] | None = None,
    ) -> None:
        """``threads`` says, each time the loop starts, how many threads to decode with."""
        self.context, self.model = context, model
        self.pool = pool
        self.on_full = on_full
        self.threads = threads
        self.stats = SchedulerStats()
        self._free = deque(slots)
        self._waiting: deque[Request] = deque()
        self._lock = threading.Lock()
        self._thread: threading.Thread | None = None
        self._closed = False
        self._step_tokens = min(context.n_batch, 64)  # grows once a step's cost is known
        self._token_s = 0.0

    # ------------------------------------------------------------------ callers

    def submit(self, requests: Sequence[Request]) -> None:
        """Queue requests; the loop starts if it is not running."""
        with self._lock:
            if self._closed:
                raise ModelError("the model was closed")
            self._waiting.extend(requests)
            if self._thread is None:
                self._thread = threading.Thread(target=self._loop, name="llama-decode", daemon=True)
                self._thread.start()

    def run(self, requests: Sequence[Request]) -> list[Completion]:
        """Queue requests and wait for all of them; completions in their order."""
        self.submit(requests)
        return [request.wait() for request in requests]

    @property
    def busy(self) -> bool:
        """True while requests are queued or decoding."""
        with self._lock:
            return self._thread is not None

    def settle(self) -> None:
        """Wait for the loop to end once its requests have (it only tidies up by then)."""
        with self._lock:
            thread = self._thread
        if thread is not None and thread is not threading.current_thread():
            thread.join()

    def close(self) -> None:
        """Stop every request and wait for the loop to end."""
        with self._lock:
            self._closed = True
            for request in self._waiting:
                request.stop()
            thread = self._thread
        if thread is not None:
            thread.join()

    # ------------------------------------------------------------------ the loop

    def _loop(self) -> None:
        live: list[Request] = []
        if self.threads is not None:
            self.context.set_threads(*self.threads())
        try:
            while True:
                with self._lock:
                    self._admit(live)
                    if not live:
                        self._thread = None
                        return
                self._step(live)
        except BaseException as exc:  # a broken context fails every request, never hangs one
            log.exception("the decode loop failed")
            error = exc if isinstance(exc, ModelError) else ModelError(f"llama.cpp failed: {exc}")
            with self._lock:
                pending = [*live, *self._waiting]
                self._waiting.clear()
                self._thread = None
            for request in pending:
                request.error = error
                self._end(request)

    def _admit(self, live: list[Request]) -> None:
        """Move waiting requests into sequences while slots and cells allow (in order)."""
        if self._closed:
            for request in [*live, *self._waiting]:
                request.stop()
        for request in [r for r in live if r.stopped()]:
            self._finish(request, "cancelled", live)
        while self._waiting:
            request = self._waiting[0]
            if request.stopped():
                self._waiting.popleft()
                request.tokens = request.tokens or list(request.prompt)
                self._finish(request, "cancelled", live)
                continue
            if not request.conversation:
                if not self._free:
                    return
                need = len(request.tokens or request.prompt) + _reserve(request)
                if any(not r.conversation for r in live) and self._claimed(live) + need > self.pool:
                    return
            self._waiting.popleft()
            try:
                if not request.admitted:
                    if request.admit is not None and not request.admit():
                        request.tokens = list(request.prompt)
                        self._finish(request, "refused", live)
                        continue
                    self._start(request)
                if request.prepare is not None:
                    request.seq, request.cached = request.prepare(self.context)
                    request.pos = request.cached
                else:
                    request.seq = self._free.popleft()
                    request.share = _source(request, live)
            except Exception as exc:  # this request's own setup failed: the others go on
                request.error = exc if isinstance(exc, ModelError) else ModelError(str(exc))
                self._end(request)
                continue
            live.append(request)

    def _start(self, request: Request) -> None:
        request.admitted = True
        request.started = time.perf_counter()
        request.tokens = list(request.prompt)
        s = request.settings
        request._sampler = Sampler(
            self.model,
            temperature=s.temperature,
            top_p=s.top_p,
            seed=s.seed,
            grammar=_grammar(s),
        )
        request._decoder = codecs.getincrementaldecoder("utf-8")("replace")

    def _claimed(self, live: list[Request]) -> int:
        """Cells the live sub-calls hold, or have been promised for their answers."""
        return sum(len(r.tokens) + _reserve(r) for r in live if not r.conversation)

    def _step(self, live: list[Request]) -> None:
        """One decode: a token of every generating request, prompt pieces of the others."""
        self._make_room(live)
        limit = self.context.n_batch
        entries: list[tuple[int, int, int, bool]] = []
        outputs: list[tuple[Request, int]] = []
        checkpoints: list[Request] = []
        prefill = 0
        # Sub-calls whose source has not evaluated their shared beginning yet wait a step.
        ready = [r for r in live if r.share is None or self._shared(r, live)]
        # Generating requests first (one token each), then prompts in the order they came.
        for request in sorted(ready, key=lambda r: len(r.tokens) - r.pos > 1):
            left = len(request.tokens) - request.pos
            if left > 1:
                room = max(self._step_tokens - len(entries), _MIN_STEP_TOKENS)
                left = min(left, room, limit - len(entries))
                if request.checkpoint > request.pos:
                    left = min(left, request.checkpoint - request.pos)
                prefill += left
            if left <= 0 or len(entries) + left > limit:
                continue
            for position in range(request.pos, request.pos + left):
                wants = position == len(request.tokens) - 1
                entries.append((request.tokens[position], position, request.seq, wants))
            request.pos += left
            if request.pos == len(request.tokens):
                outputs.append((request, len(entries) - 1))
            if request.pos == request.checkpoint:
                checkpoints.append(request)
        if not entries:
            return
        started = time.perf_counter()
        status = self.context.decode(entries)
        if status == NO_KV_SLOT:
            self._undo(entries, live)
            if self.on_full is None or not self.on_full():
                raise ModelError("the KV cache is full: lower the context or the batch")
            return
        if status != 0:
            raise ModelError(f"llama.cpp failed to decode a batch (status {status})")
        self._learn(entries, prefill, time.perf_counter() - started)
        for request in checkpoints:
            if request.on_checkpoint is not None:
                request.on_checkpoint(self.context, request.seq, request.tokens[: request.pos])
        for request, index in outputs:
            self._advance(request, index, live)

    def _shared(self, request: Request, live: list[Request]) -> bool:
        """Give a sub-call the cells of the beginning it shares with another, once that one
        has evaluated them; False while it has not."""
        assert request.share is not None
        source, common = request.share
        if source in live and source.pos < common:
            return False
        if source in live:
            self.context.copy(source.seq, request.seq, common)
            request.pos = request.cached = common
        request.share = None
        return True

    def _undo(self, entries: list[tuple[int, int, int, bool]], live: list[Request]) -> None:
        """Put positions back after a decode that changed nothing."""
        counts: dict[int, int] = {}
        for _, _, seq, _ in entries:
            counts[seq] = counts.get(seq, 0) + 1
        for request in live:
            request.pos -= counts.get(request.seq, 0)

    def _learn(
        self, entries: list[tuple[int, int, int, bool]], prefill: int, elapsed: float
    ) -> None:
        """Count the step, and keep steps near STEP_SECONDS from the cost of the last ones."""
        self.stats.steps += 1
        self.stats.live += len({seq for _, _, seq, _ in entries})
        self.stats.prompt_tokens += prefill
        self.stats.seconds += elapsed
        if prefill < _MIN_STEP_TOKENS:
            return
        cost = elapsed / len(entries)
        self._token_s = cost if not self._token_s else 0.7 * self._token_s + 0.3 * cost
        wanted = int(STEP_SECONDS / self._token_s)
        self._step_tokens = max(_MIN_STEP_TOKENS, min(self.context.n_batch, wanted))

    def _make_room(self, live: list[Request]) -> None:
        """Set aside the newest sub-calls while the answers would outgrow the pool."""
        subcalls = [r for r in live if not r.conversation]
        held = sum(len(r.tokens) for r in subcalls)
        while len(subcalls) > 1 and held > self.pool:
            newest = subcalls.pop()
            held -= len(newest.tokens)
            self.context.remove(newest.seq)
            self._free.appendleft(newest.seq)
            live.remove(newest)
            newest.pos = 0
            self.stats.preempted += 1
            with self._lock:
                self._waiting.appendleft(newest)

    def _advance(self, request: Request, index: int, live: list[Request]) -> None:
        """Sample the request's next token and decide whether it has ended."""
        assert request._sampler is not None and request._decoder is not None
        token = request._sampler.sample(self.context, index)
        if not request.generated:
            request.first_token_s = time.perf_counter() - request.started
        if self.model.is_end(token):
            self._finish(request, "stop", live)
            return
        request.generated += 1
        self.stats.generated_tokens += 1
        request.tokens.append(token)
        request.text += request._decoder.decode(self.model.piece(token))
        if self._show(request):
            self._finish(request, "stop", live)
        elif request.generated >= request.max_tokens:
            self._finish(request, "length", live)

    def _show(self, request: Request) -> bool:
        """Pass on the text no stop string can still claim; True when a stop string came."""
        text = request.text
        found = [i for i in (text.find(stop, request.shown) for stop in request.stops) if i >= 0]
        if found:
            request.text = text = text[: min(found)]
            safe = len(text)
        else:
            safe = len(text) - _held_back(text, request.stops)
        if request.on_text is not None and safe > request.shown:
            request.on_text(text[request.shown : safe])
        request.shown = max(request.shown, safe)
        return bool(found)

    def _finish(self, request: Request, reason: str, live: list[Request]) -> None:
        """End a request: free its slot (a sub-call) or hand its cells back (a turn)."""
        request.finish = request.finish or reason
        if request in live:
            live.remove(request)
            if request.conversation:
                if request.release is not None:
                    request.release(request.seq, request.tokens[: request.pos])
            else:
                self.context.remove(request.seq)
                self._free.append(request.seq)
        if request.on_text is not None and request.shown < len(request.text):
            request.on_text(request.text[request.shown :])  # text held back for a stop string
            request.shown = len(request.text)
        usage = Usage(
            prompt_tokens=len(request.prompt),
            cached_tokens=request.cached,
            completion_tokens=request.generated,
            time_to_first_token_s=request.first_token_s,
            total_s=time.perf_counter() - request.started if request.started else 0.0,
        )
        request.result = Completion(request.text, usage, request.finish)
        self._end(request)

    @staticmethod
    def _end(request: Request) -> None:
        if request._sampler is not None:
            request._sampler.close()
        request.done.set()
        if request.on_text is not None:
            request.on_text(None)


def _source(request: Request, live: list[Request]) -> tuple[Request, int] | None:
    """The live sub-call whose prompt shares the longest beginning with this one's, if any
    shares enough to be worth it (prompts of a batch often share a template and a question)."""
    best, longest = None, MIN_SHARED - 1
    for other in live:
        if other.conversation or other.share is not None:
            continue
        common = common_prefix(other.prompt, request.tokens)
        if common > longest:
            best, longest = other, common
    if best is None:
        return None
    return best, min(longest, len(request.tokens) - 1)


def common_prefix(a: Sequence[int], b: Sequence[int]) -> int:
    """How many tokens two prompts share from their beginning."""
    n = 0
    for x, y in zip(a, b, strict=False):
        if x != y:
            break
        n += 1
    return n


def _reserve(request: Request) -> int:
    """Answer tokens a sub-call has been promised but not yet generated."""
    return max(0, min(request.max_tokens, ANSWER_RESERVE) - request.generated)


def _held_back(text: str, stops: Sequence[str]) -> int:
    """Characters at the end of ``text`` that may be the start of a stop string."""
    longest = 0
    for stop in stops:
        for n in range(min(len(stop) - 1, len(text)), longest, -1):
            if text.endswith(stop[:n]):
                longest = n
                break
    return longest


def _grammar(settings: GenerationSettings) -> str | None:
    if settings.grammar:
        return settings.grammar
    if settings.json_schema:
        import json

        from llama_cpp.llama_grammar import json_schema_to_gbnf

        return json_schema_to_gbnf(json.dumps(settings.json_schema))
    return None
