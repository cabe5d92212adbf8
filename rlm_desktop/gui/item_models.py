"""Qt item models: thin adapters over the core's plain records."""

from __future__ import annotations

from pathlib import Path

from PySide6.QtCore import QAbstractTableModel, QModelIndex, QPersistentModelIndex, Qt
from PySide6.QtGui import QColor
from PySide6.QtWidgets import QApplication, QStyle

from rlm_desktop.export.content import bytes_words, length_words
from rlm_desktop.gui.answer import status_colour
from rlm_desktop.gui.plain import tooltip
from rlm_desktop.store.library import Document
from rlm_desktop.textsafe import printable

_COLUMNS = ("Document", "Kind", "Pages", "Size", "OCR", "Length", "Status")
OCR_COLUMN = _COLUMNS.index("OCR")
STATUS_COLUMN = _COLUMNS.index("Status")
SORT_ROLE = Qt.ItemDataRole.UserRole + 1  # a value to sort a column by (numbers as numbers)
_HEADER_TIPS = {
    _COLUMNS.index("Size"): "The file's size on disk",
    _COLUMNS.index("Length"): "The text read from it, in words (six characters a word)",
    OCR_COLUMN: "Documents read by OCR (scans, images): the mean confidence of their words",
}
# A status's icon and the citation status whose colour it borrows (readable in both themes).
_STATUS_LOOK = {
    "ok": (QStyle.StandardPixmap.SP_DialogApplyButton, ""),
    "warnings": (QStyle.StandardPixmap.SP_MessageBoxWarning, "in-library"),
    "failed": (QStyle.StandardPixmap.SP_MessageBoxCritical, "not-found"),
    "skipped": (QStyle.StandardPixmap.SP_MessageBoxInformation, "too-short"),
}
_ICONS = {
    "pdf": QStyle.StandardPixmap.SP_FileDialogDetailedView,
    "docx": QStyle.StandardPixmap.SP_FileDialogContentsView,
    "image": QStyle.StandardPixmap.SP_DesktopIcon,
    "text": QStyle.StandardPixmap.SP_FileIcon,
}


class DocumentsModel(QAbstractTableModel):
    """The library's documents for a table view."""

    def __init__(self) -> None:
        super().__init__()
        self.documents: list[Document] = []

    def set_documents(self, documents: list[Document]) -> None:
        """Replace the rows (called on the UI thread with documents read in the background)."""
        self.beginResetModel()
        self.documents = list(documents)
        self.endResetModel()

    def rowCount(self, parent: QModelIndex | QPersistentModelIndex = QModelIndex()) -> int:  # noqa: B008
        return 0 if parent.isValid() else len(self.documents)

    def columnCount(self, parent: QModelIndex | QPersistentModelIndex = QModelIndex()) -> int:  # noqa: B008
        return len(_COLUMNS)

    def headerData(self, section, orientation, role=Qt.ItemDataRole.DisplayRole):
        if orientation != Qt.Orientation.Horizontal:
            return None
        if role == Qt.ItemDataRole.DisplayRole:
            return _COLUMNS[section]
        if role == Qt.ItemDataRole.ToolTipRole:
            return _HEADER_TIPS.get(section)
        return None

    def data(self, index: QModelIndex | QPersistentModelIndex, role=Qt.ItemDataRole.DisplayRole):
        if not index.isValid():
            return None
        doc = self.documents[index.row()]
        column = index.column()
        if role == Qt.ItemDataRole.DisplayRole:
            return (
                printable(Path(doc.path).name),
                doc.kind,
                "" if doc.pages is None else str(doc.pages),
                bytes_words(doc.size),
                _ocr(doc),
                length_words(doc.chars) if doc.chars else "",
                _status(doc),
            )[column]
        if role == Qt.ItemDataRole.ToolTipRole:
            notes = printable(doc.error) or "\n".join(map(printable, doc.warnings)) or "no warnings"
            ocr = f"\n{doc.ocr_note}" if doc.ocr_note else ""
            return tooltip(f"{printable(doc.path)}\n{doc.status}: {notes}{ocr}")
        if role == Qt.ItemDataRole.TextAlignmentRole and column == OCR_COLUMN:
            return Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter
        if role == SORT_ROLE:
            return (
                Path(doc.path).name.lower(),
                doc.kind,
                doc.pages or 0,
                doc.size,
                doc.ocr_confidence or 0.0,
                doc.chars,
                doc.status,
            )[column]
        if role == Qt.ItemDataRole.DecorationRole and column == 0:
            style = QApplication.style()
            return style.standardIcon(_ICONS.get(doc.kind, QStyle.StandardPixmap.SP_FileIcon))
        look = _STATUS_LOOK.get(doc.status)
        if look and column == STATUS_COLUMN:
            if role == Qt.ItemDataRole.DecorationRole:
                return QApplication.style().standardIcon(look[0])
            if role == Qt.ItemDataRole.ForegroundRole and look[1]:
                return QColor(status_colour(look[1]))
        if role == Qt.ItemDataRole.ForegroundRole and doc.status in ("failed", "skipped"):
            return QColor(status_colour(_STATUS_LOOK[doc.status][1]))
        if role == Qt.ItemDataRole.UserRole:
            return doc
        return None


def _ocr(doc: Document) -> str:
    """ "96%" for a document read by OCR (its words' mean confidence), "" for the others."""
    if not doc.ocr_pages:
        return ""
    return "no text" if doc.ocr_confidence is None else f"{doc.ocr_confidence:.0%}"


def _status(doc: Document) -> str:
    if doc.status == "warnings":
        return f"ok, {len(doc.warnings)} warning(s)"
    if doc.status in ("failed", "skipped"):
        return f"{doc.status}: {printable(doc.error)}"
    return doc.status
