"""The Trajectory tab: each event of a run as it happens (code syntax-highlighted)."""

from __future__ import annotations

import html

from pygments import highlight
from pygments.formatters import HtmlFormatter
from pygments.lexers import PythonLexer
from PySide6.QtCore import Qt, QUrl
from PySide6.QtGui import QTextCursor
from PySide6.QtWidgets import QMessageBox, QTextBrowser

from rlm_desktop.rlm.events import (
    CodeRun,
    ModelText,
    Notice,
    SubCallEnded,
    SubCallStarted,
    TurnStarted,
)
from rlm_desktop.textsafe import printable

_FORMATTER = HtmlFormatter(noclasses=True, nowrap=True, style="default")
_LEXER = PythonLexer()


def code_html(code: str) -> str:
    """Python source as highlighted HTML."""
    return (
        f"<pre style='background:#f3f6fb;padding:4px'>{highlight(code, _LEXER, _FORMATTER)}</pre>"
    )


def event_html(event, index: int) -> str | None:
    """The HTML for one event (None for streamed text, which is appended as plain text)."""
    if isinstance(event, TurnStarted):
        depth = f" (depth {event.depth})" if event.depth else ""
        return f"<h3>Turn {event.turn}{depth}</h3>"
    if isinstance(event, CodeRun):
        parts = [code_html(event.code)]
        if event.stdout:
            parts.append(f"<pre>{_text(event.stdout[:3000])}</pre>")
        if event.stderr:
            parts.append(f"<pre style='color:#b00'>{_text(event.stderr[-2000:])}</pre>")
        parts.append(
            f"<p><small>{event.error or 'ok'} · {event.duration_s:.2f} s · "
            f"{event.explored} passage(s) shown</small></p>"
        )
        return "".join(parts)
    if isinstance(event, SubCallEnded):
        first = _text(event.prompts[0][:160]) if event.prompts else ""
        return (
            f"<p><i>sub-call {event.kind_of_call} ×{len(event.prompts)}: "
            f"{event.prompt_tokens}+{event.completion_tokens} tokens, {event.seconds:.1f} s "
            f"{_text(event.error)}</i> — “{first}…” "
            f"<a href='subcall:{index}'>show prompts and answers</a></p>"
        )
    if isinstance(event, Notice):
        return f"<p><b>note:</b> {_text(event.message)}</p>"
    return None


def _text(text: str) -> str:
    """Library or model text as HTML: controls and bidi overrides shown, not obeyed."""
    return html.escape(printable(text, multiline=True))


def subcall_text(event: SubCallEnded) -> str:
    """Every prompt and answer of a sub-call, in full (controls shown as escapes)."""
    parts = []
    for i, prompt in enumerate(event.prompts):
        answer = event.responses[i] if i < len(event.responses) else event.error
        parts.append(f"--- prompt {i + 1} ---\n{prompt}\n--- answer {i + 1} ---\n{answer}\n")
    return printable("\n".join(parts), multiline=True)


class TrajectoryView(QTextBrowser):
    """A run's events, live, with counts of turns and sub-calls; sub-calls open in full."""

    def __init__(self) -> None:
        super().__init__()
        self.setAccessibleName("Trajectory")
        self.setToolTip("Each turn's model text, code, output and sub-calls, live")
        self.setOpenLinks(False)
        self.anchorClicked.connect(self.open_link)
        self.start_run()

    def start_run(self) -> None:
        """Forget the last run: an empty view, counts at zero."""
        self.clear()
        self.events: list = []
        self.turn = self.subcalls_queued = self.subcalls_done = 0

    def add_event(self, event: object) -> None:
        """Count and show one event of the running run."""
        self.events.append(event)
        if isinstance(event, TurnStarted) and event.depth == 0:
            self.turn = event.turn
        elif isinstance(event, SubCallStarted):
            self.subcalls_queued += len(event.prompts)
        elif isinstance(event, SubCallEnded):
            self.subcalls_done += len(event.prompts)
        if isinstance(event, ModelText):
            self.moveCursor(QTextCursor.MoveOperation.End)
            self.insertPlainText(event.text)
            return
        rendered = event_html(event, len(self.events) - 1)
        if rendered:
            self.append(rendered)

    def open_link(self, url: QUrl) -> None:
        """Follow a subcall:N link: every prompt and answer of that sub-call, in a box."""
        if url.scheme() == "subcall":
            event = self.events[int(url.path())]
            box = QMessageBox(
                QMessageBox.Icon.NoIcon, "Sub-call", "Prompts and answers", parent=self.window()
            )
            box.setDetailedText(subcall_text(event))
            box.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)
            box.open()
