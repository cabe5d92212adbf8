"""The answer as shown: its text with clickable [n] markers, then the list of its citations."""

from __future__ import annotations

import html
import re

from PySide6.QtCore import QUrl, Signal
from PySide6.QtGui import QGuiApplication, QTextDocument
from PySide6.QtWidgets import QTextBrowser

from rlm_desktop.export.content import (
    citation_title,
    citations_from_records,
    status_label,
    stop_line,
    support_label,
)
from rlm_desktop.gui.theme import error_colour, is_dark
from rlm_desktop.records import citation_mark
from rlm_desktop.rlm.citations import Citation
from rlm_desktop.textsafe import printable

_MARKER = re.compile(r"\[(\d+)\]")

# A citation status's colour, 4.5:1 on its theme's background. Only "read" is green: it is
# the one status that proves the quote came from what the model read.
STATUS_COLOURS = {
    "read": "#1e7a46",
    "in-library": "#8a5a00",
    "not-found": "#c0362c",
    "too-short": "#666666",
}
_DARK_STATUS_COLOURS = {
    "read": "#5cc98a",
    "in-library": "#e0a841",
    "not-found": "#ff8a80",
    "too-short": "#a8a8a8",
}


def status_colour(status: str) -> str:
    """The colour a citation status is shown in, on the current theme."""
    colours = _DARK_STATUS_COLOURS if is_dark() else STATUS_COLOURS
    return colours.get(status, colours["not-found"])


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

    body = _MARKER.sub(link, markdown_html(answer))
    items = "".join(
        f"<li><a href='cite:{c.n}'>[{c.n}]</a> "
        f"{html.escape(citation_title(c)) + ' — ' if citation_title(c) else ''}"
        f"{_status_html(c)}"
        f"<br><q>{html.escape(printable(c.snippet, multiline=True))}</q></li>"
        for c in checked
    )
    intro = f"<p><i>{html.escape(printable(note))}</i></p>" if note else ""
    return f"{intro}{body}<ol>{items}</ol>"


def markdown_html(text: str) -> str:
    """A model's Markdown (lists, tables, code, emphasis) as an HTML fragment; any HTML in
    it is dropped, never obeyed, and controls are shown as escapes."""
    document = QTextDocument()
    features = QTextDocument.MarkdownFeature
    document.setMarkdown(
        printable(text, multiline=True),
        features.MarkdownDialectGitHub | features.MarkdownNoHTML,
    )
    page = document.toHtml()
    start = page.find(">", page.find("<body")) + 1
    return page[start : page.rfind("</body>")]


def thread_html(earlier: list[dict]) -> str:
    """The earlier questions and answers of a conversation, as cards over the current one;
    each opens in full (with its evidence) from its link."""
    cards = []
    for run in earlier:
        question = html.escape(printable(run.get("title") or run["question"]))
        answer = _MARKER.sub(r"<sup>[\1]</sup>", markdown_html(run["answer"]))
        cards.append(
            f"<table width='100%' cellpadding='6' style='border:1px solid gray'><tr><td>"
            f"<p><b>Q: {question}</b> <a href='run:{run['id']}'>show</a></p>{answer}"
            f"</td></tr></table><p></p>"
        )
    return "".join(cards)


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
    """The conversation: earlier questions as cards, then the shown run's question and
    answer; a [n] marker of a quote found in the library (read or not), clicked, asks for
    its source; "copy" puts the answer on the clipboard."""

    citation_activated = Signal(dict)
    run_activated = Signal(int)  # an earlier card's "show" link: that run's id

    def __init__(self) -> None:
        super().__init__()
        self.citations: dict[int, dict] = {}
        self.earlier: list[dict] = []  # the conversation's runs before the shown one
        self.question = ""
        self.answer_text = ""
        self.shown: tuple[str, list[dict], str] | None = None  # for restyling
        self.setAccessibleName("Answer")
        self.setToolTip("The conversation; click a [n] marker to open its source")
        self.setOpenLinks(False)
        self.anchorClicked.connect(self.open_link)

    def set_thread(self, earlier: list[dict], question: str = "") -> None:
        """The conversation's earlier runs and the question of the one shown next."""
        self.earlier, self.question = list(earlier), question

    def show_answer(self, answer: str, citations: list[dict], note: str = "") -> None:
        """Show a finished run's answer, introduced by its note, and its citations."""
        self.citations = {c["n"]: c for c in citations}
        self.shown = (answer, citations, note)
        self.answer_text = answer
        copy = "<p align='right'><a href='copy:answer'>Copy answer</a></p>"
        self._show(answer_html(answer, citations, note) + copy)

    def restyle(self) -> None:
        """Draw the shown answer again in the colours of the current theme."""
        if self.shown is not None:
            self.show_answer(*self.shown)

    def show_nothing(self) -> None:
        """An empty pane (a new conversation, a deleted answer)."""
        self.shown, self.citations, self.answer_text = None, {}, ""
        self.clear()

    def show_working(self) -> None:
        """Say that a run has started."""
        self.shown = None
        self._show("<p><i>Working…</i></p>")

    def show_failure(self, message: str) -> None:
        """Show why a run failed, as written (never read as HTML)."""
        self.shown = None
        shown = html.escape(printable(message, multiline=True))
        self._show(f"<p style='color:{error_colour()}'>{shown}</p>")

    def _show(self, current: str) -> None:
        question = html.escape(printable(self.question))
        heading = f"<p><b>Q: {question}</b></p>" if question else ""
        self.setHtml(thread_html(self.earlier) + heading + current)
        if self.earlier:
            self.verticalScrollBar().setValue(self.verticalScrollBar().maximum())

    def open_link(self, url: QUrl) -> None:
        """Follow a cite:N link (the source of a citation with a place is asked for), a
        run:ID link (an earlier answer) or copy:answer."""
        if url.scheme() == "cite":
            citation = self.citations.get(int(url.path()))
            if citation and citation.get("path") and citation.get("start") is not None:
                self.citation_activated.emit(citation)
        elif url.scheme() == "run":
            self.run_activated.emit(int(url.path()))
        elif url.scheme() == "copy":
            QGuiApplication.clipboard().setText(printable(self.answer_text, multiline=True))
