"""The Library side: the documents table and filter, adding, rescanning, removing, watching."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from PySide6.QtCore import (
    QFileSystemWatcher,
    QPoint,
    QSortFilterProxyModel,
    Qt,
    QTimer,
    QUrl,
    Signal,
)
from PySide6.QtGui import QDesktopServices
from PySide6.QtWidgets import (
    QFileDialog,
    QGridLayout,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QLineEdit,
    QMenu,
    QMessageBox,
    QProgressBar,
    QTableView,
    QVBoxLayout,
    QWidget,
)

from rlm_desktop.gui.item_models import OCR_COLUMN, SORT_ROLE, DocumentsModel
from rlm_desktop.gui.library_session import Change, LibrarySession
from rlm_desktop.gui.widgets import button, confirm
from rlm_desktop.gui.workers import Task
from rlm_desktop.ingest import pipeline
from rlm_desktop.ingest.pipeline import IngestProgress, IngestReport
from rlm_desktop.store import Document, Library
from rlm_desktop.textsafe import printable

DROP_HINT = "Drop files or folders anywhere on the window to add them"


class LibraryPanel(QWidget):
    """The library's documents, with progress and cancel while files are added."""

    status = Signal(str)  # a line for the window's status
    selected = Signal(list)  # the paths of the selected documents, when the selection changes
    error = Signal(str)  # a message the window shows in a dialog

    def __init__(self, session: LibrarySession) -> None:
        super().__init__()
        self.session = session
        session.changed.connect(self._library_changed)
        self.ingest_task: Task | None = None
        self._build()
        self.watcher = QFileSystemWatcher(self)
        self.watch_timer = QTimer(self, singleShot=True, interval=2000)
        self.watch_timer.timeout.connect(self._watched_change)
        self.watcher.directoryChanged.connect(lambda _p: self.watch_timer.start())
        self.watcher.fileChanged.connect(lambda _p: self.watch_timer.start())
        self.refresh_timer = QTimer(self, singleShot=True, interval=1000)
        self.refresh_timer.timeout.connect(self.refresh_documents)

    def _build(self) -> None:
        self.documents = DocumentsModel()
        self.filtered = QSortFilterProxyModel()
        self.filtered.setSourceModel(self.documents)
        self.filtered.setFilterCaseSensitivity(Qt.CaseSensitivity.CaseInsensitive)
        self.filtered.setFilterKeyColumn(0)
        self.filtered.setSortRole(SORT_ROLE)
        self.filter_box = QLineEdit(placeholderText="Filter documents (Ctrl+F)")
        self.filter_box.setAccessibleName("Filter documents")
        self.filter_box.setToolTip("Show only documents whose name contains this text")
        self.filter_box.textChanged.connect(self.filtered.setFilterFixedString)
        self.table = QTableView()
        self.table.setModel(self.filtered)
        self.table.selectionModel().selectionChanged.connect(
            lambda *_: self.selected.emit(self.selected_paths())
        )
        self.table.setAccessibleName("Documents")
        self.table.setToolTip("The library's documents; hover a row for warnings and errors")
        self.table.setSelectionBehavior(QTableView.SelectionBehavior.SelectRows)
        self.table.setSortingEnabled(True)
        self.table.sortByColumn(0, Qt.SortOrder.AscendingOrder)
        self.table.setTextElideMode(Qt.TextElideMode.ElideMiddle)  # names keep their ends
        self.table.setContextMenuPolicy(Qt.ContextMenuPolicy.CustomContextMenu)
        self.table.customContextMenuRequested.connect(self._menu)
        self.table.doubleClicked.connect(lambda _index: self.open_selected())
        header = self.table.horizontalHeader()
        # Set widths, every one resizable by the user: sizing to contents measures every
        # row on each refresh, which blocks the UI thread once the library is large.
        header.setSectionResizeMode(QHeaderView.ResizeMode.Interactive)
        header.setStretchLastSection(True)
        widths = ((0, 170), (1, 44), (2, 44), (3, 62), (OCR_COLUMN, 44), (5, 78), (6, 70))
        for column, width in widths:
            header.resizeSection(column, width)
        self.table.setColumnHidden(OCR_COLUMN, True)  # until a document was read by OCR
        self.table.verticalHeader().setVisible(False)
        self.table.setWordWrap(False)
        self.drop_hint = QLabel(DROP_HINT)
        self.drop_hint.setWordWrap(True)
        self.progress = QProgressBar()
        self.progress.setAccessibleName("Ingestion progress")
        self.cancel_button = button(
            "Cancel", "Stop ingesting (files done so far are kept)", self.cancel_ingest
        )
        progress_row = QHBoxLayout()
        progress_row.addWidget(self.progress)
        progress_row.addWidget(self.cancel_button)
        self._show_progress(False)
        buttons = QGridLayout()  # two by two: the panel stays narrow on a small screen
        for place, (text, tip, slot) in enumerate(
            (
                ("Add files…", "Add documents (Ctrl+O)", self.add_files),
                ("Add folder…", "Add a folder, recursively (Ctrl+Shift+O)", self.add_folder),
                ("Rescan", "Re-read changed, new and vanished files", self.rescan),
                ("Remove…", "Remove the selected documents from the library", self.confirm_remove),
            )
        ):
            buttons.addWidget(button(text, tip, slot), place // 2, place % 2)
        layout = QVBoxLayout(self)
        layout.addWidget(QLabel("<b>Library</b>"))
        layout.addWidget(self.filter_box)
        layout.addWidget(self.table)
        layout.addLayout(buttons)
        layout.addLayout(progress_row)
        layout.addWidget(self.drop_hint)

    # ------------------------------------------------------------------ what is shown

    def refresh_documents(self) -> None:
        """Re-read the document list in the background."""
        self.session.run("documents", Library.documents, self._show_documents, self.error.emit)

    def _show_documents(self, documents: list[Document]) -> None:
        self.documents.set_documents(documents)
        # The OCR column (mean confidence) takes room only in a library with scans.
        self.table.setColumnHidden(OCR_COLUMN, not any(d.ocr_pages for d in documents))

    def kind_of(self, path: str) -> str:
        """The kind of the listed document at ``path`` ("text" when it is not listed)."""
        return next((d.kind for d in self.documents.documents if d.path == path), "text")

    def lengths(self) -> dict[str, int]:
        """Each listed document's length in characters, by path."""
        return {d.path: d.chars for d in self.documents.documents}

    def show_drop_hint(self, dragging: bool) -> None:
        """Say what a drop will do while files are dragged over the window."""
        self.drop_hint.setText("<b>Drop to add these to the library</b>" if dragging else DROP_HINT)

    def _library_changed(self, change: Change) -> None:
        if change & Change.DOCUMENTS:
            self.refresh_documents()

    # ------------------------------------------------------------------ adding and removing

    def add_files(self) -> None:
        """Ask for files and add them."""
        files, _ = QFileDialog.getOpenFileNames(self, "Add files")
        self.ingest(files)

    def add_folder(self) -> None:
        """Ask for a folder and add it, recursively."""
        folder = QFileDialog.getExistingDirectory(self, "Add a folder")
        self.ingest([folder] if folder else [])

    def ingest(self, paths: list[str]) -> None:
        """Add files/folders in the background with progress and cancel."""
        if not paths:
            return
        if self.session.busy("ingest"):
            self.error.emit("An ingest is already running; wait for it or cancel it.")
            return

        def work(library: Library, task: Task) -> IngestReport:
            return pipeline.ingest(library, paths, on_progress=task.report, cancel=task.cancel)

        self._show_progress(True)
        self.progress.setFormat("starting…")
        self._start_ingest(work)

    def rescan(self) -> None:
        """Re-read changed, new and vanished files in the background."""

        def work(library: Library, task: Task) -> IngestReport:
            return pipeline.rescan(library, on_progress=task.report, cancel=task.cancel)

        self._show_progress(True)
        self._start_ingest(work)

    def _start_ingest(self, work: Callable[[Library, Task], IngestReport]) -> None:
        self.ingest_task = self.session.run_long(
            "ingest",
            work,
            self._ingested,
            self._ingest_failed,
            self._ingest_progress,
            changes=Change.DOCUMENTS,
        )

    def cancel_ingest(self) -> None:
        """Stop the running ingest; the files done so far are kept."""
        if self.ingest_task is not None:
            self.ingest_task.cancel.set()

    def selected_paths(self) -> list[str]:
        """The paths of the selected documents, in the order shown."""
        rows = sorted({i.row() for i in self.table.selectedIndexes()})
        return [
            self.documents.documents[
                self.filtered.mapToSource(self.filtered.index(r, 0)).row()
            ].path
            for r in rows
        ]

    def _menu(self, at: QPoint) -> None:
        if not self.table.indexAt(at).isValid():
            return
        menu = QMenu(self)
        menu.addAction("Open", self.open_selected)
        menu.addAction("Show in folder", self.show_in_folder)
        menu.addAction("Rescan", self.rescan)
        menu.addSeparator()
        menu.addAction("Remove…", self.confirm_remove)
        menu.popup(self.table.viewport().mapToGlobal(at))

    def open_selected(self) -> None:
        """Open the selected documents in the programs the system chooses."""
        for path in self.selected_paths():
            QDesktopServices.openUrl(QUrl.fromLocalFile(path))

    def show_in_folder(self) -> None:
        """Open the folders that hold the selected documents."""
        for folder in dict.fromkeys(str(Path(p).parent) for p in self.selected_paths()):
            QDesktopServices.openUrl(QUrl.fromLocalFile(folder))

    def confirm_remove(self) -> QMessageBox | None:
        """Ask, then remove the selected documents from the library (the files stay)."""
        paths = self.selected_paths()
        if not paths:
            return None
        what = printable(Path(paths[0]).name) if len(paths) == 1 else f"{len(paths)} documents"
        text = f"Remove {what} from the library? The files on disk are not touched."
        box = confirm(self, "Remove", text, lambda: self.remove(paths))
        self.remove_box = box
        return box

    def remove(self, paths: list[str]) -> None:
        """Remove these documents from the library."""
        if paths:
            self.session.run(
                "remove",
                lambda library: pipeline.remove(library, paths),
                on_error=self.error.emit,
                changes=Change.DOCUMENTS,
            )

    def _ingest_progress(self, event: IngestProgress) -> None:
        self.progress.setMaximum(max(1, event.total))
        self.progress.setValue(event.done)
        percent = 100 * event.done // max(1, event.total)
        page = f" (OCR page {event.page} of {event.pages})" if event.pages else ""
        self.progress.setFormat(
            f"{event.done} of {event.total} files ({percent}%) — "
            f"{printable(Path(event.path).name)}{page}"
        )
        # Documents appear in the table as they are stored (at most one refresh a second).
        if not self.refresh_timer.isActive():
            self.refresh_timer.start()

    def _ingested(self, report: IngestReport) -> None:
        self._show_progress(False)
        counts = report.counts()
        summary = ", ".join(f"{n} {status}" for status, n in counts.items() if n)
        self.status.emit(f"Ingest {'cancelled' if report.cancelled else 'done'}: {summary}")

    def _ingest_failed(self, message: str) -> None:
        self._show_progress(False)
        self.error.emit(message)

    def _show_progress(self, visible: bool) -> None:
        self.progress.setVisible(visible)
        self.cancel_button.setVisible(visible)

    # ------------------------------------------------------------------ watching

    def watch(self, on: bool) -> None:
        """Rescan by itself when files in the library's folders change (or stop doing so)."""
        watched = self.watcher.directories() + self.watcher.files()
        if watched:
            self.watcher.removePaths(watched)
        if on:
            self.session.run("sources", Library.sources, self._watch_paths, self.error.emit)

    def _watch_paths(self, sources: list[str]) -> None:
        existing = [p for p in sources if Path(p).exists()]
        if existing:
            self.watcher.addPaths(existing)

    def _watched_change(self) -> None:
        if self.session.busy("ingest"):
            self.watch_timer.start()  # try again when the current ingest is done
            return
        self.rescan()
