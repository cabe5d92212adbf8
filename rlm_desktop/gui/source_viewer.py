"""The source of a passage or citation: PDFs page-true (QtPdf), text and Word at the line,
and pages read by OCR (scanned PDFs, images) as the page itself with the lines boxed."""

from __future__ import annotations

from pathlib import Path

from PySide6.QtCore import QModelIndex, QRectF, QSize, Qt, QTimer
from PySide6.QtGui import (
    QColor,
    QImage,
    QImageReader,
    QPainter,
    QPen,
    QPixmap,
    QTextCharFormat,
    QTextCursor,
)
from PySide6.QtPdf import QPdfDocument, QPdfSearchModel
from PySide6.QtWidgets import (
    QLabel,
    QScrollArea,
    QStackedWidget,
    QTextEdit,
    QVBoxLayout,
    QWidget,
)

from rlm_desktop.gui.library_session import LibrarySession
from rlm_desktop.gui.line_view import LineNumberedText
from rlm_desktop.gui.pdf_pane import PdfPane, passage_rects
from rlm_desktop.gui.theme import HIGHLIGHT
from rlm_desktop.ingest.detect import IMAGE_SUFFIXES
from rlm_desktop.store import Library
from rlm_desktop.store.documents import OcrLine

_BOX_EDGE = "#e0a800"
_PAGE_PIXELS = 1400  # a scanned page is drawn this wide, then fitted to the pane


class ScanView(QWidget):
    """One page drawn as an image with the lines a passage covers boxed, fitted to the
    pane's width and scrolled to the first box."""

    def __init__(self) -> None:
        super().__init__()
        self.caption = QLabel()
        self.caption.setWordWrap(True)
        self.page_label = QLabel()
        self.page_label.setAlignment(Qt.AlignmentFlag.AlignHCenter | Qt.AlignmentFlag.AlignTop)
        self.page_label.setAccessibleName("Scanned page")
        self.area = QScrollArea()
        self.area.setWidget(self.page_label)
        self.area.setWidgetResizable(True)
        # The page is fitted to the width: a scroll bar that comes and goes would refit it.
        self.area.setHorizontalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
        self.area.setVerticalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOn)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(self.caption)
        layout.addWidget(self.area)
        self.image = QImage()
        self.boxes: list[OcrLine] = []

    def show_page(self, image: QImage, boxes: list[OcrLine], caption: str) -> None:
        """Show a page image with these lines boxed and the caption above it."""
        self.image, self.boxes = image, boxes
        self.caption.setText(caption)
        # Drawn once the pane has its size (it may have just been brought to the front).
        QTimer.singleShot(0, self._draw_at_first_box)

    def resizeEvent(self, event) -> None:
        super().resizeEvent(event)
        if not self.image.isNull():
            self._draw()

    def _draw_at_first_box(self) -> None:
        self._draw()
        if self.boxes:
            first = self.box_rects()[0]
            self.area.ensureVisible(0, int(first.top()), 0, 120)

    def box_rects(self) -> list[QRectF]:
        """The boxes as drawn, in the pixels of the page shown."""
        pixmap = self.page_label.pixmap()
        width, height = pixmap.width(), pixmap.height()
        return [
            QRectF(
                b.left * width,
                b.top * height,
                (b.right - b.left) * width,
                (b.bottom - b.top) * height,
            )
            for b in self.boxes
        ]

    def _draw(self) -> None:
        width = max(200, self.area.viewport().width())
        self.page_label.setPixmap(
            QPixmap.fromImage(
                self.image.scaledToWidth(width, Qt.TransformationMode.SmoothTransformation)
            )
        )
        pixmap = self.page_label.pixmap()
        painter = QPainter(pixmap)
        rects = [rect.adjusted(-3, -2, 3, 2) for rect in self.box_rects()]
        # Multiplied, the highlight colours the paper and leaves the ink black.
        painter.setCompositionMode(QPainter.CompositionMode.CompositionMode_Multiply)
        for rect in rects:
            painter.fillRect(rect, QColor(HIGHLIGHT))
        painter.setCompositionMode(QPainter.CompositionMode.CompositionMode_SourceOver)
        painter.setPen(QPen(QColor(_BOX_EDGE), 1.5))
        for rect in rects:
            painter.drawRect(rect)
        painter.end()
        self.page_label.setPixmap(pixmap)


class SourceView(QStackedWidget):
    """A document at the right place: PDFs page-true (QtPdf), text and Word at the line,
    pages read by OCR as the page with the passage's lines boxed.

    Whether a page was read by OCR, and where its lines are, is asked of the library in the
    background through ``session`` (the window's, found through it when not set)."""

    def __init__(self) -> None:
        super().__init__()
        self.pdf_document = QPdfDocument(self)
        self.pdf_search = QPdfSearchModel(self)
        self.pdf_search.setDocument(self.pdf_document)
        self.pdf_pane = PdfPane(self.pdf_document, self.pdf_search)
        self.pdf_view = self.pdf_pane.view
        self.text_view = LineNumberedText()
        self.text_view.setAccessibleName("Source text")
        self.scan_view = ScanView()
        self.placeholder = QLabel("Click a citation or a passage to open its source here.")
        self.placeholder.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self.placeholder.setWordWrap(True)
        for widget in (self.placeholder, self.pdf_pane, self.text_view, self.scan_view):
            self.addWidget(widget)
        self.current: dict = {}
        self.session: LibrarySession | None = None
        self._match = -1  # the PDF search result shown by Find
        self._shown = 0  # bumped per source shown, so a late answer for an older one is dropped

    def clear(self) -> None:
        """Show the placeholder again (and drop a source still being looked up)."""
        self._shown += 1
        self.current = {}
        self.text_view.clear()
        self.setCurrentWidget(self.placeholder)

    def show_pdf(
        self,
        path: str,
        page: int,
        snippet: str,
        start: int | None = None,
        end: int | None = None,
    ) -> None:
        """Open a PDF at a 1-based page and highlight the snippet's first words there (on a
        page read by OCR: the lines of the snippet, or of ``start:end`` in the document's
        text, boxed on the page)."""
        if self.current.get("path") != path:
            self.pdf_document.load(path)
        self.setCurrentWidget(self.pdf_pane)
        self.pdf_pane.go_to(page)
        self.pdf_search.setSearchString("")
        rects = passage_rects(self.pdf_document, page - 1, snippet)
        if rects:
            self.pdf_pane.overlay.show_lines(page - 1, rects)
        else:  # text not found as written: at least its first words, by Qt's search
            self.pdf_pane.overlay.show_lines(-1, [])
            self.pdf_search.setSearchString(" ".join(snippet.split()[:6]))
        self.current = {"path": path, "page": page}
        if snippet.strip() or start is None:
            self._box_ocr_lines(path, page, snippet=snippet)
        else:
            self._box_ocr_lines(path, page, start=start, end=end)

    def find_in_pdf(self, text: str, backwards: bool = False) -> None:
        """Highlight ``text`` wherever it is in the shown PDF and go to the next match."""
        if self.currentWidget() is not self.pdf_pane:
            return
        if self.pdf_search.searchString() != text:
            self.pdf_search.setSearchString(text)
            self._match = -1
        count = self.pdf_search.rowCount(QModelIndex())
        if count:
            self._match = (self._match + (-1 if backwards else 1)) % count
            self.pdf_view.setCurrentSearchResultIndex(self._match)
            link = self.pdf_search.resultAtIndex(self._match)
            self.pdf_view.pageNavigator().jump(link)

    def show_text(
        self, path: str, text: str, start: int, end: int, line: int, first_line: int = 1
    ) -> None:
        """Show a text (whose first line is ``first_line`` of its document), highlight
        [start:end] (offsets into ``text``) and scroll it to the middle of the view."""
        self._shown += 1
        view = self.text_view
        shown = (path, first_line, len(text))
        if self.current.get("shown") != shown:
            view.show_text(text, first_line)
        self.setCurrentWidget(view)
        length = len(view.toPlainText())
        cursor = QTextCursor(view.document())
        cursor.setPosition(min(start, length))
        cursor.setPosition(min(end, length), QTextCursor.MoveMode.KeepAnchor)
        highlight = QTextCharFormat()
        highlight.setBackground(QColor(HIGHLIGHT))
        highlight.setForeground(QColor("#000000"))  # readable on the yellow in either theme
        selection = QTextEdit.ExtraSelection()
        selection.cursor, selection.format = cursor, highlight
        view.setExtraSelections([selection])
        view.setTextCursor(QTextCursor(cursor.document().findBlock(cursor.selectionStart())))
        self._centre(cursor)
        self.current = {"path": path, "line": line, "shown": shown}

    def _centre(self, cursor: QTextCursor) -> None:
        """Scroll so the passage is in the middle (its first lines, if it is taller)."""
        view = self.text_view
        document = view.document()
        first = document.findBlock(cursor.selectionStart()).blockNumber()
        last = document.findBlock(cursor.selectionEnd()).blockNumber()
        visible = max(1, view.viewport().height() // max(1, view.fontMetrics().height()))
        top = (first + last - visible) // 2 if last - first < visible else first - 2
        view.verticalScrollBar().setValue(max(0, top + 1))

    def show_passage(self, record: dict, text: str, offset: int = 0, first_line: int = 1) -> None:
        """Show a document's text (or the part of it from ``offset``, whose first line is
        ``first_line``) with a passage or citation record's span highlighted (for an image
        read by OCR: its page, with the passage's lines boxed)."""
        start = qt_offset(text, record["start"] - offset)
        end = qt_offset(text, record["end"] - offset)
        path, line = record["path"], record["line_start"]
        self.show_text(path, text.replace("\r", ""), start, end, line, first_line)
        page = record.get("page")
        if page and Path(record["path"]).suffix.lower() in IMAGE_SUFFIXES:
            self._box_ocr_lines(record["path"], page, start=record["start"], end=record["end"])

    # ------------------------------------------------------------------ pages read by OCR

    def _box_ocr_lines(
        self,
        path: str,
        page: int,
        *,
        start: int | None = None,
        end: int | None = None,
        snippet: str = "",
    ) -> None:
        """Ask the library, in the background, whether the page was read by OCR and which
        of its lines the passage covers; if it was, show the page with them boxed."""
        self._shown += 1
        shown = self._shown
        session = self.session or getattr(self.window(), "session", None)
        if not isinstance(session, LibrarySession):
            return

        def work(library: Library) -> list[OcrLine] | None:
            return library.ocr_highlight(path, page, start=start, end=end, snippet=snippet)

        def done(lines: list[OcrLine] | None) -> None:
            if lines is not None and shown == self._shown:
                looked_for = bool(snippet.strip()) or start is not None
                self._show_scan(path, page, lines, looked_for)

        session.run("ocr lines", work, done)

    def _show_scan(self, path: str, page: int, lines: list[OcrLine], looked_for: bool) -> None:
        image = self._page_image(path, page)
        if image.isNull():
            return
        caption = f"Page {page}, read by OCR (a scanned page)"
        if lines:
            caption += f": {_count(lines)} boxed"
        elif looked_for:
            caption += ": the passage's words were not found on it"
        self.setCurrentWidget(self.scan_view)
        self.scan_view.show_page(image, lines, caption + ".")
        self.current = {"path": path, "page": page, "ocr": True}

    def _page_image(self, path: str, page: int) -> QImage:
        """A page of a PDF (already loaded) or a frame of an image file, drawn for the pane."""
        if Path(path).suffix.lower() in IMAGE_SUFFIXES:
            reader = QImageReader(path)
            reader.setAutoTransform(True)  # EXIF orientation, as OCR read it
            if page > 1:
                reader.jumpToImage(page - 1)
            size = reader.size()
            if size.width() > _PAGE_PIXELS * 2:
                reader.setScaledSize(
                    size.scaled(_PAGE_PIXELS * 2, 1 << 20, Qt.AspectRatioMode.KeepAspectRatio)
                )
            return reader.read()
        points = self.pdf_document.pagePointSize(page - 1)
        if points.width() <= 0:
            return QImage()
        height = round(_PAGE_PIXELS * points.height() / points.width())
        return self.pdf_document.render(page - 1, QSize(_PAGE_PIXELS, height))


def _count(lines: list[OcrLine]) -> str:
    """ "1 line" or "3 lines"."""
    return f"{len(lines)} line" if len(lines) == 1 else f"{len(lines)} lines"


def qt_offset(text: str, offset: int) -> int:
    """A Python offset into ``text`` as a position in Qt's view of it (\\r dropped, UTF-16)."""
    head = text[:offset]
    return len(head) - head.count("\r") + sum(1 for ch in head if ord(ch) > 0xFFFF)
