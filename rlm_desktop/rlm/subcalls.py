"""Sub-calls from the REPL: ``llm_query``, ``llm_query_batched`` and ``rlm_query``.

``map_chunks`` reaches here as a batch. Every member of a batch is one call of the budget: the
whole batch is refused before it starts unless the budget covers each member.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from rlm_desktop.llm.base import Completion, GenerationSettings, Message, ModelError
from rlm_desktop.rlm import citations, prompts
from rlm_desktop.rlm.budget import BudgetExceeded
from rlm_desktop.rlm.events import Notice, SubCallEnded, SubCallStarted
from rlm_desktop.sandbox.host import SubCall, SubCallAnswer

if TYPE_CHECKING:
    from rlm_desktop.rlm.loop import RunTree

_CHARS_PER_TOKEN = 3  # to project a prompt's cost before the model has counted it


def answer(tree: RunTree, call: SubCall, depth: int) -> list[str] | SubCallAnswer:
    """Answer a sub-call from the REPL of an RLM at ``depth`` (its calls are at depth + 1)."""
    if tree.config.mode == "no-subcalls":
        raise RuntimeError("sub-calls are turned off in this mode (REPL only): use code")
    if call.kind == "rlm_query" and depth + 1 < tree.tracker.budget.max_depth:
        return _child(tree, call, depth + 1)
    asked = _prompts(call)
    _admit(tree, asked, depth)
    return _ask(tree, call.kind, asked, depth + 1)


def _prompts(call: SubCall) -> list[str]:
    """The prompts to send: at the depth limit, a child RLM is one plain sub-call."""
    if call.kind != "rlm_query":
        return list(call.prompts)
    text = call.context if isinstance(call.context, str) else "\n".join(call.context or [])
    return [prompts.with_text(call.prompts[0], text)]


def _admit(tree: RunTree, asked: list[str], depth: int) -> None:
    """Refuse the batch unless the budget covers every member of it.

    A refusal is an error in the REPL, for the model to read. The sub-call budget only
    refuses; any other budget also ends the run once the cell is over.
    """
    sub_max_tokens = tree.config.sub_max_tokens
    try:
        tree.tracker.check(sub_max_tokens, subcalls=len(asked))
        costs = [len(p) // _CHARS_PER_TOKEN + sub_max_tokens for p in asked]
        allowed = tree.tracker.affordable(costs)
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


def _ask(tree: RunTree, kind: str, asked: list[str], depth: int) -> list[str]:
    """Send the prompts to the sub model (together when there are several) and count them."""
    tree.emit(SubCallStarted(depth, kind, list(asked)))
    conversations: list[list[Message]] = [[{"role": "user", "content": p}] for p in asked]
    settings = GenerationSettings(max_tokens=tree.config.sub_max_tokens)
    cancel = tree.tracker.cancel
    results: list[Completion]
    try:
        if len(conversations) == 1:
            with tree.sub.lock:
                results = [tree.sub.complete(conversations[0], settings, cancel)]
        else:
            results = tree.sub.batch(conversations, settings, cancel)
    except ModelError as exc:
        tree.emit(SubCallEnded(depth, kind, list(asked), error=exc.message))
        raise RuntimeError(exc.message) from exc
    for result in results:
        tree.tracker.record(depth, result.usage, subcall=True)
    texts = [r.text for r in results]
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
    if cancel.is_set():
        tree.stopping = tree.tracker.stop_reason()
    return texts


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
    with tree.sub.lock:
        result = tree.sub.complete([{"role": "user", "content": prompt}], settings)
    tree.tracker.record(depth, result.usage, subcall=True)
    return result.text
