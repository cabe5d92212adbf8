"""Batches whose members fail alone: ``llm_query_batched`` and ``rlm_query_batched``.

One member that fails (a prompt too long for the sub model's window, a model error, a child
RLM that could not start) gets a message in its place; the others' answers stand, and the
trajectory says which member failed and why. Child RLMs of a batch run a few at a time:
each has its own REPL process, and their root turns share the one root model.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import TYPE_CHECKING

from rlm_desktop.errors import RlmDesktopError
from rlm_desktop.llm.base import Backend
from rlm_desktop.rlm import prompts
from rlm_desktop.rlm.budget import BudgetExceeded
from rlm_desktop.rlm.events import Notice
from rlm_desktop.sandbox.host import SubCall, SubCallAnswer

if TYPE_CHECKING:
    from rlm_desktop.rlm.loop import RunTree

CHILDREN_AT_ONCE = 4  # child RLMs of one rlm_query_batched running together
_MIN_ANSWER_TOKENS = 64  # a prompt must leave at least this much room (or max_tokens) to answer


def failed(message: str) -> str:
    """What the model finds in the place of a member that failed."""
    return f"[this call failed: {message}]"


def as_plain(call: SubCall) -> SubCall:
    """An ``rlm_query_batched`` at the depth limit: one plain sub-call per question."""
    texts = call.context if isinstance(call.context, list) else [""] * len(call.prompts)
    asked = [prompts.with_text(q, t) for q, t in zip(call.prompts, texts, strict=True)]
    return SubCall("llm_query_batched", asked)


def too_long(sub: Backend, lengths: list[int], max_tokens: int) -> list[str | None]:
    """For each prompt (its length in tokens), why it cannot fit a sub-call's window (None
    when it fits)."""
    capacity = sub.capacity()
    if not capacity.window:
        return [None] * len(lengths)
    room = capacity.window - capacity.overhead - min(max_tokens, _MIN_ANSWER_TOKENS)
    reasons: list[str | None] = []
    for tokens in lengths:
        reasons.append(
            None
            if tokens <= room
            else f"the prompt is {tokens:,} tokens; a sub-call holds about {room:,} with "
            "room to answer: nothing was sent for it"
        )
    return reasons


def each(
    tree: RunTree,
    kind: str,
    asked: list[str],
    lengths: list[int],
    depth: int,
    ask: Callable[[list[str]], list[str]],
) -> list[str]:
    """Answers to a batch of prompts (``lengths``: their tokens): those that fit go to
    ``ask`` together, those that do not get a message in their place."""
    reasons = too_long(tree.sub, lengths, tree.config.sub_max_tokens)
    fitting = [p for p, reason in zip(asked, reasons, strict=True) if reason is None]
    for number, reason in enumerate(reasons, 1):
        if reason is not None:
            tree.emit(Notice(depth, f"{kind} item {number} of {len(asked)} failed: {reason}"))
    if not fitting:
        raise RuntimeError(next(r for r in reasons if r is not None))
    answers = iter(ask(fitting))
    return [next(answers) if reason is None else failed(reason) for reason in reasons]


def children(
    tree: RunTree,
    call: SubCall,
    depth: int,
    run_child: Callable[[RunTree, SubCall, int], SubCallAnswer],
) -> SubCallAnswer:
    """One child RLM per question of an ``rlm_query_batched``, a few at a time; their
    citations are numbered apart so the caller's REPL can take them all."""
    texts = call.context if isinstance(call.context, list) else [""] * len(call.prompts)

    def one(question: str, text: str) -> SubCallAnswer:
        tree.tracker.check(tree.config.sub_max_tokens)
        return run_child(tree, SubCall("rlm_query", [question], text), depth)

    workers = max(1, min(CHILDREN_AT_ONCE, len(call.prompts)))
    with ThreadPoolExecutor(max_workers=workers, thread_name_prefix="rlm-child") as pool:
        futures = [pool.submit(one, q, t) for q, t in zip(call.prompts, texts, strict=True)]
    results: list[str] = []
    cited: list[tuple[int, str]] = []
    for number, future in enumerate(futures, 1):
        try:
            answered = future.result()
        except RlmDesktopError as exc:
            if isinstance(exc, BudgetExceeded) and exc.reason != "max_subcalls":
                tree.stopping = exc
            tree.emit(
                Notice(depth, f"rlm_query_batched item {number} of {len(futures)} failed: {exc}")
            )
            results.append(failed(exc.message))
            continue
        offset = max((n for n, _ in cited), default=0)
        results.append(_renumber(answered.results[0], offset))
        cited += [(n + offset, snippet) for n, snippet in answered.cited]
    return SubCallAnswer(results, cited, read_context=False)


def _renumber(answer: str, offset: int) -> str:
    """A child's ``[n]`` markers moved past the citations of the children before it."""
    if not offset:
        return answer
    return re.sub(r"\[(\d+)\]", lambda m: f"[{int(m.group(1)) + offset}]", answer)
