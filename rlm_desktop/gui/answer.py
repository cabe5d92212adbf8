"""The answer as shown: its text with clickable [n] markers, then the list of its citations."""

from __future__ import annotations

import html
import re

from PySide6.QtCore import QUrl, Signal
from PySide6.QtWidgets import QTextBrowser

from rlm_desktop.export.content import (
    citation_title,
    citations_from_records,
    status_label,
    stop_line,
    support_label,
)
from rlm_desktop.records import citation_mark
from rlm_desktop.rlm.citations import Citation
from rlm_desktop.textsafe import printable

_MARKER = re.compile(r"\[(\d+)\]")

# A citation status's colour, readable on the light and the dark palette alike. Only "read"
# is green: it is the one status that proves the quote came from what the model read.
STATUS_COLOURS = {
    "read": "#2e8b57",
    "in-library": "#a86f00",
    "not-found": "#d0453b",
    "too-short": "#808080",
}


def status_colour(status: str) -> str:
    """The colour a citation status is shown in."""
    return STATUS_COLOURS.get(status, STATUS_COLOURS["not-found"])


def _status_html(citation: Citation) -> str:
    """ "✓ read", coloured, then the support verdict when one was checked."""
    shown = (
        f"<b style='color:{status_colour(citation.status)}'>"
        f"{html.escape(status_label(citation.status))}</b>"
    )
    verdict = support_label(citation.support)
    return f"{shown} · {html.escape(verdict)}" if verdict else shown


def answer_html(answer: str, citations: list[dict], note: str = "") -> str:
    """The answer introduced by the run's note (when it is not a plain answer), each known
    [n] marker linked (with its mark unless it was read), then the citations with status."""
    checked = citations_from_records(citations)
    by_number = {c.n: c for c in checked}

    def link(match: re.Match) -> str:
        n = int(match.group(1))
        c = by_number.get(n)
        if c is None:
            return match.group(0)
        if c.status == "read":
            return f"<a href='cite:{n}'>[{n}]</a>"
        mark = f"<span style='color:{status_colour(c.status)}'>{citation_mark(c.status)}</span>"
        return f"<a href='cite:{n}'>[{n}]</a>{mark}"

    body = _MARKER.sub(link, html.escape(printable(answer, multiline=True)))
    body = body.replace("\n", "<br>")
    items = "".join(
        f"<li><a href='cite:{c.n}'>[{c.n}]</a> "
        f"{html.escape(citation_title(c)) + ' — ' if citation_title(c) else ''}"
        f"{_status_html(c)}"
        f"<br><q>{html.escape(printable(c.snippet, multiline=True))}</q></li>"
        for c in checked
    )
    intro = f"<p><i>{html.escape(printable(note))}</i></p>" if note else ""
    return f"{intro}<p>{body}</p><ol>{items}</ol>"


def usage_line(usage: dict, stop_reason: str = "final") -> str:
    """ "Done: 2 model calls, 1,536 tokens, 0.2 s." for a run's usage record (and its stop
    reason, in brackets, when that is not a final answer)."""
    total = usage.get("total", {})
    stopped = f" ({stop_line(stop_reason)})" if stop_line(stop_reason) else ""
    return (
        f"Done: {total.get('calls', 0)} model calls, "
        f"{total.get('prompt_tokens', 0) + total.get('completion_tokens', 0):,} tokens, "
        f"{usage.get('seconds', 0):.1f} s{stopped}."
    )


class AnswerView(QTextBrowser):
    """The answer of the shown run; a [n] marker of a quote found in the library (read or
    not), clicked, asks for its source."""

    citation_activated = Signal(dict)

    def __init__(self) -> None:
        super().__init__()
        self.citations: dict[int, dict] = {}
        self.setAccessibleName("Answer")
        self.setToolTip("The answer; click a [n] marker to open its source")
        self.setOpenLinks(False)
        self.anchorClicked.connect(self.open_link)

    def show_answer(self, answer: str, citations: list[dict], note: str = "") -> None:
        """Show a finished run's answer, introduced by its note, and its citations."""
        self.citations = {c["n"]: c for c in citations}
        self.setHtml(answer_html(answer, citations, note))

    def show_working(self) -> None:
        """Say that a run has started."""
        self.setHtml("<i>Working…</i>")

    def show_failure(self, message: str) -> None:
        """Show why a run failed, as written (never read as HTML)."""
        shown = html.escape(printable(message, multiline=True))
        self.setHtml(f"<p style='color:{STATUS_COLOURS['not-found']}'>{shown}</p>")

    def open_link(self, url: QUrl) -> None:
        """Follow a cite:N link: the source of a citation with a place is asked for."""
        if url.scheme() == "cite":
            citation = self.citations.get(int(url.path()))
            if citation and citation.get("path") and citation.get("start") is not None:
                self.citation_activated.emit(citation)
