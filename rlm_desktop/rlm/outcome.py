"""How one RLM (the root or a child) ended: its answer, why it stopped, how it got there."""

from __future__ import annotations

from dataclasses import dataclass, field

from rlm_desktop.errors import RlmDesktopError
from rlm_desktop.rlm.budget import BudgetExceeded


@dataclass
class Outcome:
    """How one RLM (root or child) ended."""

    answer: str
    stop_reason: str = "final"
    fallback: bool = False
    best_effort: bool = False
    cited: list[str] = field(default_factory=list)  # snippets registered with cite()
    tail: str = ""  # prose after FINAL in the last reply (may hold [n] "quote" lines)
    prose: bool = False  # the answer was written in prose (its [n] are the quote lines')
    note: str = ""  # why the answer is not a plain one, in words every surface shows


def partial(exc: RlmDesktopError, last_prose: str, fallback: bool = False) -> Outcome:
    """The answer of an RLM that a budget (or the model's window) ended: what it said so far."""
    reason = exc.reason if isinstance(exc, BudgetExceeded) else "context_overflow"
    body = last_prose or "no answer was reached"
    if reason == "cancelled":
        note = "stopped before an answer: the run was cancelled"
    else:
        note = f"a best-effort answer, because {exc.message}"
    return Outcome(
        f"(partial answer — {exc.message}) {body}",
        reason,
        fallback,
        best_effort=True,
        prose=True,
        note=note,
    )
