"""When the model does not get there: built-in strategies, and a last call for a best answer."""

from __future__ import annotations

import re
from typing import TYPE_CHECKING

from rlm_desktop.llm.base import ContextOverflowError, Message
from rlm_desktop.rlm import prompts
from rlm_desktop.rlm.budget import BudgetExceeded
from rlm_desktop.rlm.events import Notice
from rlm_desktop.rlm.outcome import Outcome, partial
from rlm_desktop.rlm.parsing import after_final, find_final, prose
from rlm_desktop.sandbox.host import Sandbox

if TYPE_CHECKING:
    from rlm_desktop.rlm.loop import RunTree

_AGGREGATION = re.compile(
    r"\b(how many|count|number of|list (all|every)|all the|every|each|total|most|least|"
    r"frequen|distribution|compare|pairs?)\b",
    re.I,
)

# The strategies are REPL code, so they reach the documents, the sub model and cite() the
# same way the model's own code would.
_LOOKUP = """
_q = {question!r}
try:
    _texts = [h.text for h in context.search(_q, k=5)]
except Exception:
    _texts = []
if not _texts:
    _texts = context.chunks(4000)[:3]
_passages = "\\n\\n".join(f"Passage {{i + 1}}:\\n{{t[:2000]}}" for i, t in enumerate(_texts))
try:
    _answer = llm_query(
        "Answer the question using only these passages. Be brief.\\n"
        f"Question: {{_q}}\\n\\n{{_passages}}"
    ).strip()
except Exception:
    _answer = "The most relevant passage reads: " + _texts[0].strip()[:500]
_marks = "".join(cite(t.strip().split("\\n")[0][:200]) for t in _texts[:3] if t.strip())
FINAL(f"{{_answer}} {{_marks}}")
"""

_MAP_REDUCE = """
_q = {question!r}
_pieces = context.chunks({chunk_chars})
_note = ""
if len(_pieces) > {chunks}:
    _note = (f" (this covers {chunks} of {{len(_pieces)}} parts of the documents: the "
             "sub-call budget allows no more)")
_parts = llm_query_batched([
    f"{{_q}}\\nAnswer only from this text; say 'none' if it has nothing relevant.\\n\\n{{p}}"
    for p in _pieces[:{chunks}]
])
_joined = "\\n".join(f"- part {{i + 1}}: {{p.strip()}}" for i, p in enumerate(_parts))
FINAL(llm_query(f"Combine these partial answers into one answer to: {{_q}}\\n\\n{{_joined}}")
      + _note)
"""


def built_in(tree: RunTree, question: str, sandbox: Sandbox, depth: int) -> Outcome:
    """The model wrote no runnable code: answer with a built-in strategy, marked as such."""
    aggregate = bool(_AGGREGATION.search(question))
    name = "map-reduce" if aggregate else "search-then-read"
    tree.emit(Notice(depth, f"no runnable code from the model: using the built-in {name} strategy"))
    if aggregate:
        budget = tree.tracker.budget
        left = budget.max_subcalls - tree.tracker.subcalls
        chunks = max(1, min(32, left - 1)) if budget.max_subcalls else 32  # one for combining
        code = _MAP_REDUCE.format(question=question, chunks=chunks, chunk_chars=_chunk_chars(tree))
    else:
        code = _LOOKUP.format(question=question)
    result = tree.run_cell(sandbox, code, depth)
    if tree.stopping is not None:
        return partial(tree.stopping, "", fallback=True)
    if result.final:
        answer, reason = result.final, "final"
    else:
        answer, reason = f"The built-in strategy failed: {result.message}", "error"
    return Outcome(answer, reason, fallback=True, cited=result.citations)


def last_call(
    tree: RunTree, messages: list[Message], sandbox: Sandbox, depth: int, last_prose: str
) -> Outcome:
    """No turns are left: ask once for the best answer from what was seen so far."""
    tree.emit(Notice(depth, "iteration limit reached: asking for a best answer"))
    messages.append({"role": "user", "content": prompts.LAST_CALL})
    try:
        reply = tree.ask_root(messages, depth)
    except (BudgetExceeded, ContextOverflowError) as exc:
        return partial(exc, last_prose)
    final = find_final(reply)
    answer = tree.resolve(final, sandbox) if final else None
    text = answer if answer is not None else prose(reply).strip() or last_prose
    return Outcome(
        text,
        "max_iterations",
        best_effort=True,
        cited=tree.cited(sandbox),
        tail=after_final(reply),
    )


def _chunk_chars(tree: RunTree) -> int:
    """The largest chunk one sub-call can take in the sub model's window.

    Two characters a token is the pessimistic rate (logs: numbers, addresses, ids).
    """
    window = tree.sub.describe().get("n_ctx") or 100_000
    return max(2000, min(100_000, int((window - tree.config.sub_max_tokens - 300) * 1.8)))
