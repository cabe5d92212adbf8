"""The Trajectory tab: each event of a run as it happens (code syntax-highlighted)."""

from __future__ import annotations

import html

from pygments import highlight
from pygments.formatters import HtmlFormatter
from pygments.lexers import PythonLexer
from PySide6.QtCore import Qt, QUrl
from PySide6.QtGui import QFontDatabase, QTextBlockFormat, QTextCharFormat, QTextCursor
from PySide6.QtWidgets import (
    QDialog,
    QDialogButtonBox,
    QPlainTextEdit,
    QTextBrowser,
    QVBoxLayout,
    QWidget,
)

from rlm_desktop.gui.theme import code_background, error_colour, is_dark
from rlm_desktop.rlm.events import (
    CodeRun,
    ModelText,
    Notice,
    SubCallEnded,
    SubCallStarted,
    TurnStarted,
    from_json,
)
from rlm_desktop.textsafe import printable

# Pygments styles whose colours read well on the code background of each theme.
_FORMATTERS = {
    False: HtmlFormatter(noclasses=True, nowrap=True, style="default"),
    True: HtmlFormatter(noclasses=True, nowrap=True, style="monokai"),
}
_LEXER = PythonLexer()


def code_html(code: str) -> str:
    """Python source as highlighted HTML, in the colours of the current theme."""
    highlighted = highlight(code, _LEXER, _FORMATTERS[is_dark()])
    # A one-cell table: Qt's rich text colours a <pre>'s background line by line only.
    return (
        f"<table width='100%' cellpadding='4' bgcolor='{code_background()}'><tr><td>"
        f"<pre style='white-space:pre-wrap'>{highlighted}</pre></td></tr></table>"
    )


def event_html(event, index: int) -> str | None:
    """The HTML for one event (None for streamed text, which is appended as plain text)."""
    if isinstance(event, TurnStarted):
        depth = f" (depth {event.depth})" if event.depth else ""
        # A rule and bold words, not a heading: streamed text after it must not inherit it.
        rule = "<hr>" if index else ""
        return f"{rule}<p style='margin-top:6px'><b>Turn {event.turn}{depth}</b></p>"
    if isinstance(event, CodeRun):
        parts = [code_html(event.code)]
        if event.stdout:
            parts.append(f"<pre>{_text(event.stdout[:3000])}</pre>")
        if event.stderr:
            parts.append(f"<pre style='color:{error_colour()}'>{_text(event.stderr[-2000:])}</pre>")
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
        self._streaming = False
        self.events: list = []
        self.turn = self.subcalls_queued = self.subcalls_done = self.passages_read = 0
        self.last_read = ""

    def restyle(self) -> None:
        """Draw the events again in the colours of the current theme."""
        events = self.events
        self.start_run()
        for event in events:
            self.add_event(event)

    def show_saved(self, records: list[dict]) -> None:
        """Show a saved run's trajectory (its events as saved)."""
        self.start_run()
        for record in records:
            event = from_json(record)
            if event is not None:
                self.add_event(event)

    def add_event(self, event: object) -> None:
        """Count and show one event of the running run."""
        self.events.append(event)
        if isinstance(event, TurnStarted) and event.depth == 0:
            self.turn = event.turn
        elif isinstance(event, SubCallStarted):
            self.subcalls_queued += len(event.prompts)
        elif isinstance(event, SubCallEnded):
            self.subcalls_done += len(event.prompts)
        elif isinstance(event, CodeRun):
            self.passages_read += event.explored
            self.last_read = event.read or self.last_read
        if isinstance(event, ModelText):
            self._stream(event.text)
            return
        rendered = event_html(event, len(self.events) - 1)
        if rendered:
            self.append(rendered)
            self._streaming = False

    def _stream(self, text: str) -> None:
        """Model text as it comes, in plain body text in a block of its own."""
        cursor = QTextCursor(self.document())
        cursor.movePosition(QTextCursor.MoveOperation.End)
        if not self._streaming:
            cursor.insertBlock(QTextBlockFormat(), QTextCharFormat())
            self._streaming = True
        cursor.insertText(text, QTextCharFormat())
        bar = self.verticalScrollBar()
        if bar.value() >= bar.maximum() - 40:  # follow the end unless the reader scrolled up
            bar.setValue(bar.maximum())

    def open_link(self, url: QUrl) -> None:
        """Follow a subcall:N link: every prompt and answer of that sub-call, in a window."""
        if url.scheme() == "subcall":
            self.subcall_dialog = SubCallDialog(subcall_text(self.events[int(url.path())]), self)
            self.subcall_dialog.open()


class SubCallDialog(QDialog):
    """A sub-call's prompts and answers in full, in a window big enough to read them."""

    def __init__(self, text: str, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setWindowTitle("Sub-call: prompts and answers")
        self.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)
        self.text = QPlainTextEdit(text)
        self.text.setReadOnly(True)
        self.text.setFont(QFontDatabase.systemFont(QFontDatabase.SystemFont.FixedFont))
        self.text.setAccessibleName("Sub-call prompts and answers")
        close = QDialogButtonBox(QDialogButtonBox.StandardButton.Close)
        close.rejected.connect(self.reject)
        layout = QVBoxLayout(self)
        layout.addWidget(self.text)
        layout.addWidget(close)
        self.resize(760, 540)
