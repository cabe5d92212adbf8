"""The PDF viewer: all pages scrolling, zoom, "page N of M", go-to-page, and every line of a
passage highlighted on its page."""

from __future__ import annotations

import re

from PySide6.QtCore import QPointF, QRectF, Qt
from PySide6.QtGui import QColor, QPainter
from PySide6.QtPdf import QPdfDocument, QPdfSearchModel
from PySide6.QtPdfWidgets import QPdfView
from PySide6.QtWidgets import QHBoxLayout, QLabel, QSpinBox, QVBoxLayout, QWidget

from rlm_desktop.gui.theme import HIGHLIGHT
from rlm_desktop.gui.widgets import button


class PassageOverlay(QWidget):
    """Draws a passage's lines highlighted over a PDF page in a QPdfView (which highlights
    only search results, one string at a time), following its scrolling and zoom."""

    def __init__(self, view: QPdfView) -> None:
        super().__init__(view.viewport())
        self.view = view
        self.page = -1
        self.rects: list[QRectF] = []  # in the page's points
        self.setAttribute(Qt.WidgetAttribute.WA_TransparentForMouseEvents)
        for bar in (view.verticalScrollBar(), view.horizontalScrollBar()):
            bar.valueChanged.connect(self.update)

    def show_lines(self, page: int, rects: list[QRectF]) -> None:
        """Highlight these rectangles (points) on a 0-based page."""
        self.page, self.rects = page, rects
        self.setGeometry(self.view.viewport().rect())
        self.raise_()
        self.update()

    def scale(self) -> float:
        """Pixels per point as the view draws the pages now."""
        view, document = self.view, self.view.document()
        if view.zoomMode() == QPdfView.ZoomMode.Custom:
            return view.zoomFactor() * view.logicalDpiX() / 72
        margins = view.documentMargins()
        width = max(document.pagePointSize(p).width() for p in range(document.pageCount()))
        return (view.viewport().width() - margins.left() - margins.right()) / max(1.0, width)

    def page_origin(self) -> QPointF:
        """Where the page's top-left corner is drawn, in the viewport's pixels."""
        view, document, scale = self.view, self.view.document(), self.scale()
        margins = view.documentMargins()
        top = margins.top() + sum(
            round(document.pagePointSize(p).height() * scale) + view.pageSpacing()
            for p in range(self.page)
        )
        width = document.pagePointSize(self.page).width() * scale
        left = max(margins.left(), (view.viewport().width() - width) / 2)
        return QPointF(
            left - view.horizontalScrollBar().value(), top - view.verticalScrollBar().value()
        )

    def paintEvent(self, event) -> None:
        if self.page < 0 or not self.rects:
            return
        self.setGeometry(self.view.viewport().rect())
        scale, origin = self.scale(), self.page_origin()
        painter = QPainter(self)
        painter.setCompositionMode(QPainter.CompositionMode.CompositionMode_Multiply)
        for rect in self.rects:
            drawn = QRectF(
                origin.x() + rect.x() * scale,
                origin.y() + rect.y() * scale,
                rect.width() * scale,
                rect.height() * scale,
            ).adjusted(-2, -1, 2, 1)
            painter.fillRect(drawn, QColor(HIGHLIGHT))
        painter.end()


def passage_rects(document: QPdfDocument, page: int, snippet: str) -> list[QRectF]:
    """The rectangles (in points) of the lines a snippet covers on a 0-based page: its words
    are found in the page's text whatever the spacing and line breaks between them."""
    words = snippet.split()
    if not words:
        return []
    text = document.getAllText(page).text()
    for count in (len(words), 12, 6):
        pattern = r"\s*".join(re.escape(word) for word in words[:count])
        found = re.search(pattern, text)
        if found:
            end = found.end() if count == len(words) else found.start() + len(snippet)
            selection = document.getSelectionAtIndex(page, found.start(), end - found.start())
            return [polygon.boundingRect() for polygon in selection.bounds()]
    return []


class PdfPane(QWidget):
    """A PDF, all pages scrolling, with zoom (fit width, +, -), "page N of M" and go-to-page."""

    def __init__(self, document: QPdfDocument, search: QPdfSearchModel) -> None:
        super().__init__()
        self.view = QPdfView()
        self.view.setDocument(document)
        self.view.setPageMode(QPdfView.PageMode.MultiPage)
        self.view.setZoomMode(QPdfView.ZoomMode.FitToWidth)
        self.view.setSearchModel(search)
        self.view.setAccessibleName("PDF page")
        self.overlay = PassageOverlay(self.view)
        self.document = document
        self.page_box = QSpinBox()
        self.page_box.setAccessibleName("Go to page")
        self.page_box.setToolTip("Go to page")
        self.page_box.setKeyboardTracking(False)
        self.page_box.valueChanged.connect(self.go_to)
        self.page_count = QLabel("of 0")
        row = QHBoxLayout()
        row.setContentsMargins(2, 2, 2, 2)
        for text, tip, slot in (
            ("−", "Zoom out", lambda: self.zoom(1 / 1.25)),
            ("+", "Zoom in", lambda: self.zoom(1.25)),
            ("Fit width", "Fit the page to the pane's width", self.fit_width),
        ):
            widget = button(text, tip, slot)
            widget.setAccessibleName(tip)
            widget.setMinimumWidth(32 if len(text) == 1 else 64)
            if len(text) == 1:
                widget.setMaximumWidth(40)
            row.addWidget(widget)
        row.addStretch(1)
        row.addWidget(QLabel("Page"))
        row.addWidget(self.page_box)
        row.addWidget(self.page_count)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.setSpacing(0)
        layout.addLayout(row)
        layout.addWidget(self.view)
        self.view.pageNavigator().currentPageChanged.connect(self._page_shown)
        document.pageCountChanged.connect(self._count_pages)

    def _count_pages(self, count: int) -> None:
        self.page_box.setRange(1 if count else 0, count)
        self.page_count.setText(f"of {count}")

    def _page_shown(self, page: int) -> None:
        self.page_box.blockSignals(True)
        self.page_box.setValue(page + 1)
        self.page_box.blockSignals(False)

    def go_to(self, page: int) -> None:
        """Show a 1-based page."""
        if 1 <= page <= self.document.pageCount():
            self.view.pageNavigator().jump(page - 1, QPointF(), 0)

    def page_words(self) -> str:
        """ "page 3 of 4"."""
        return f"page {self.page_box.value()} of {self.document.pageCount()}"

    def zoom(self, factor: float) -> None:
        """Zoom by ``factor`` from what is shown now (leaving fit-to-width)."""
        now = self.view.zoomFactor()
        if self.view.zoomMode() != QPdfView.ZoomMode.Custom:
            now = self._fitted_zoom()
        self.view.setZoomMode(QPdfView.ZoomMode.Custom)
        self.view.setZoomFactor(min(8.0, max(0.25, now * factor)))

    def fit_width(self) -> None:
        """Fit the page to the pane's width."""
        self.view.setZoomMode(QPdfView.ZoomMode.FitToWidth)

    def _fitted_zoom(self) -> float:
        """The zoom factor fit-to-width shows now (Qt keeps it to itself)."""
        points = self.document.pagePointSize(max(0, self.page_box.value() - 1))
        if points.width() <= 0:
            return 1.0
        pixels = points.width() * self.logicalDpiX() / 72
        return max(0.25, (self.view.viewport().width() - 12) / pixels)
