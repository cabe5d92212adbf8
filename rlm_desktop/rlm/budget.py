"""Budgets for a whole run tree, checked before every model call — never after the fact."""

from __future__ import annotations

import threading
import time
from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass, field

from rlm_desktop.errors import RlmDesktopError
from rlm_desktop.llm.base import Usage
from rlm_desktop.settings import Settings


class BudgetExceeded(RlmDesktopError):
    """A budget ran out (or the caller cancelled); ``reason`` names which."""

    def __init__(self, reason: str, message: str) -> None:
        super().__init__(message)
        self.reason = reason


_DEFAULTS = Settings()


@dataclass(frozen=True)
class Budget:
    """Limits of one run, children included. 0 means no limit."""

    max_iterations: int = _DEFAULTS.max_iterations  # root-loop turns per RLM (and per child)
    max_depth: int = _DEFAULTS.max_depth  # rlm_query depth; at the limit, a plain sub-call
    max_subcalls: int = _DEFAULTS.max_subcalls  # in the whole tree, each member of a batch
    max_tokens: int = _DEFAULTS.max_tokens  # prompt + completion tokens of every call
    max_seconds: float = _DEFAULTS.max_seconds  # wall clock of the whole run

    @classmethod
    def from_settings(cls, settings: Settings, **overrides: int | float | None) -> Budget:
        """The budget the settings describe; ``overrides`` that are not None win, this once."""
        values = {
            "max_iterations": settings.max_iterations,
            "max_depth": settings.max_depth,
            "max_subcalls": settings.max_subcalls,
            "max_tokens": settings.max_tokens,
            "max_seconds": settings.max_seconds,
        }
        values.update({k: v for k, v in overrides.items() if v is not None})
        return cls(**values)  # type: ignore[arg-type]


def _no_calls() -> Usage:
    return Usage(calls=0)


@dataclass
class Tracker:
    """Spending of a run tree, shared by the root and every child RLM (thread-safe)."""

    budget: Budget
    cancel: threading.Event = field(default_factory=threading.Event)
    started: float = field(default_factory=time.monotonic)
    subcalls: int = 0
    by_depth: dict[int, Usage] = field(default_factory=lambda: defaultdict(_no_calls))
    _lock: threading.Lock = field(default_factory=threading.Lock)

    @property
    def tokens(self) -> int:
        """Tokens spent by every call so far."""
        return sum(u.prompt_tokens + u.completion_tokens for u in self.by_depth.values())

    def elapsed(self) -> float:
        """Seconds since the run started."""
        return time.monotonic() - self.started

    def check(self, max_tokens: int, subcalls: int = 0) -> None:
        """Refuse a call that the budget cannot afford (called before every model call).

        A call is allowed while the tokens spent so far are under the limit, so a run ends
        at most one call's ``max_tokens`` past it.
        """
        b = self.budget
        if b.max_seconds and self.elapsed() >= b.max_seconds:
            raise BudgetExceeded("max_seconds", f"the time budget of {b.max_seconds:g} s ran out")
        if self.cancel.is_set():
            raise BudgetExceeded("cancelled", "the run was cancelled")
        if b.max_tokens and self.tokens >= b.max_tokens:
            raise BudgetExceeded(
                "max_tokens", f"the token budget of {b.max_tokens:,} tokens ran out"
            )
        if subcalls and b.max_subcalls and self.subcalls + subcalls > b.max_subcalls:
            left = max(0, b.max_subcalls - self.subcalls)
            raise BudgetExceeded(
                "max_subcalls",
                f"the sub-call budget ({b.max_subcalls}) allows {left} more, "
                f"{subcalls} were asked for",
            )

    def affordable(self, costs: list[int]) -> int:
        """How many calls of these projected token costs the token budget still allows."""
        if not self.budget.max_tokens:
            return len(costs)
        spent = self.tokens
        for count, cost in enumerate(costs):
            if spent >= self.budget.max_tokens:
                return count
            spent += cost
        return len(costs)

    def start_clock(self, on_expiry: Callable[[], None]) -> threading.Timer | None:
        """Call ``on_expiry`` when the time budget ends, so long calls stop mid-way too."""
        if not self.budget.max_seconds:
            return None
        timer = threading.Timer(max(0.0, self.budget.max_seconds - self.elapsed()), on_expiry)
        timer.daemon = True
        timer.start()
        return timer

    def stop_reason(self) -> BudgetExceeded:
        """Why ``cancel`` is set: the time budget, or the caller."""
        if self.budget.max_seconds and self.elapsed() >= self.budget.max_seconds:
            return BudgetExceeded(
                "max_seconds", f"the time budget of {self.budget.max_seconds:g} s ran out"
            )
        return BudgetExceeded("cancelled", "the run was cancelled")

    def record(self, depth: int, usage: Usage, subcall: bool) -> None:
        """Count a finished call exactly once, at its depth."""
        with self._lock:
            self.by_depth[depth].add(usage)
            if subcall:
                self.subcalls += usage.calls

    def usage(self) -> dict:
        """Totals and the breakdown by depth, for results and saved runs."""
        with self._lock:
            by_depth = sorted(self.by_depth.items())
            total = _no_calls()
            for _, spent in by_depth:
                total.add(spent)
            return {
                "total": _counts(total),
                "by_depth": {str(depth): _counts(spent) for depth, spent in by_depth},
                "subcalls": self.subcalls,
                "seconds": round(self.elapsed(), 3),
            }


def _counts(usage: Usage) -> dict:
    """The part of a usage that results and saved runs keep: calls and tokens."""
    return {
        "calls": usage.calls,
        "prompt_tokens": usage.prompt_tokens,
        "cached_tokens": usage.cached_tokens,
        "completion_tokens": usage.completion_tokens,
    }
