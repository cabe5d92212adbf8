"""Markdown, standalone HTML and Word (.docx) writers. PDF is rendered by Qt, in the GUI
package (``rlm_desktop.gui.pdf_export``), from the HTML written here."""

from __future__ import annotations

import html
import re
from datetime import datetime, timezone
from pathlib import Path

from rlm_desktop.export.content import (
    ExportRun,
    citation_title,
    details_line,
    status_label,
    support_label,
    trajectory_steps,
    visible,
)
from rlm_desktop.textsafe import printable

_MARKER = re.compile(r"\[(\d+)\]")
# A citation status's colour in Word (only "read" is green: the one status that proves).
_DOCX_COLOURS = {
    "read": (0x1B, 0x7A, 0x35),
    "in-library": (0x8A, 0x5A, 0x00),
    "not-found": (0xB0, 0x00, 0x20),
    "too-short": (0x66, 0x66, 0x66),
}
_CSS = """
body { font-family: sans-serif; max-width: 50em; margin: 2em auto; line-height: 1.45; }
h1 { font-size: 1.4em; } h2 { font-size: 1.15em; margin-top: 1.6em; }
.answer { font-size: 1.05em; }
.meta { color: #555; font-size: 0.9em; }
.snippet { white-space: pre-wrap; overflow-wrap: anywhere; background: #f5f6f8;
           border-left: 3px solid #2f7de1; padding: 0.4em 0.7em; font-family: monospace; }
.note { font-style: italic; border-left: 3px solid #b7791f; padding: 0.2em 0.7em; }
.status { font-weight: bold; }
.status-read { color: #1b7a35; }
.status-in-library { color: #8a5a00; }
.status-not-found { color: #b00020; }
.status-too-short { color: #666666; }
pre { white-space: pre-wrap; overflow-wrap: anywhere; background: #f5f6f8; padding: 0.5em; }
"""


def _exported_at() -> str:
    return datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M UTC")


def _fence(text: str) -> str:
    """A Markdown fence longer than any run of tildes in the text, so the text stays intact."""
    longest = max((len(m) for m in re.findall(r"~+", text)), default=0)
    return "~" * max(3, longest + 1)


def _with_links(text: str, escape, link) -> str:
    """Escape ``text`` for a format, turning each [n] marker into ``link(n)``."""
    pieces = _MARKER.split(text)  # text, n, text, n, ...
    return "".join(escape(p) if i % 2 == 0 else link(p) for i, p in enumerate(pieces))


def _md_escape(text: str) -> str:
    return re.sub(r"([\\`*_{}\[\]<>()#+!|~])", r"\\\1", text)


# ---------------------------------------------------------------------- Markdown


def to_markdown(runs: list[ExportRun], trajectory: bool = False) -> str:
    """The runs as Markdown; citation markers link to their entries."""
    parts = [f"# RLM Desktop — answers\n\n_Exported {_exported_at()}_\n"]
    for run in runs:
        anchor = f"run-{run.run_id}"
        answer = _with_links(
            visible(run.answer), _md_escape, lambda n, a=anchor: f"[\\[{n}\\]](#{a}-cite-{n})"
        )
        parts.append(f"## Question: {_md_escape(visible(run.question))}\n")
        if run.note:
            parts.append(f"_{_md_escape(visible(run.note))}_\n")
        parts.append(f"{answer}\n")
        if run.citations:
            parts.append("### Citations\n")
        for c in run.citations:
            snippet = visible(c.snippet)
            fence = _fence(snippet)
            mark = f"**{status_label(c.status)}**"
            if verdict := support_label(c.support):
                mark += f" · {verdict}"
            path = f"   Path: {_md_escape(printable(c.path))}\n" if c.path else ""
            title = f"{_md_escape(citation_title(c))} — " if citation_title(c) else ""
            parts.append(
                f'<a id="{anchor}-cite-{c.n}"></a>\n'
                f"{c.n}. {title}{mark}  \n{path}\n"
                f"{fence}text\n{snippet}\n{fence}\n"
            )
        parts.append(f"\n_{details_line(run)}_\n")
        if trajectory:
            parts.append(_md_trajectory(run))
    return "\n".join(parts)


def _md_trajectory(run: ExportRun) -> str:
    lines = ["\n### Appendix: trajectory\n"]
    for kind, text in trajectory_steps(run):
        if kind == "turn":
            lines.append(f"**{text}**\n")
        elif kind == "note":
            lines.append(f"_Note: {_md_escape(visible(text))}_\n")
        else:
            body = visible(text)
            fence = _fence(body)
            lang = "python" if kind == "code" else "text"
            title = {"code": "Code", "output": "Output", "subcall": "Sub-call"}[kind]
            lines.append(f"{title}:\n\n{fence}{lang}\n{body}\n{fence}\n")
    return "\n".join(lines)


# ---------------------------------------------------------------------- HTML


def to_html(runs: list[ExportRun], trajectory: bool = False) -> str:
    """The runs as one standalone HTML page (no external resources)."""
    body = [f"<h1>RLM Desktop — answers</h1><p class='meta'>Exported {_exported_at()}</p>"]
    for run in runs:
        anchor = f"run-{run.run_id}"

        answer = _with_links(
            visible(run.answer),
            html.escape,
            lambda n, a=anchor: f"<a href='#{a}-cite-{n}'>[{n}]</a>",
        ).replace("\n", "<br>")
        body.append(f"<h2 id='{anchor}'>{html.escape(visible(run.question))}</h2>")
        if run.note:
            body.append(f"<p class='note'>{html.escape(visible(run.note))}</p>")
        body.append(f"<p class='answer' dir='auto'>{answer}</p>")
        if run.citations:
            body.append("<h3>Citations</h3><ol>")
        for c in run.citations:
            mark = (
                f"<span class='status status-{html.escape(c.status)}'>"
                f"{html.escape(status_label(c.status))}</span>"
            )
            if verdict := support_label(c.support):
                mark += f" · {html.escape(verdict)}"
            body.append(
                f"<li id='{anchor}-cite-{c.n}' value='{c.n}'>"
                + (f"<b>{html.escape(citation_title(c))}</b> — " if citation_title(c) else "")
                + mark
                + (
                    f"<br><span class='meta'>{html.escape(printable(c.path))}</span>"
                    if c.path
                    else ""
                )
                + f"<div class='snippet' dir='auto'>{html.escape(visible(c.snippet))}</div></li>"
            )
        if run.citations:
            body.append("</ol>")
        body.append(f"<p class='meta'>{html.escape(details_line(run))}</p>")
        if trajectory:
            body.append("<h3>Appendix: trajectory</h3>")
            for kind, text in trajectory_steps(run):
                if kind == "turn":
                    body.append(f"<h4>{html.escape(text)}</h4>")
                elif kind == "note":
                    body.append(f"<p class='meta'>Note: {html.escape(visible(text))}</p>")
                else:
                    title = {"code": "Code", "output": "Output", "subcall": "Sub-call"}[kind]
                    body.append(f"<p><b>{title}</b></p><pre>{html.escape(visible(text))}</pre>")
    return (
        "<!DOCTYPE html>\n<html lang='en'><head><meta charset='utf-8'>"
        f"<title>RLM Desktop — answers</title><style>{_CSS}</style></head><body>"
        + "\n".join(body)
        + "</body></html>\n"
    )


# ---------------------------------------------------------------------- Word


def to_docx(runs: list[ExportRun], path: Path, trajectory: bool = False) -> None:
    """The runs as a Word document; markers are numbered references to the citation list."""
    import docx
    from docx.shared import Pt, RGBColor

    document = docx.Document()
    document.core_properties.title = "RLM Desktop — answers"
    document.add_heading("RLM Desktop — answers", level=0)
    document.add_paragraph(f"Exported {_exported_at()}")
    for run in runs:
        document.add_heading(f"Question: {visible(run.question)}", level=1)
        if run.note:
            document.add_paragraph().add_run(visible(run.note)).italic = True
        document.add_paragraph(visible(run.answer))
        if run.citations:
            document.add_heading("Citations", level=2)
        for c in run.citations:
            entry = document.add_paragraph()
            title = f"{citation_title(c)} — " if citation_title(c) else ""
            entry.add_run(f"[{c.n}] {title}").bold = True
            status = entry.add_run(status_label(c.status))
            status.bold = True
            colour = _DOCX_COLOURS.get(c.status, _DOCX_COLOURS["not-found"])
            status.font.color.rgb = RGBColor(*colour)
            if verdict := support_label(c.support):
                entry.add_run(f" · {verdict}")
            if c.path:
                document.add_paragraph(f"Path: {printable(c.path)}")
            quote = document.add_paragraph(visible(c.snippet), style="Intense Quote")
            for r in quote.runs:
                r.font.size = Pt(9)
        document.add_paragraph(details_line(run))
        if trajectory:
            document.add_heading("Appendix: trajectory", level=2)
            for kind, text in trajectory_steps(run):
                if kind == "turn":
                    document.add_heading(text, level=3)
                else:
                    paragraph = document.add_paragraph(visible(text))
                    for r in paragraph.runs:
                        r.font.name = "Courier New" if kind in ("code", "output") else None
                        r.font.size = Pt(8)
    document.save(str(path))
