"""The Evidence side: citations by status, explored passages by document, over the source."""

from __future__ import annotations

from pathlib import Path

from PySide6.QtCore import QRect, QSize, Qt, Signal
from PySide6.QtGui import QColor, QFontMetrics, QPainter, QPalette
from PySide6.QtWidgets import (
    QLabel,
    QSplitter,
    QStyledItemDelegate,
    QTreeWidget,
    QTreeWidgetItem,
    QVBoxLayout,
    QWidget,
)

from rlm_desktop.export.content import (
    STATUS_ORDER,
    citation_title,
    citations_from_records,
    places_words,
    reader_words,
    record_location,
    status_label,
    status_meaning,
    status_text,
    support_label,
)
from rlm_desktop.gui.answer import status_colour
from rlm_desktop.gui.find_bar import FindBar
from rlm_desktop.gui.plain import tooltip
from rlm_desktop.gui.source_viewer import SourceView
from rlm_desktop.records import citation_mark
from rlm_desktop.textsafe import printable

PASSAGE_ROLE = Qt.ItemDataRole.UserRole


class CoverageStrip(QWidget):
    """A thin bar: the parts of a document the model looked at."""

    def __init__(self, length: int, ranges: list[tuple[int, int]]) -> None:
        super().__init__()
        self.length, self.ranges = max(1, length), ranges
        self.setFixedHeight(8)
        self.setToolTip(f"{len(ranges)} explored range(s) of {length:,} characters")

    def paintEvent(self, event) -> None:
        painter = QPainter(self)
        # The palette's highlight, faint for the document and full for what was looked at:
        # visible on the light and the dark theme alike.
        looked_at = self.palette().color(QPalette.ColorRole.Highlight)
        document = QColor(looked_at)
        document.setAlpha(60)
        painter.fillRect(self.rect(), document)
        width = self.width()
        for start, end in self.ranges:
            x = int(start / self.length * width)
            w = max(2, int((end - start) / self.length * width))
            painter.fillRect(x, 0, w, self.height(), looked_at)


class _Wrapped(QStyledItemDelegate):
    """Rows as tall as their text wrapped to the pane's width (Qt's tree does not size them)."""

    def __init__(self, tree: QTreeWidget) -> None:
        super().__init__(tree)
        self.tree = tree

    def sizeHint(self, option, index) -> QSize:
        hint = super().sizeHint(option, index)
        text = index.data() or ""
        depth, parent = 1, index.parent()
        while parent.isValid():
            depth, parent = depth + 1, parent.parent()
        width = self.tree.header().sectionSize(0) - self.tree.indentation() * depth - 6
        if not text or width <= 0:
            return hint
        font = index.data(Qt.ItemDataRole.FontRole)
        metrics = QFontMetrics(font) if font is not None else option.fontMetrics
        wrapped = metrics.boundingRect(QRect(0, 0, width, 100_000), Qt.TextFlag.TextWordWrap, text)
        return QSize(hint.width(), max(hint.height(), wrapped.height() + 4))


def _one_line(text: str, limit: int = 80) -> str:
    return printable(" ".join(text.split())[:limit])


class EvidencePanel(QWidget):
    """The run's citations grouped by status (read first), then the passages the model saw,
    by document, each with who read it."""

    passage_activated = Signal(dict)

    def __init__(self) -> None:
        super().__init__()
        self.shown: tuple[list[dict], list[dict], dict] | None = None  # for restyling
        self.tree = QTreeWidget()
        # One column, wrapped: the pane is narrow, and the status words must stay whole.
        # A document's coverage strip is a row of its own under the document's name.
        self.tree.setColumnCount(1)
        self.tree.setHeaderHidden(True)
        self.tree.setWordWrap(True)
        self.tree.setUniformRowHeights(False)
        self.tree.setIndentation(14)
        self.tree.setItemDelegate(_Wrapped(self.tree))
        self.tree.header().sectionResized.connect(self.tree.scheduleDelayedItemsLayout)
        self.tree.setAccessibleName("Citations and explored passages")
        self.tree.setToolTip(
            "The answer's citations by status, then the passages the model actually saw; "
            "click one to open its source"
        )
        self.tree.itemActivated.connect(self._activated)
        self.tree.itemClicked.connect(self._activated)
        self.source = SourceView()
        source = self.source
        self.find_bar = FindBar(
            lambda: source.text_view if source.currentWidget() is source.text_view else None,
            "source",
            source.find_in_pdf,
        )
        viewer = QWidget()
        viewer_layout = QVBoxLayout(viewer)
        viewer_layout.setContentsMargins(0, 0, 0, 0)
        viewer_layout.setSpacing(0)
        viewer_layout.addWidget(self.source)
        viewer_layout.addWidget(self.find_bar)
        split = QSplitter(Qt.Orientation.Vertical)
        split.addWidget(self.tree)
        split.addWidget(viewer)
        split.setSizes([340, 360])
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(QLabel("<b>Evidence</b>"))
        layout.addWidget(split)

    def clear(self) -> None:
        """Show nothing: a new question is running."""
        self.shown = None
        self.tree.clear()
        self.source.clear()

    def restyle(self) -> None:
        """Fill the tree again in the colours of the current theme."""
        if self.shown is not None:
            self.show_result(*self.shown)

    def show_result(self, citations: list[dict], explored: list[dict], lengths: dict) -> None:
        """Fill the tree from a finished run."""
        self.shown = (citations, explored, lengths)
        self.tree.clear()
        self._add_citations(citations)
        by_doc: dict[str, list[dict]] = {}
        for e in explored:
            by_doc.setdefault(e["path"], []).append(e)
        for path, records in by_doc.items():
            records.sort(key=lambda r: r["start"])
            top = QTreeWidgetItem([f"{printable(Path(path).name)} ({len(records)} explored)"])
            top.setToolTip(0, tooltip(printable(path)))
            self.tree.addTopLevelItem(top)
            ranges = [(r["start"], r["end"]) for r in records]
            strip = QTreeWidgetItem(top)
            strip.setSizeHint(0, QSize(0, 12))
            self.tree.setItemWidget(strip, 0, CoverageStrip(lengths.get(path, 0), ranges))
            for r in records:
                label = " · ".join(
                    w for w in (reader_words(r), record_location(r), places_words(r)) if w
                )
                item = QTreeWidgetItem(top, [label])
                item.setData(0, PASSAGE_ROLE, r)
                item.setToolTip(0, tooltip(_explored_tip(r)))
            top.setExpanded(True)

    def _add_citations(self, citations: list[dict]) -> None:
        """One group per citation status, read first; a citation with a place opens it."""
        records = {c["n"]: c for c in citations}
        checked = citations_from_records(citations)
        for status in STATUS_ORDER:
            group = [c for c in checked if c.status == status]
            if not group:
                continue
            top = QTreeWidgetItem([f"{status_label(status)} ({len(group)})"])
            top.setForeground(0, QColor(status_colour(status)))
            font = top.font(0)
            font.setBold(True)
            top.setFont(0, font)
            meaning = status_meaning(status)
            top.setToolTip(0, tooltip(f"Citations {status_label(status)}: {meaning}"))
            self.tree.addTopLevelItem(top)
            for c in group:
                where = citation_title(c) if c.span else f'"{_one_line(c.snippet)}"'
                label = f"[{c.n}] {citation_mark(status)} {where}"
                if verdict := support_label(c.support):
                    label += f" · {verdict}"
                item = QTreeWidgetItem(top, [label])
                tip = f"{status_text(c.status, c.support)}: {meaning}\n\n{c.snippet[:500]}"
                item.setToolTip(0, tooltip(tip))
                if c.span is not None:
                    item.setData(0, PASSAGE_ROLE, records[c.n])
            top.setExpanded(True)

    def _activated(self, item: QTreeWidgetItem) -> None:
        record = item.data(0, PASSAGE_ROLE)
        if record:
            self.passage_activated.emit(record)


def _explored_tip(record: dict) -> str:
    """Who read a passage and how it got there, and whether its place is certain."""
    how = "printed by code" if record.get("via") == "printed" else "sent in a sub-call prompt"
    lines = [f"Read by: {reader_words(record)} ({how})."]
    if places_words(record):
        lines.append(
            f"This text occurs at {record['occurrences']} places; the run could not tell "
            "which one it read, so it is listed at each."
        )
    if record.get("snippet"):
        lines.append("")
        lines.append(record["snippet"][:500])
    return "\n".join(lines)
