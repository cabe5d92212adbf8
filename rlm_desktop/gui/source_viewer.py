"""The source of a passage or citation: PDFs page-true (QtPdf), text and Word at the line."""

from __future__ import annotations

from PySide6.QtCore import QPointF, Qt
from PySide6.QtGui import QColor, QTextCharFormat, QTextCursor
from PySide6.QtPdf import QPdfDocument, QPdfSearchModel
from PySide6.QtPdfWidgets import QPdfView
from PySide6.QtWidgets import QLabel, QPlainTextEdit, QStackedWidget, QTextEdit


class SourceView(QStackedWidget):
    """A document at the right place: PDFs page-true (QtPdf), text and Word at the line."""

    def __init__(self) -> None:
        super().__init__()
        self.pdf_document = QPdfDocument(self)
        self.pdf_view = QPdfView()
        self.pdf_view.setDocument(self.pdf_document)
        self.pdf_view.setPageMode(QPdfView.PageMode.MultiPage)
        self.pdf_view.setZoomMode(QPdfView.ZoomMode.FitToWidth)
        self.pdf_search = QPdfSearchModel(self)
        self.pdf_search.setDocument(self.pdf_document)
        self.pdf_view.setSearchModel(self.pdf_search)
        self.text_view = QPlainTextEdit()
        self.text_view.setReadOnly(True)
        self.text_view.setAccessibleName("Source text")
        self.placeholder = QLabel("Click a citation or a passage to open its source here.")
        self.placeholder.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self.placeholder.setWordWrap(True)
        for widget in (self.placeholder, self.pdf_view, self.text_view):
            self.addWidget(widget)
        self.current: dict = {}

    def show_pdf(self, path: str, page: int, snippet: str) -> None:
        """Open a PDF at a 1-based page and highlight the snippet's first words there."""
        if self.current.get("path") != path:
            self.pdf_document.load(path)
        self.setCurrentWidget(self.pdf_view)
        self.pdf_view.pageNavigator().jump(max(0, page - 1), QPointF(), 0)
        self.pdf_search.setSearchString(" ".join(snippet.split()[:6]))
        self.current = {"path": path, "page": page}

    def show_text(self, path: str, text: str, start: int, end: int, line: int) -> None:
        """Show a text, select [start:end] (offsets into ``text``) and scroll to it."""
        if self.current.get("path") != path:
            self.text_view.setPlainText(text)
        self.setCurrentWidget(self.text_view)
        cursor = QTextCursor(self.text_view.document())
        cursor.setPosition(min(start, len(text)))
        cursor.setPosition(min(end, len(text)), QTextCursor.MoveMode.KeepAnchor)
        highlight = QTextCharFormat()
        highlight.setBackground(QColor("#fff3a3"))
        selection = QTextEdit.ExtraSelection()
        selection.cursor, selection.format = cursor, highlight
        self.text_view.setExtraSelections([selection])
        self.text_view.setTextCursor(cursor)
        self.text_view.centerCursor()
        self.current = {"path": path, "line": line}

    def show_passage(self, record: dict, text: str) -> None:
        """Show a document's text with a passage or citation record's span selected."""
        start, end = qt_offset(text, record["start"]), qt_offset(text, record["end"])
        self.show_text(record["path"], text.replace("\r", ""), start, end, record["line_start"])


def qt_offset(text: str, offset: int) -> int:
    """A Python offset into ``text`` as a position in Qt's view of it (\\r dropped, UTF-16)."""
    head = text[:offset]
    return len(head) - head.count("\r") + sum(1 for ch in head if ord(ch) > 0xFFFF)
