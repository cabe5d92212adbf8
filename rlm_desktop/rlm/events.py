"""Typed events a run emits as it happens, for live views, traces and saved trajectories."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field


@dataclass(frozen=True)
class Event:
    """Base of all events: where in the run tree it happened."""

    depth: int

    @property
    def kind(self) -> str:
        """The event's name, e.g. ``turn_started``."""
        name = type(self).__name__
        return "".join("_" + c.lower() if c.isupper() else c for c in name).lstrip("_")

    def to_json(self) -> dict:
        """A JSON-safe dict with the event's kind."""
        return {"kind": self.kind, **asdict(self)}


@dataclass(frozen=True)
class TurnStarted(Event):
    turn: int


@dataclass(frozen=True)
class ModelText(Event):
    text: str  # a streamed chunk of the root model's reply


@dataclass(frozen=True)
class CodeRun(Event):
    code: str
    stdout: str
    stderr: str
    error: str | None
    duration_s: float
    explored: int  # library passages this cell showed the model
    read: str = ""  # where they are, in words: "BGL.log lines 1-400, audit.pdf p. 3"


@dataclass(frozen=True)
class SubCallStarted(Event):
    kind_of_call: str
    prompts: list[str] = field(default_factory=list)


@dataclass(frozen=True)
class SubCallEnded(Event):
    kind_of_call: str
    prompts: list[str] = field(default_factory=list)
    responses: list[str] = field(default_factory=list)
    prompt_tokens: int = 0
    completion_tokens: int = 0
    seconds: float = 0.0
    error: str = ""


@dataclass(frozen=True)
class Notice(Event):
    message: str  # guidance given to the model, budget warnings, fallbacks


@dataclass(frozen=True)
class FinalAnswer(Event):
    answer: str
    stop_reason: str
    fallback: bool = False


_BY_KIND = {
    cls.__name__: cls
    for cls in (TurnStarted, ModelText, CodeRun, SubCallStarted, SubCallEnded, Notice, FinalAnswer)
}


def from_json(record: dict) -> Event | None:
    """The event a saved record (``Event.to_json``) describes; None for one it cannot read."""
    name = "".join(part.capitalize() for part in str(record.get("kind", "")).split("_"))
    cls = _BY_KIND.get(name)
    if cls is None:
        return None
    try:
        return cls(**{k: v for k, v in record.items() if k != "kind"})
    except TypeError:  # saved by another version, with other fields
        return None
