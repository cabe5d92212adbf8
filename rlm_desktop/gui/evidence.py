"""The Evidence side: explored passages by document with coverage strips, over the source."""

from __future__ import annotations

from pathlib import Path

from PySide6.QtCore import Qt, Signal
from PySide6.QtGui import QColor, QPainter
from PySide6.QtWidgets import (
    QLabel,
    QSplitter,
    QTreeWidget,
    QTreeWidgetItem,
    QVBoxLayout,
    QWidget,
)

from rlm_desktop.gui.plain import tooltip
from rlm_desktop.gui.source_viewer import SourceView
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
        painter.fillRect(self.rect(), QColor("#d9dde3"))
        width = self.width()
        for start, end in self.ranges:
            x = int(start / self.length * width)
            w = max(2, int((end - start) / self.length * width))
            painter.fillRect(x, 0, w, self.height(), QColor("#2f7de1"))


def describe(record: dict) -> str:
    """ "p. 3, lines 10-12" for a location record."""
    where = f"p. {record['page']}, " if record.get("page") is not None else ""
    return f"{where}lines {record['line_start']}-{record['line_end']}"


class EvidencePanel(QWidget):
    """Explored passages grouped by document, cited ones first and marked verified or not."""

    passage_activated = Signal(dict)

    def __init__(self) -> None:
        super().__init__()
        self.tree = QTreeWidget()
        self.tree.setHeaderLabels(["Passage", "How / coverage"])
        self.tree.header().resizeSection(0, 250)
        self.tree.setAccessibleName("Explored passages")
        self.tree.setToolTip("Passages the model actually saw; click one to open its source")
        self.tree.itemActivated.connect(self._activated)
        self.tree.itemClicked.connect(self._activated)
        self.source = SourceView()
        split = QSplitter(Qt.Orientation.Vertical)
        split.addWidget(self.tree)
        split.addWidget(self.source)
        split.setSizes([220, 480])
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(QLabel("<b>Evidence</b>"))
        layout.addWidget(split)

    def show_result(self, citations: list[dict], explored: list[dict], lengths: dict) -> None:
        """Fill the tree from a finished run."""
        self.tree.clear()
        by_doc: dict[str, list[dict]] = {}
        for c in citations:
            if c.get("path"):
                by_doc.setdefault(c["path"], []).append({**c, "via": "cited"})
        for e in explored:
            by_doc.setdefault(e["path"], []).append(e)
        unverified = [c for c in citations if not c.get("verified")]
        if unverified:
            top = QTreeWidgetItem([f"Unverified citations ({len(unverified)})", ""])
            self.tree.addTopLevelItem(top)
            for c in unverified:
                snippet = printable(" ".join(c["snippet"].split())[:80])
                QTreeWidgetItem(top, [f'[{c["n"]}] ✗ "{snippet}"', "not found"])
            top.setExpanded(True)
        for path, records in by_doc.items():
            records.sort(key=lambda r: (r["via"] != "cited", r["start"]))
            top = QTreeWidgetItem([f"{printable(Path(path).name)} ({len(records)})", ""])
            top.setToolTip(0, tooltip(printable(path)))
            self.tree.addTopLevelItem(top)
            ranges = [(r["start"], r["end"]) for r in records]
            self.tree.setItemWidget(top, 1, CoverageStrip(lengths.get(path, 0), ranges))
            for r in records:
                label = describe(r)
                if r["via"] == "cited":
                    label = f"[{r['n']}] ✓ {label}"
                item = QTreeWidgetItem(top, [label, r["via"]])
                item.setData(0, PASSAGE_ROLE, r)
                item.setToolTip(0, tooltip(r.get("snippet", "")[:500]))
            top.setExpanded(True)

    def _activated(self, item: QTreeWidgetItem) -> None:
        record = item.data(0, PASSAGE_ROLE)
        if record:
            self.passage_activated.emit(record)
