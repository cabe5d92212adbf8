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
# same way the model's own code would. They cite only passages they gave the sub model, cut
# so that the prompt fits its window.
_LOOKUP = """
_q = {question!r}
try:
    _hits = [h.text for h in context.search(_q, k=5)]
except Exception:
    _hits = []
_texts, _room = [], {budget}
for _t in _hits:
    if _room < 200:
        break
    _texts.append(_t[:_room])
    _room -= len(_texts[-1])
if not _texts:
    FINAL("No passage of the documents shares words with the question, so there is "
          "nothing to answer from.")
else:
    _passages = "\\n\\n".join(f"Passage {{i + 1}}:\\n{{t}}" for i, t in enumerate(_texts))
    try:
        _answer = llm_query(
            "Answer the question using only these passages. Be brief.\\n"
            f"Question: {{_q}}\\n\\n{{_passages}}"
        ).strip()
    except Exception:
        _texts = _texts[:1]
        _answer = "The most relevant passage reads: " + _texts[0].strip()[:500]
    _marks = "".join(cite(_first_sentence(t)) for t in _texts if t.strip())
    FINAL(f"{{_answer}} {{_marks}}")
"""

# The first sentence (or line) of a passage, as the quote that stands for it.
_FIRST_SENTENCE = """
def _first_sentence(text):
    import re as _re
    line = next((l.strip() for l in text.splitlines() if l.strip()), "")
    match = _re.match(r"(.{{20,200}}?[.!?])(\\s|$)", line)
    return match.group(1) if match else line[:200]
"""

_MAP_REDUCE = """
_q = {question!r}
_pieces = context.chunks(max(500, {chunk_chars} - len(_q)))
_note = ""
if len(_pieces) > {chunks}:
    _note = (f" (this covers {chunks} of {{len(_pieces)}} parts of the documents: the "
             "sub-call budget allows no more)")
_parts = llm_query_batched([
    f"{{_q}}\\nAnswer only from this text; say 'none' if it has nothing relevant.\\n\\n{{p}}"
    for p in _pieces[:{chunks}]
])
_share = max(200, {prompt_chars} // max(1, len(_parts)))
_joined = "\\n".join(f"- part {{i + 1}}: {{p.strip()[:_share]}}" for i, p in enumerate(_parts))
FINAL(llm_query(f"Combine these partial answers into one answer to: {{_q}}\\n\\n{{_joined}}")
      + _note)
"""


def built_in(tree: RunTree, question: str, sandbox: Sandbox, depth: int) -> Outcome:
    """The model wrote no runnable code: answer with a built-in strategy, marked as such."""
    aggregate = bool(_AGGREGATION.search(question))
    name = "map-reduce" if aggregate else "search-then-read"
    tree.emit(Notice(depth, f"no runnable code from the model: using the built-in {name} strategy"))
    # Pieces sized in tokens from the sub model's window (counted on this REPL's text).
    room = tree.sizes[sandbox]
    if aggregate:
        left = tree.tracker.budget.max_subcalls - tree.tracker.subcalls
        chunks = max(1, min(32, left - 1)) if tree.tracker.budget.max_subcalls else 32
        code = _MAP_REDUCE.format(
            question=question,
            chunks=chunks,
            chunk_chars=room.chunk_chars,
            prompt_chars=room.prompt_chars,
        )
    else:
        budget = max(500, room.prompt_chars - len(question))
        code = _FIRST_SENTENCE.format() + _LOOKUP.format(question=question, budget=budget)
    because = (
        f"answered by the built-in {name} strategy because the model wrote no runnable code "
        f"in {tree.config.fallback_after} replies"
    )
    result = tree.run_cell(sandbox, code, depth, shown=False)
    if tree.stopping is not None:
        stopped = partial(tree.stopping, "", fallback=True)
        stopped.note = f"{because}, and then {stopped.note}"
        return stopped
    if result.final:
        return Outcome(result.final, "final", fallback=True, cited=result.citations, note=because)
    return Outcome(
        f"The built-in strategy failed: {result.message}",
        "error",
        fallback=True,
        note=f"{because}; the strategy failed too",
    )


def last_call(
    tree: RunTree, messages: list[Message], sandbox: Sandbox, depth: int, last_prose: str
) -> Outcome:
    """No turns are left: ask once for the best answer from what was seen so far."""
    tree.emit(Notice(depth, "iteration limit reached: asking for a best answer"))
    messages.append({"role": "user", "content": prompts.LAST_CALL})
    try:
        reply = tree.ask_root(messages, depth, sandbox)
    except (BudgetExceeded, ContextOverflowError) as exc:
        return partial(exc, last_prose)
    final = find_final(reply)
    answer = tree.resolve(final, sandbox) if final else None
    text = answer if answer is not None else prose(reply).strip() or last_prose
    turns = tree.tracker.budget.max_iterations
    return Outcome(
        text,
        "max_iterations",
        best_effort=True,
        cited=tree.cited(sandbox),
        tail=after_final(reply),
        prose=True,
        note=f"a best-effort answer: the model used all {turns} steps without finishing",
    )
