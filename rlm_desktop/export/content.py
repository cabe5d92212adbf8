"""What an export holds, built from saved runs; and text clean-up shared by every format."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from rlm_desktop.rlm.citations import Citation
from rlm_desktop.textsafe import printable

FORMATS = ("md", "html", "docx", "pdf")


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
        )


def visible(text: str) -> str:
    """Control and invisible format characters (from logs) written as escapes (``\\x1b``), so
    every format and font shows them; tabs and newlines are kept."""
    return printable(text, multiline=True)


def location(citation: Citation) -> str:
    """ "page 3 (printed iv), lines 10-12" / "lines 5-5" / "paragraph 4" for a citation."""
    span = citation.span
    if not citation.verified or span is None:
        return "not found in the library"
    lines = f"lines {span.line_start}-{span.line_end}"
    if span.page is not None:
        label = span.page_label
        printed = f" (printed {label})" if label and label != str(span.page) else ""
        return f"page {span.page}{printed}, {lines}"
    if span.path.lower().endswith(".docx"):
        first, last = span.line_start, span.line_end
        return f"paragraph {first}" if first == last else f"paragraphs {first}-{last}"
    return lines


def citation_title(citation: Citation) -> str:
    """ "report.pdf — page 3, lines 5-5", or a plain note for a quote found nowhere."""
    if not citation.verified:
        return "a quote found in no document of the library"
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
        f"asked {run.created_at}; run {run.run_id}."
    )


def stop_note(run: ExportRun) -> str:
    """Why the run ended, when that is not a plain final answer ("" otherwise)."""
    parts = []
    if run.stop_reason != "final":
        parts.append(f"Stopped by: {run.stop_reason}")
    if run.fallback:
        parts.append("answered by the built-in fallback strategy")
    return "; ".join(parts)


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
