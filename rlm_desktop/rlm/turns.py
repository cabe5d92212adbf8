"""Earlier turns of a conversation, as a follow-up question sees them.

The REPL holds every earlier turn in full as ``history_0 … history_n`` (question, answer,
citations, a summary of how it was found) and, when the documents asked about changed
between turns, each turn's documents as ``context_0 … context_n`` (the current ones are
``context``). The first message lists the earlier turns; when they are long, the older ones
are replaced by a summary the sub model writes (they stay whole in the REPL).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from rlm_desktop.store.library import Library

# Characters of earlier questions and answers the first message lists before summarising.
HISTORY_CHARS = 4_000
KEPT_TURNS = 2  # the latest turns, always listed as they were
SUMMARY_TOKENS = 300
_CODE_LINES = 8


def earlier_turns(library: Library | None, conversation: str) -> list[dict]:
    """The conversation's earlier turns, oldest first: question, answer, citations, the
    documents asked about ([]: all) and a summary of the trajectory."""
    if library is None:
        return []
    turns = []
    for run in library.runs(conversation):
        events = library.run(run["id"]).get("events") or []
        turns.append(
            {
                "question": run["question"],
                "answer": run["answer"],
                "citations": [c["snippet"] for c in run["citations"]],
                "scope": list(run.get("scope") or []),
                "trajectory": trajectory_summary(events),
            }
        )
    return turns


def trajectory_summary(events: list[dict]) -> str:
    """How a saved run found its answer, in a few lines: its code and its sub-calls."""
    code = [
        e["code"].strip().splitlines()[0]
        for e in events
        if e.get("kind") == "code_run" and e.get("depth") == 0 and e.get("code", "").strip()
    ]
    subcalls = sum(len(e.get("prompts", [])) for e in events if e.get("kind") == "sub_call_ended")
    lines = [f"{len(code)} code steps, {subcalls} sub-calls"]
    lines += [f"  {line}" for line in code[:_CODE_LINES]]
    if len(code) > _CODE_LINES:
        lines.append(f"  ... and {len(code) - _CODE_LINES} more")
    return "\n".join(lines)


def variables(turns: list[dict]) -> dict[str, Any]:
    """The REPL variables of the earlier turns: ``history`` (all) and ``history_i``."""
    names: dict[str, Any] = {"history": turns}
    names.update({f"history_{i}": turn for i, turn in enumerate(turns)})
    return names


def scope_changed(turns: list[dict], scope: list[str]) -> bool:
    """True when an earlier turn asked about other documents than this one does."""
    return any(sorted(turn["scope"]) != sorted(scope) for turn in turns)


def listed(turns: list[dict], summarise: Callable[[str], str]) -> list[dict]:
    """The turns the first message lists: all of them while short, else a summary of the
    older ones (``summarise`` asks a model) followed by the latest ones."""
    size = sum(len(t["question"]) + min(len(t["answer"]), 400) for t in turns)
    if size <= HISTORY_CHARS or len(turns) <= KEPT_TURNS:
        return turns
    older, latest = turns[:-KEPT_TURNS], turns[-KEPT_TURNS:]
    text = "\n".join(
        f"Q{i}: {t['question']}\nA{i}: {t['answer'][:1_000]}" for i, t in enumerate(older)
    )
    summary = summarise(
        "Summarise these earlier questions and answers of a conversation in at most 150 "
        "words, keeping the exact names, numbers and findings a follow-up question may "
        f"need:\n\n{text}"
    ).strip()
    shown = {
        "question": f"{len(older)} earlier questions, summarised",
        "answer": summary or "(no summary)",
        "index": None,
    }
    return [shown, *({**t, "index": len(older) + i} for i, t in enumerate(latest))]
