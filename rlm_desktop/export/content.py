"""What an export holds, built from saved runs; and the words every surface shows for it.

The window, the exports and ``ask`` all describe a citation's status and a run's outcome with
the helpers here (over ``records``' marks and words), so they always say the same thing.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from rlm_desktop.records import (
    CITATION_STATUSES,
    OUTCOMES,
    citation_mark,
    citation_words,
    outcome_of,
)
from rlm_desktop.rlm.citations import Citation
from rlm_desktop.store.documents import split_page_label
from rlm_desktop.textsafe import printable

FORMATS = ("md", "html", "docx", "pdf")
STATUS_ORDER = tuple(CITATION_STATUSES)  # read first, then in-library, not-found, too-short


@dataclass
class ExportRun:
    """One answered question, ready to write: everything but secrets (runs never hold any)."""

    run_id: int
    question: str
    answer: str
    citations: list[Citation]
    models: dict
    mode: str
    budget: dict
    usage: dict
    stop_reason: str
    fallback: bool
    created_at: str
    events: list[dict] = field(default_factory=list)
    outcome: str = "answer"  # one of records.OUTCOMES
    note: str = ""  # the sentence that introduces the answer ("" for a plain answer)
    profile: str = ""  # the protocol profile ("" for runs saved before profiles)

    @classmethod
    def from_saved(cls, run: dict) -> ExportRun:
        """From ``Library.run(id)``."""
        return cls(
            run_id=run["id"],
            question=run["question"],
            answer=run["answer"],
            citations=[Citation.from_json(c) for c in run["citations"]],
            models=run["models"],
            mode=run["mode"],
            budget=(run.get("settings") or {}).get("budget", {}),
            usage=run["usage"],
            stop_reason=run["stop_reason"],
            fallback=run["fallback"],
            created_at=run["created_at"],
            events=run.get("events") or [],
            outcome=run_outcome(run),
            note=run_note(run),
            profile=run.get("profile") or "",
        )


# ---------------------------------------------------------------------- how a run ended


def run_outcome(run: Mapping[str, Any]) -> str:
    """A run's outcome (``records.OUTCOMES``), worked out for runs saved before outcomes."""
    return run.get("outcome") or outcome_of(
        run.get("stop_reason") or "final",
        bool(run.get("fallback")),
        bool(run.get("best_effort")),
    )


def run_note(run: Mapping[str, Any]) -> str:
    """The sentence that introduces an answer that is not a plain one ("" for a plain one):
    the run's own note, or the outcome's words for runs saved without one."""
    outcome = run_outcome(run)
    if outcome == "answer":
        return ""
    return run.get("note") or OUTCOMES.get(outcome) or outcome


def stop_line(stop_reason: str) -> str:
    """ "stop reason: max_iterations" ("" for a final answer): secondary to the note."""
    return "" if stop_reason == "final" else f"stop reason: {stop_reason}"


# ---------------------------------------------------------------------- citation statuses


def status_label(status: str) -> str:
    """ "✓ read", "○ in library, not read", "✗ not found" or "– too short"."""
    return f"{citation_mark(status)} {citation_words(status)}"


def support_label(support: str | None) -> str:
    """The support check's verdict when one was made ("" for "not checked")."""
    return "" if not support or support == "not checked" else support


def status_text(status: str, support: str | None = "not checked") -> str:
    """ "✓ read" or "✓ read · supports": a citation's status, and its support when checked."""
    verdict = support_label(support)
    return f"{status_label(status)} · {verdict}" if verdict else status_label(status)


def status_meaning(status: str) -> str:
    """What a status means, in a sentence's words."""
    return CITATION_STATUSES.get(status, CITATION_STATUSES["not-found"])[2]


def status_counts(statuses: Iterable[str]) -> str:
    """ "2 ✓ read · 1 ✗ not found" (read first), or "no citations"."""
    statuses = list(statuses)
    counts = [(statuses.count(s), s) for s in STATUS_ORDER if s in statuses]
    return " · ".join(f"{n} {status_label(s)}" for n, s in counts) or "no citations"


def citations_from_records(records: Iterable[dict]) -> list[Citation]:
    """Citations from their JSON records (saved runs of any age, ``ask --json``)."""
    return [Citation.from_json(record) for record in records]


# ---------------------------------------------------------------------- explored passages


def reader_words(record: Mapping[str, Any]) -> str:
    """Who read an explored passage: "root" or "sub-call (depth N)". Passages saved before
    readers were recorded are the root's unless they went into a sub-call."""
    via_subcall = record.get("via") == "subcall"
    reader = record.get("reader") or ("sub-call" if via_subcall else "root")
    if reader == "root":
        return "root"
    return f"sub-call (depth {record.get('depth') or 1})"


def places_words(record: Mapping[str, Any]) -> str:
    """ "one of 3 places" when the passage's text occurs at several places and the run could
    not tell which it read ("" for an exact place)."""
    occurrences = record.get("occurrences") or 1
    return f"one of {occurrences} places" if occurrences > 1 else ""


def visible(text: str) -> str:
    """Control and invisible format characters (from logs) written as escapes (``\\x1b``), so
    every format and font shows them; tabs and newlines are kept."""
    return printable(text, multiline=True)


def location(citation: Citation) -> str:
    """ "page 3 (printed iv), lines 10-12" / "page 3 (OCR), lines 1-4" / "lines 5-5" /
    "paragraph 4" for a citation."""
    span = citation.span
    if span is None:
        return "no place in the library"
    return place_words(span.path, span.page, span.page_label, span.line_start, span.line_end)


def record_location(record: Mapping[str, Any]) -> str:
    """The same words for a passage or citation record (a dict, as saved)."""
    return place_words(
        record.get("path") or "",
        record.get("page"),
        record.get("page_label"),
        record["line_start"],
        record["line_end"],
    )


def place_words(path: str, page: int | None, page_label: str | None, first: int, last: int) -> str:
    """Where a piece of a document is, in the words every surface uses."""
    lines = f"lines {first}-{last}"
    if page is not None:
        label, ocr = split_page_label(page_label)
        notes = [f"printed {label}"] if label and label != str(page) else []
        notes += ["OCR"] if ocr else []
        said = f" ({', '.join(notes)})" if notes else ""
        return f"page {page}{said}, {lines}"
    if path.lower().endswith(".docx"):
        return f"paragraph {first}" if first == last else f"paragraphs {first}-{last}"
    return lines


def citation_title(citation: Citation) -> str:
    """ "report.pdf — page 3, lines 5-5"; "" for a quote with no place (not found, too short:
    its status says so)."""
    if citation.span is None:
        return ""
    return f"{document_name(citation)} — {location(citation)}"


def document_name(citation: Citation) -> str:
    """The cited document's file name (or a note that the quote was not found)."""
    span = citation.span
    if span is None:
        return "—"
    return printable(Path(span.path).name) if span.path else printable(span.document or "—")


def details_line(run: ExportRun) -> str:
    """Models, mode, budget, usage and date of a run, as one sentence."""
    return (
        f"Models: root {printable(str(run.models.get('root')))}, "
        f"sub-calls {printable(str(run.models.get('sub')))}; "
        f"mode {run.mode}; budget: {budget_line(run)}; usage: {usage_line(run)}; "
        f"{'protocol ' + run.profile + '; ' if run.profile else ''}"
        f"{stop_line(run.stop_reason) + '; ' if stop_line(run.stop_reason) else ''}"
        f"asked {run.created_at}; run {run.run_id}."
    )


def usage_line(run: ExportRun) -> str:
    """Calls, tokens and time in one line."""
    total = run.usage.get("total", {})
    tokens = total.get("prompt_tokens", 0) + total.get("completion_tokens", 0)
    return (
        f"{total.get('calls', 0)} model calls ({run.usage.get('subcalls', 0)} sub-calls), "
        f"{tokens:,} tokens, {run.usage.get('seconds', 0):.1f} s"
    )


def budget_line(run: ExportRun) -> str:
    """The budget the run was given."""
    names = {
        "max_iterations": "iterations",
        "max_depth": "depth",
        "max_subcalls": "sub-calls",
        "max_tokens": "tokens",
        "max_seconds": "seconds",
    }
    return (
        ", ".join(
            f"{names[k]} {v:,}" if isinstance(v, int) else f"{names[k]} {v:g}"
            for k, v in run.budget.items()
            if k in names
        )
        or "—"
    )


def trajectory_steps(run: ExportRun) -> list[tuple[str, str]]:
    """The trajectory as (kind, text) steps: turns, code, output, sub-calls, notes."""
    steps: list[tuple[str, str]] = []
    for event in run.events:
        kind = event.get("kind")
        if kind == "turn_started":
            steps.append(("turn", f"Turn {event['turn']} (depth {event['depth']})"))
        elif kind == "code_run":
            steps.append(("code", event["code"]))
            output = (event.get("stdout") or "") + (event.get("stderr") or "")
            if output:
                steps.append(("output", output))
        elif kind == "sub_call_ended":
            for prompt, answer in zip(
                event["prompts"],
                event.get("responses") or [""] * len(event["prompts"]),
                strict=False,
            ):
                steps.append(("subcall", f"Prompt:\n{prompt}\n\nAnswer:\n{answer}"))
        elif kind == "notice":
            steps.append(("note", event["message"]))
    return steps


# ---------------------------------------------------------------------- sizes


def bytes_words(size: int) -> str:
    """A file size in human units: "830 B", "12 KB", "2.4 MB", "1.1 GB"."""
    amount = float(size)
    for unit in ("B", "KB", "MB", "GB"):
        if amount < 1000 or unit == "GB":
            break
        amount /= 1000
    return f"{amount:.0f} {unit}" if unit == "B" or amount >= 10 else f"{amount:.1f} {unit}"


def length_words(chars: int) -> str:
    """A text's length in words, rounded ("340 words", "12k words", "1.2M words"), taking
    six characters a word."""
    words = round(chars / 6)
    if words < 1000:
        return f"{words} words"
    if words < 1_000_000:
        return f"{words / 1000:.0f}k words"
    return f"{words / 1_000_000:.1f}M words"


def scope_words(paths: list[str]) -> str:
    """What a question was asked about: "all documents", or "2 documents: a.log, b.pdf"."""
    if not paths:
        return "all documents"
    names = ", ".join(printable(Path(p).name) for p in paths[:3])
    more = f" and {len(paths) - 3} more" if len(paths) > 3 else ""
    count = "1 document" if len(paths) == 1 else f"{len(paths)} documents"
    return f"{count}: {names}{more}"
