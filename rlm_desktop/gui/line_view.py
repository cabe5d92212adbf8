"""A read-only text view with line numbers in a gutter, numbered from any first line."""

from __future__ import annotations

from PySide6.QtCore import QRect, QSize, Qt
from PySide6.QtGui import QColor, QFontDatabase, QPainter, QPaintEvent, QPalette, QResizeEvent
from PySide6.QtWidgets import QPlainTextEdit, QWidget


class _Gutter(QWidget):
    """Paints the line numbers of the view it belongs to."""

    def __init__(self, view: LineNumberedText) -> None:
        super().__init__(view)
        self.view = view

    def sizeHint(self) -> QSize:
        return QSize(self.view.gutter_width(), 0)

    def paintEvent(self, event: QPaintEvent) -> None:
        self.view.paint_gutter(event)


class LineNumberedText(QPlainTextEdit):
    """Text (a part of a document, maybe) with its lines numbered from ``first_line``."""

    def __init__(self) -> None:
        super().__init__()
        self.setReadOnly(True)
        self.setLineWrapMode(QPlainTextEdit.LineWrapMode.NoWrap)
        self.setFont(QFontDatabase.systemFont(QFontDatabase.SystemFont.FixedFont))
        self.first_line = 1
        self.gutter = _Gutter(self)
        self.blockCountChanged.connect(self._fit_gutter)
        self.updateRequest.connect(self._scroll_gutter)
        self._fit_gutter()

    def show_text(self, text: str, first_line: int = 1) -> None:
        """Show ``text`` whose first line is line ``first_line`` of its document."""
        self.first_line = first_line
        self.setPlainText(text)
        self._fit_gutter()

    def gutter_width(self) -> int:
        """Room for the largest line number shown, plus a margin."""
        digits = len(str(self.first_line + max(1, self.blockCount())))
        return 12 + self.fontMetrics().horizontalAdvance("9") * digits

    def _fit_gutter(self) -> None:
        self.setViewportMargins(self.gutter_width(), 0, 0, 0)

    def _scroll_gutter(self, rect: QRect, dy: int) -> None:
        if dy:
            self.gutter.scroll(0, dy)
        else:
            self.gutter.update(0, rect.y(), self.gutter.width(), rect.height())

    def resizeEvent(self, event: QResizeEvent) -> None:
        super().resizeEvent(event)
        area = self.contentsRect()
        self.gutter.setGeometry(QRect(area.left(), area.top(), self.gutter_width(), area.height()))

    def paint_gutter(self, event: QPaintEvent) -> None:
        """Draw the numbers of the visible lines, dimmed, right-aligned."""
        painter = QPainter(self.gutter)
        palette = self.palette()
        painter.fillRect(event.rect(), palette.color(QPalette.ColorRole.AlternateBase))
        colour = QColor(palette.color(QPalette.ColorRole.PlaceholderText))
        painter.setPen(colour)
        block = self.firstVisibleBlock()
        top = round(self.blockBoundingGeometry(block).translated(self.contentOffset()).top())
        width, height = self.gutter.width() - 6, self.fontMetrics().height()
        while block.isValid() and top <= event.rect().bottom():
            bottom = top + round(self.blockBoundingRect(block).height())
            if block.isVisible() and bottom >= event.rect().top():
                number = str(self.first_line + block.blockNumber())
                painter.drawText(0, top, width, height, int(Qt.AlignmentFlag.AlignRight), number)
            block, top = block.next(), bottom
        painter.end()
