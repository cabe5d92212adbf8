"""Qt item models: thin adapters over the core's plain records."""

from __future__ import annotations

from pathlib import Path

from PySide6.QtCore import QAbstractTableModel, QModelIndex, QPersistentModelIndex, Qt
from PySide6.QtWidgets import QApplication, QStyle

from rlm_desktop.gui.plain import tooltip
from rlm_desktop.store.library import Document
from rlm_desktop.textsafe import printable

_COLUMNS = ("Document", "Kind", "Pages", "Size", "OCR", "Status")
OCR_COLUMN = _COLUMNS.index("OCR")
_HEADER_TIPS = {
    OCR_COLUMN: "Documents read by OCR (scans, images): the mean confidence of their words",
}
_ICONS = {
    "pdf": QStyle.StandardPixmap.SP_FileDialogDetailedView,
    "docx": QStyle.StandardPixmap.SP_FileDialogContentsView,
    "image": QStyle.StandardPixmap.SP_DesktopIcon,
    "text": QStyle.StandardPixmap.SP_FileIcon,
}


def _size(chars: int) -> str:
    amount = float(chars)
    for unit in ("chars", "K chars", "M chars"):
        if amount < 1000 or unit == "M chars":
            return f"{amount:,.0f} {unit}" if unit == "chars" else f"{amount:,.1f} {unit}"
        amount /= 1000
    return ""


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
                _size(doc.chars),
                _ocr(doc),
                _status(doc),
            )[column]
        if role == Qt.ItemDataRole.ToolTipRole:
            notes = printable(doc.error) or "\n".join(map(printable, doc.warnings)) or "no warnings"
            ocr = f"\n{doc.ocr_note}" if doc.ocr_note else ""
            return tooltip(f"{printable(doc.path)}\n{doc.status}: {notes}{ocr}")
        if role == Qt.ItemDataRole.TextAlignmentRole and column == OCR_COLUMN:
            return Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter
        if role == Qt.ItemDataRole.DecorationRole and column == 0:
            style = QApplication.style()
            return style.standardIcon(_ICONS.get(doc.kind, QStyle.StandardPixmap.SP_FileIcon))
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
