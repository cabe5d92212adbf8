"""Sub-calls from the REPL: ``llm_query``, ``llm_query_batched`` and ``rlm_query``.

``map_chunks`` reaches here as a batch. Every sub-call, single or batched, from the root or a
child, goes to the sub model's ``batch``: for a local model that is one continuous-batching
loop. Every member of a batch is one call of the budget: the whole batch is refused before it
starts unless the budget covers each member, and each member is checked again just before
it takes a slot. A prompt that cannot fit the sub model's window is refused, with the size
that would fit, before anything is decoded.

``sizes`` turns the sub model's window into characters of a REPL's own text (counted with
the model's tokenizer on samples of it), for ``map_chunks`` and the built-in strategies.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from rlm_desktop.llm.base import (
    CHARS_PER_TOKEN_GUESS,
    Backend,
    Completion,
    ContextOverflowError,
    GenerationSettings,
    Message,
    ModelError,
)
from rlm_desktop.rlm import batched, citations, prompts
from rlm_desktop.rlm.budget import BudgetExceeded
from rlm_desktop.rlm.events import Notice, SubCallEnded, SubCallStarted
from rlm_desktop.sandbox.context import ContextBase
from rlm_desktop.sandbox.host import DEFAULT_CHUNK_CHARS, SubCall, SubCallAnswer

if TYPE_CHECKING:
    from rlm_desktop.rlm.loop import RunTree

MIN_CHUNK_CHARS = 500
# Tokens left for the question around a map_chunks piece (the REPL subtracts its length too).
_QUESTION_TOKENS = 64
_SAMPLES, _SAMPLE_CHARS = 12, 2_000


@dataclass(frozen=True)
class Sizes:
    """Characters of a REPL's text a sub-call prompt may carry."""

    chunk_chars: int  # one member of a full batch (map_chunks, the map-reduce strategy)
    prompt_chars: int  # one sub-call alone


def sizes(sub: Backend, sub_max_tokens: int, sample: str | ContextBase) -> Sizes:
    """The sub model's window, and its share of a full batch, in characters of ``sample``'s
    kind of text (its densest part, with a tenth to spare), after the answer's tokens."""
    capacity = sub.capacity()
    if not capacity.window:
        return Sizes(DEFAULT_CHUNK_CHARS, DEFAULT_CHUNK_CHARS * 4)
    density = chars_per_token(sub, sample) if capacity.exact else CHARS_PER_TOKEN_GUESS
    frame = capacity.overhead + _QUESTION_TOKENS

    def chars(tokens: int) -> int:
        return max(MIN_CHUNK_CHARS, int((tokens - frame) * density))

    alone = capacity.window - sub_max_tokens
    return Sizes(chars(capacity.share(sub_max_tokens)), chars(alone))


def chars_per_token(sub: Backend, text: str | ContextBase) -> float:
    """Characters per token of the densest of a few samples spread over ``text``, less a
    tenth (logs and tables tokenize densely, prose loosely)."""
    if len(text) <= _SAMPLE_CHARS:
        samples = [text[:]]  # a str, whatever kind of context it came from
    else:
        step = (len(text) - _SAMPLE_CHARS) / (_SAMPLES - 1)
        samples = [text[int(i * step) : int(i * step) + _SAMPLE_CHARS] for i in range(_SAMPLES)]
    rates = [len(s) / sub.count_tokens(s) for s in samples if s.strip()]
    return 0.9 * min(rates) if rates else float(CHARS_PER_TOKEN_GUESS)


def answer(tree: RunTree, call: SubCall, depth: int, room: Sizes) -> list[str] | SubCallAnswer:
    """Answer a sub-call from the REPL of an RLM at ``depth`` (its calls are at depth + 1);
    ``room`` is what a prompt of that REPL's text may hold."""
    if tree.config.mode == "no-subcalls":
        raise RuntimeError("sub-calls are turned off in this mode (REPL only): use code")
    if call.kind == "rlm_query" and depth + 1 < tree.tracker.budget.max_depth:
        return _child(tree, call, depth + 1)
    if call.kind == "rlm_query_batched":
        if depth + 1 < tree.tracker.budget.max_depth:
            return batched.children(tree, call, depth + 1, _child)
        tree.emit(Notice(depth, "rlm_query_batched at the depth limit: asked as plain sub-calls"))
        call = batched.as_plain(call)
    asked = _prompts(call)
    lengths = _admit(tree, asked, depth)
    if call.kind == "llm_query_batched":
        return batched.each(
            tree,
            call.kind,
            asked,
            lengths,
            depth,
            lambda fit: _ask(tree, call.kind, fit, depth + 1, room),
        )
    return _ask(tree, call.kind, asked, depth + 1, room)


def _prompts(call: SubCall) -> list[str]:
    """The prompts to send: at the depth limit, a child RLM is one plain sub-call."""
    if call.kind != "rlm_query":
        return list(call.prompts)
    text = call.context if isinstance(call.context, str) else "\n".join(call.context or [])
    return [prompts.with_text(call.prompts[0], text)]


def _admit(tree: RunTree, asked: list[str], depth: int) -> list[int]:
    """Refuse the batch unless the budget covers every member of it; the prompts' lengths
    in tokens.

    A refusal is an error in the REPL, for the model to read. The sub-call budget only
    refuses; any other budget also ends the run once the cell is over.
    """
    sub_max_tokens = tree.config.sub_max_tokens
    try:
        tree.tracker.check(sub_max_tokens, subcalls=len(asked))
        lengths = [tree.sub.count_tokens(p) for p in asked]
        allowed = tree.tracker.affordable([n + sub_max_tokens for n in lengths])
        if allowed < len(asked):
            raise BudgetExceeded(
                "max_tokens", f"the token budget allows {allowed} of these {len(asked)} sub-calls"
            )
    except BudgetExceeded as exc:
        if exc.reason != "max_subcalls":
            tree.stopping = exc
        else:
            tree.emit(Notice(depth, f"sub-calls refused: {exc.message}"))
        raise RuntimeError(f"{exc.message}; answer with what you have") from exc
    return lengths


def _ask(tree: RunTree, kind: str, asked: list[str], depth: int, room: Sizes) -> list[str]:
    """Send the prompts to the sub model's batch loop and count them."""
    tree.emit(SubCallStarted(depth, kind, list(asked)))
    conversations: list[list[Message]] = [[{"role": "user", "content": p}] for p in asked]
    settings = GenerationSettings(max_tokens=tree.config.sub_max_tokens)
    cancel = tree.tracker.cancel
    ended: list[BudgetExceeded] = []

    def admit() -> bool:
        """The budget, once more, as a prompt is about to take a slot."""
        try:
            tree.tracker.check(settings.max_tokens)
        except BudgetExceeded as exc:
            ended.append(exc)
            return False
        return True

    results: list[Completion]
    try:
        results = tree.sub.batch(conversations, settings, cancel, admit)
    except ContextOverflowError as exc:
        message = _too_long(exc, len(asked), room)
        tree.emit(SubCallEnded(depth, kind, list(asked), error=message))
        raise RuntimeError(message) from exc
    except ModelError as exc:
        tree.emit(SubCallEnded(depth, kind, list(asked), error=exc.message))
        raise RuntimeError(exc.message) from exc
    for result in results:
        if result.finish_reason != "refused":
            tree.tracker.record(depth, result.usage, subcall=True)
    errors = [r.error for r in results if r.finish_reason == "error"]
    if errors and len(errors) == len(results):
        tree.emit(SubCallEnded(depth, kind, list(asked), error=errors[0]))
        raise RuntimeError(errors[0])  # nothing to keep: the call fails as a whole
    texts = [batched.failed(r.error) if r.finish_reason == "error" else r.text for r in results]
    for number, result in enumerate(results, 1):
        if result.finish_reason == "error":
            tree.emit(Notice(depth, f"{kind} item {number} of {len(asked)} failed: {result.error}"))
    tree.emit(
        SubCallEnded(
            depth,
            kind,
            list(asked),
            list(texts),
            sum(r.usage.prompt_tokens for r in results),
            sum(r.usage.completion_tokens for r in results),
            max((r.usage.total_s for r in results), default=0.0),
        )
    )
    if ended:
        refused = sum(r.finish_reason == "refused" for r in results)
        tree.emit(Notice(depth, f"{refused} of {len(asked)} sub-calls refused: {ended[0].message}"))
        tree.stopping = ended[0]
    elif cancel.is_set():
        tree.stopping = tree.tracker.stop_reason()
    return texts


def _too_long(exc: ContextOverflowError, count: int, room: Sizes) -> str:
    """The refusal the model reads, with the size that would fit."""
    which = "the prompt" if count == 1 else f"a prompt of these {count}"
    return (
        f"{which} is {exc.prompt_tokens:,} tokens, and a sub-call holds {exc.n_ctx:,} with "
        f"room for a {exc.max_tokens:,}-token answer: nothing was sent. Give each prompt at "
        f"most about {room.prompt_chars:,} characters of the context; map_chunks(question) "
        f"cuts pieces that fit, as does context.chunks({room.chunk_chars})"
    )


def _child(tree: RunTree, call: SubCall, depth: int) -> SubCallAnswer:
    """Run a child RLM at ``depth`` on the sub-context, in a REPL of its own. Its answer goes
    back with its citations, which the caller's REPL takes as its own."""
    context = call.context if call.context is not None else ""
    with tree.repl(depth, context=context) as sandbox:
        overview = f"{sandbox.context_chars:,} characters of text given by the caller"
        outcome = tree.loop(call.prompts[0], sandbox, depth, overview, [])
    body, numbered = citations.number(outcome.answer, outcome.tail, outcome.cited, outcome.prose)
    return SubCallAnswer([body], numbered, read_context=False)


def ask_one(tree: RunTree, prompt: str, max_tokens: int, depth: int = 1) -> str:
    """One short question to the sub model outside any REPL (the support check), counted
    against the budget like any sub-call."""
    tree.tracker.check(max_tokens, subcalls=1)
    settings = GenerationSettings(max_tokens=max_tokens)
    (result,) = tree.sub.batch([[{"role": "user", "content": prompt}]], settings)
    tree.tracker.record(depth, result.usage, subcall=True)
    return result.text
