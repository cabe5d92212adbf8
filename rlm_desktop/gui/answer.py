"""The answer as shown: its text with clickable [n] markers, then the list of its citations."""

from __future__ import annotations

import html
import re
from pathlib import Path

from PySide6.QtCore import QUrl, Signal
from PySide6.QtWidgets import QTextBrowser

from rlm_desktop.textsafe import printable

_MARKER = re.compile(r"\[(\d+)\]")


def answer_html(answer: str, citations: list[dict], stop_reason: str) -> str:
    """The answer with each known [n] marker linked, why it stopped, and its citations."""
    by_number = {c["n"]: c for c in citations}

    def link(match: re.Match) -> str:
        n = int(match.group(1))
        c = by_number.get(n)
        if c is None:
            return match.group(0)
        mark = "" if c["verified"] else " ✗ unverified"
        return f"<a href='cite:{n}'>[{n}]{mark}</a>"

    def source(c: dict) -> str:
        return printable(Path(c["path"]).name) if c.get("path") else "not in the library"

    body = _MARKER.sub(link, html.escape(printable(answer, multiline=True)))
    body = body.replace("\n", "<br>")
    items = "".join(
        f"<li><a href='cite:{c['n']}'>[{c['n']}]</a> "
        f"{'✓ verified' if c['verified'] else '<b>✗ unverified</b>'} — "
        f"{html.escape(source(c))}"
        f"{', p. ' + str(c['page']) if c.get('page') else ''}"
        f"<br><q>{html.escape(printable(c['snippet'], multiline=True))}</q></li>"
        for c in citations
    )
    stopped = "" if stop_reason == "final" else f"<p><i>Stopped by: {stop_reason}</i></p>"
    return f"<p>{body}</p>{stopped}<ol>{items}</ol>"


def usage_line(usage: dict) -> str:
    """ "Done: 2 model calls, 1,536 tokens, 0.2 s." for a run's usage record."""
    total = usage.get("total", {})
    return (
        f"Done: {total.get('calls', 0)} model calls, "
        f"{total.get('prompt_tokens', 0) + total.get('completion_tokens', 0):,} tokens, "
        f"{usage.get('seconds', 0):.1f} s."
    )


class AnswerView(QTextBrowser):
    """The answer of the shown run; a verified [n] marker, clicked, asks for its source."""

    citation_activated = Signal(dict)

    def __init__(self) -> None:
        super().__init__()
        self.citations: dict[int, dict] = {}
        self.setAccessibleName("Answer")
        self.setToolTip("The answer; click a [n] marker to open its source")
        self.setOpenLinks(False)
        self.anchorClicked.connect(self.open_link)

    def show_answer(self, answer: str, citations: list[dict], stop_reason: str) -> None:
        """Show a finished run's answer and citations."""
        self.citations = {c["n"]: c for c in citations}
        self.setHtml(answer_html(answer, citations, stop_reason))

    def show_working(self) -> None:
        """Say that a run has started."""
        self.setHtml("<i>Working…</i>")

    def show_failure(self, message: str) -> None:
        """Show why a run failed, as written (never read as HTML)."""
        self.setHtml(f"<p style='color:#b00'>{html.escape(printable(message, multiline=True))}</p>")

    def open_link(self, url: QUrl) -> None:
        """Follow a cite:N link: a verified citation's source is asked for."""
        if url.scheme() == "cite":
            citation = self.citations.get(int(url.path()))
            if citation and citation.get("verified"):
                self.citation_activated.emit(citation)
