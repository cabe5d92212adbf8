"""What a cell did, and how the app reads what the child says about it.

The child runs model-written code, so its frames are read as claims: each field is checked,
output is cut to its limit again, a final answer counts only for a cell whose code calls
``FINAL``/``FINAL_VAR`` (a ready ``answer`` dict, only for one that names ``answer``), and
provenance is never taken from it (the host traces it itself).
"""

from __future__ import annotations

import ast
from collections.abc import Callable
from dataclasses import dataclass, field, replace

from rlm_desktop.records import Located, Span
from rlm_desktop.sandbox import protocol
from rlm_desktop.sandbox.context import ContextBase
from rlm_desktop.sandbox.limits import SandboxLimits
from rlm_desktop.sandbox.locate import Hints

_MAX_CITATIONS = 1_000
_SUBCALL_KINDS = ("llm_query", "llm_query_batched", "rlm_query", "rlm_query_batched")


@dataclass(frozen=True)
class Explored(Located):
    """Library text that reached a model: where it is, how it got there and who read it.

    ``reader`` is "root" (output the root model was shown) or "sub-call" (a sub-call's
    prompt, or output a child RLM was shown), at ``depth`` (0 for the root). ``occurrences``
    is 1 when the place is certain; when the text is repeated in the library and nothing
    says which copy was read, it is at least how many places hold it (each is listed).
    The span's ``text`` holds the text read, for checking citations against it.
    """

    span: Span
    context_start: int  # offsets in the library's ``context``
    context_end: int
    via: str  # "printed" or "subcall"
    reader: str = "root"
    depth: int = 0
    occurrences: int = 1

    def to_json(self) -> dict:
        """The JSON record of runs and ``ask --json``: location, offsets and who read it."""
        return {
            **self.span.to_json(),
            "context_start": self.context_start,
            "context_end": self.context_end,
            "via": self.via,
            "reader": self.reader,
            "depth": self.depth,
            "occurrences": self.occurrences,
        }


def trace(
    locator: ContextBase, text: str, via: str, reader: str, depth: int, hints: Hints | None = None
) -> list[Explored]:
    """The library text in ``text`` (output a model was shown, a prompt it was sent), each
    piece with its place, its text and who read it."""
    return [
        Explored(
            replace(place.span, text=locator.piece(start, end)),
            start,
            end,
            via,
            reader,
            depth,
            occurrences,
        )
        for place, occurrences in locator.trace(text, hints)
        for start, end in [(place.context_start, place.context_end)]
    ]


@dataclass
class CellResult:
    """What one cell did. ``error`` is None, or exception / timeout / memory / killed."""

    stdout: str = ""
    stderr: str = ""
    error: str | None = None
    message: str = ""
    changed: list[str] = field(default_factory=list)
    duration_s: float = 0.0
    final: str | None = None
    answer: str | None = None  # the content of the ``answer`` dict the cell made ready
    explored: list[Explored] = field(default_factory=list)
    citations: list[str] = field(default_factory=list)  # snippets registered with cite()
    state_lost: bool = False
    reads: list[tuple[int, int]] = field(default_factory=list)  # places helpers handed out


@dataclass
class SubCallAnswer:
    """The answers to a sub-call, and for a child RLM the citations its answer's ``[n]``
    markers refer to (the REPL takes them as its own)."""

    results: list[str]
    cited: list[tuple[int, str]] = field(default_factory=list)
    read_context: bool = True  # False when a child RLM explored the text instead of a model


@dataclass(frozen=True)
class SubCall:
    """A request from the REPL for model calls: answer with one string per prompt."""

    kind: str  # llm_query, llm_query_batched, rlm_query or rlm_query_batched
    prompts: list[str]
    # rlm_query: the child's text (a list: its pieces); rlm_query_batched: one per prompt.
    context: str | list[str] | None = None


SubCallHandler = Callable[[SubCall], list[str] | SubCallAnswer]
_MAX_READS = 20_000


def read_places(message: dict, length: int) -> list[tuple[int, int]]:
    """The ``reads`` of a frame: places of ``context`` handed to the code, checked to be
    ranges inside it (a forged one can only make the app prefer that copy of a text that
    the output really contains)."""
    value = message.get("reads")
    places = []
    for item in value[:_MAX_READS] if isinstance(value, list) else []:
        if (
            isinstance(item, list)
            and len(item) == 2
            and all(type(x) is int for x in item)
            and 0 <= item[0] < item[1] <= length
        ):
            places.append((item[0], item[1]))
    return places


def read_subcall(message: dict) -> tuple[int, SubCall]:
    """A ``subcall`` frame's id and request, checked field by field."""
    call_id = protocol.field(message, "id", int)
    kind = protocol.field(message, "kind", str)
    prompts = protocol.field(message, "prompts", list)
    context = message.get("context")
    if kind not in _SUBCALL_KINDS:
        raise protocol.ProtocolError(f"unknown sub-call kind {kind!r}")
    if not all(isinstance(p, str) for p in prompts) or not (
        context is None
        or isinstance(context, str)
        or (isinstance(context, list) and all(isinstance(c, str) for c in context))
    ):
        raise protocol.ProtocolError("sub-call prompts must be strings")
    if kind == "rlm_query_batched" and not (
        context is None or (isinstance(context, list) and len(context) == len(prompts))
    ):
        raise protocol.ProtocolError("rlm_query_batched needs one text per prompt")
    return call_id, SubCall(kind, prompts, context)


def read_result(message: dict, code: str, limits: SandboxLimits) -> CellResult:
    """A ``result`` frame as the app believes it: checked, capped, FINAL only if called."""
    error = message.get("error")
    if error not in (None, "exception", "memory"):
        raise protocol.ProtocolError("invalid error kind")
    final = message.get("final")
    if final is not None and not (isinstance(final, str) and calls_final(code)):
        raise protocol.ProtocolError("a final answer from a cell that does not call FINAL")
    # A ready answer counts from a cell that names ``answer``: one left ready by an earlier
    # cell, or set by a function defined earlier, is not this cell's to give.
    answer = message.get("answer")
    if not (isinstance(answer, str) and names(code, ("answer",))):
        answer = None
    changed = _list(message.get("changed"))
    cited = _list(message.get("citations"))
    duration = message.get("duration")
    limit = limits.output_chars
    return CellResult(
        stdout=_cap(protocol.field(message, "stdout", str), limit),
        stderr=_cap(protocol.field(message, "stderr", str), limit),
        error=error,
        message=_cap(str(message.get("message", "")), 2_000),
        changed=[str(name)[:200] for name in changed[:1_000]],
        duration_s=float(duration) if isinstance(duration, (int, float)) else 0.0,
        final=final,
        answer=answer,
        citations=[c for c in cited[:_MAX_CITATIONS] if isinstance(c, str)],
    )


def _list(value: object) -> list:
    return value if isinstance(value, list) else []


def calls_final(code: str) -> bool:
    """True when ``code`` refers to FINAL or FINAL_VAR (only such a cell may end a run)."""
    return names(code, ("FINAL", "FINAL_VAR"))


def names(code: str, wanted: tuple[str, ...]) -> bool:
    """True when ``code`` refers to a variable of one of the ``wanted`` names."""
    try:
        tree = ast.parse(code)
    except (SyntaxError, ValueError):
        return False
    return any(isinstance(node, ast.Name) and node.id in wanted for node in ast.walk(tree))


def _cap(text: str, limit: int) -> str:
    """The child cuts its output to ``limit``; cut it again here in case it did not."""
    marker = len("\n[... output truncated: 999,999,999,999 more characters not shown]")
    if len(text) <= limit + marker:
        return text
    return (
        text[:limit] + f"\n[... output truncated: {len(text) - limit:,} more characters not shown]"
    )
