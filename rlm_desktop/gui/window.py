"""The main window: library on the left, conversation in the centre, evidence on the right.

The window builds the panels, the menus and shortcuts, takes drops, keeps its layout, and
wires the panels together; the panels talk to each other only through signals, and to the
library only through the one ``LibrarySession``.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from PySide6.QtCore import QSettings, Qt, QUrl
from PySide6.QtGui import (
    QAction,
    QCloseEvent,
    QDesktopServices,
    QDragEnterEvent,
    QDragLeaveEvent,
    QDropEvent,
    QKeyEvent,
    QKeySequence,
    QShortcut,
)
from PySide6.QtWidgets import QFileDialog, QMainWindow, QMenu, QMessageBox, QSplitter

from rlm_desktop.gui.about_dialog import AboutDialog
from rlm_desktop.gui.conversation_panel import ConversationPanel
from rlm_desktop.gui.evidence import EvidencePanel
from rlm_desktop.gui.export_dialog import ExportDialog
from rlm_desktop.gui.first_launch import FirstLaunchDialog
from rlm_desktop.gui.library_panel import LibraryPanel
from rlm_desktop.gui.library_session import LibrarySession
from rlm_desktop.gui.settings_dialog import SettingsDialog
from rlm_desktop.gui.theme import apply_theme
from rlm_desktop.paths import data_dir, sample_documents
from rlm_desktop.settings import Settings, load_settings, save_settings, settings_path
from rlm_desktop.store import Library
from rlm_desktop.textsafe import printable

TITLE = "RLM Desktop"


class MainWindow(QMainWindow):
    """One window over one library."""

    def __init__(self, library_dir: Path, first_launch: bool | None = None) -> None:
        super().__init__()
        fresh = not settings_path().exists()
        self.settings = load_settings()
        self.session = LibrarySession(Path(library_dir))
        self.setAcceptDrops(True)
        self._build()
        self._restore_state()
        apply_theme(self.settings.theme)
        self.open_library(self.session.folder)
        if first_launch if first_launch is not None else fresh:
            self._first_launch()

    # ------------------------------------------------------------------ layout

    def _build(self) -> None:
        self.library_panel = LibraryPanel(self.session)
        self.conversation = ConversationPanel(self.session, self.settings)
        self.evidence = EvidencePanel()
        for panel in (self.library_panel, self.conversation):
            panel.error.connect(self._error)
        self.library_panel.status.connect(self.conversation.status.setText)
        self.library_panel.selected.connect(self.conversation.set_selection)
        self.conversation.run_shown.connect(self._show_evidence)
        self.conversation.run_started.connect(self.evidence.clear)
        self.conversation.answer.citation_activated.connect(self.open_source)
        self.evidence.passage_activated.connect(self.open_source)
        self.splitter = QSplitter()
        for widget in (self.library_panel, self.conversation, self.evidence):
            self.splitter.addWidget(widget)
        self.splitter.setSizes([420, 500, 360])
        self.setCentralWidget(self.splitter)
        self._menus()

    def _menus(self) -> None:
        library, conversation = self.library_panel, self.conversation
        file_menu = self.menuBar().addMenu("&File")
        self._add_action(file_menu, "Add files…", library.add_files, QKeySequence("Ctrl+O"))
        self._add_action(file_menu, "Add folder…", library.add_folder, QKeySequence("Ctrl+Shift+O"))
        self._add_action(file_menu, "Rescan", library.rescan)
        self._add_action(
            file_menu,
            "Export…",
            self.open_export,
            QKeySequence("Ctrl+E"),
            "Export the answer (or the whole history) with its cited snippets",
        )
        self._add_action(file_menu, "Settings…", self.open_settings, QKeySequence("Ctrl+,"))
        self._add_action(file_menu, "Quit", self.close, QKeySequence(QKeySequence.StandardKey.Quit))
        self.library_menu = self.menuBar().addMenu("&Library")
        self.watch_action = QAction("Watch folders", self, checkable=True)
        self.watch_action.setChecked(self.settings.watch_folders)
        self.watch_action.setToolTip("Re-ingest automatically when files in added folders change")
        self.watch_action.toggled.connect(self._toggle_watch)
        self._fill_library_menu()
        help_menu = self.menuBar().addMenu("&Help")
        self._add_action(
            help_menu,
            "Latest benchmark report",
            self.open_benchmark_report,
            tip="Open the report of the last `rlm-desktop bench quality` run",
        )
        self._add_action(help_menu, "About", self._about)
        for keys, slot in (
            ("Ctrl+Return", conversation.ask),
            ("Ctrl+Enter", conversation.ask),
            ("Ctrl+F", self.find_text),
            ("Ctrl+L", conversation.question.setFocus),
            ("Ctrl+N", conversation.new_conversation),
        ):
            QShortcut(QKeySequence(keys), self).activated.connect(slot)

    def find_text(self) -> None:
        """Ctrl+F: find in the pane being read — the source viewer, the answer — or filter
        the library's documents."""
        focus = self.focusWidget()
        if focus is not None and self.library_panel.isAncestorOf(focus):
            self.library_panel.filter_box.setFocus()
            self.library_panel.filter_box.selectAll()
        elif focus is not None and self.evidence.isAncestorOf(focus):
            self.evidence.find_bar.open_bar()
        else:
            self.conversation.find_bar.open_bar()

    def _add_action(
        self,
        menu: QMenu,
        text: str,
        slot: Callable[[], object],
        keys: QKeySequence | None = None,
        tip: str = "",
    ) -> QAction:
        action = QAction(text, self)
        if keys is not None:
            action.setShortcut(keys)
        if tip:
            action.setToolTip(tip)
        action.triggered.connect(slot)
        menu.addAction(action)
        return action

    def _fill_library_menu(self) -> None:
        self.library_menu.clear()
        open_action = self._add_action(self.library_menu, "Open library…", self._choose_library)
        open_action.setToolTip("Switch to (or create) a library in another folder")
        self.library_menu.addAction(self.watch_action)
        if self.settings.recent_libraries:
            self.library_menu.addSeparator()
        for folder in self.settings.recent_libraries:
            self._add_action(
                self.library_menu,
                printable(folder).replace("&", "&&"),
                self._opener(folder),
            )

    def _opener(self, folder: str) -> Callable[[], None]:
        return lambda: self.open_library(Path(folder))

    # ------------------------------------------------------------------ the library

    @property
    def library_dir(self) -> Path:
        """The folder of the library shown."""
        return self.session.folder

    def _choose_library(self) -> None:
        folder = QFileDialog.getExistingDirectory(self, "Open or create a library folder")
        if folder:
            self.open_library(Path(folder))

    def open_library(self, folder: Path) -> None:
        """Show another library (several can be kept; the recent ones are in the menu)."""
        folder = Path(folder)
        self.setWindowTitle(f"{TITLE} — {printable(str(folder))}")
        recent = [str(folder)] + [f for f in self.settings.recent_libraries if f != str(folder)]
        self.settings.recent_libraries = recent[:8]
        save_settings(self.settings)
        self._fill_library_menu()
        self.session.open(folder)
        self._toggle_watch(self.settings.watch_folders)

    def ingest(self, paths: list[str]) -> None:
        """Add files/folders in the background with progress and cancel."""
        self.library_panel.ingest(paths)

    def _toggle_watch(self, on: bool) -> None:
        self.settings.watch_folders = on
        save_settings(self.settings)
        self.library_panel.watch(on)

    def _show_evidence(self, citations: list[dict], explored: list[dict]) -> None:
        self.evidence.show_result(citations, explored, self.library_panel.lengths())

    def open_source(self, record: dict) -> None:
        """Open the document of a passage or citation at its page or line."""
        path, source = record["path"], self.evidence.source
        if self.library_panel.kind_of(path) == "pdf" and record.get("page"):
            snippet = record.get("snippet", "")
            source.show_pdf(path, record["page"], snippet, record.get("start"), record.get("end"))
            return
        start, end = record["start"], record["end"]
        self.session.run(
            "source",
            lambda library: _text_around(library, path, start, end),
            lambda found: source.show_passage(record, *found),
            self._error,
        )

    # ------------------------------------------------------------------ dialogs

    def open_settings(self) -> SettingsDialog:
        """Open the Settings dialog (non-modal); saved settings apply at once."""
        dialog = SettingsDialog(self.settings, self)
        dialog.accepted.connect(lambda: self._apply_settings(dialog.result_settings))
        dialog.open()
        return dialog

    def _apply_settings(self, settings: Settings | None) -> None:
        if settings is None:
            return
        self.settings = settings
        save_settings(settings)
        self.set_theme(settings.theme)
        self.conversation.apply_settings(settings)
        self.conversation.status.setText("Settings saved.")

    def set_theme(self, theme: str) -> None:
        """Apply a theme and redraw what was drawn in the last one's colours."""
        apply_theme(theme)
        self.conversation.restyle()
        self.evidence.restyle()

    def _first_launch(self) -> FirstLaunchDialog:
        dialog = FirstLaunchDialog(self)

        def chosen() -> None:
            self.settings.model = dialog.model
            if dialog.model != "demo":
                self.settings.remember_model(dialog.model)
            save_settings(self.settings)
            self.conversation.use_model(dialog.model)
            if dialog.samples.isChecked():
                self.ingest([str(path) for path in sample_documents()])

        dialog.accepted.connect(chosen)
        dialog.open()
        self.first_launch_dialog = dialog
        return dialog

    def open_export(self) -> ExportDialog:
        """Ask for a format and a file, then export in the background."""
        dialog = ExportDialog(bool(self.conversation.current_run_id), self)
        dialog.accepted.connect(lambda: self._export_chosen(dialog))
        dialog.open()
        return dialog

    def _export_chosen(self, dialog: ExportDialog) -> None:
        fmt = dialog.format()
        path, _ = QFileDialog.getSaveFileName(
            self, "Export", f"answers.{fmt}", f"{fmt.upper()} (*.{fmt})"
        )
        if path:
            self.export_to(Path(path), fmt, dialog.whole_history(), dialog.trajectory())

    def export_to(self, path: Path, fmt: str, whole_history: bool, trajectory: bool) -> None:
        """Export the shown answer (or every answer) to ``path``."""
        from rlm_desktop.export import ExportRun, export_runs
        from rlm_desktop.gui.pdf_export import html_to_pdf

        run_id = self.conversation.current_run_id
        chosen = [run_id] if run_id else []

        def work(library: Library) -> Path:
            picked = library.pick_runs(chosen, everything=whole_history)
            runs = [ExportRun.from_saved(record) for record in picked]
            return export_runs(runs, fmt, path, trajectory, pdf_renderer=html_to_pdf)

        self.session.run(
            "export",
            work,
            lambda p: self.conversation.status.setText(f"Exported to {p}"),
            self._error,
        )

    def open_benchmark_report(self) -> bool:
        """Open the latest quality report in the browser (True if there is one)."""
        report = data_dir() / "bench" / "latest" / "report.html"
        if not report.exists():
            self.conversation.status.setText(
                "No benchmark report yet: run `rlm-desktop bench quality`."
            )
            return False
        QDesktopServices.openUrl(QUrl.fromLocalFile(str(report)))
        return True

    def _about(self) -> AboutDialog:
        dialog = AboutDialog(self)
        dialog.open()
        self.about_dialog = dialog
        return dialog

    def _error(self, message: str) -> None:
        """Show a readable message without blocking the window (no traceback, no modal loop)."""
        message = printable(message, multiline=True)
        self.conversation.status.setText(message)
        box = QMessageBox(QMessageBox.Icon.Warning, TITLE, message, parent=self)
        box.setTextFormat(Qt.TextFormat.PlainText)
        box.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)
        box.open()

    # ------------------------------------------------------------------ events and state

    def keyPressEvent(self, event: QKeyEvent) -> None:
        # Esc stops a run from anywhere in the window, even before any shortcut is active.
        if event.key() == Qt.Key.Key_Escape:
            self.conversation.stop()
            return
        super().keyPressEvent(event)

    def dragEnterEvent(self, event: QDragEnterEvent) -> None:
        if event.mimeData().hasUrls():
            event.acceptProposedAction()
            self.library_panel.show_drop_hint(True)

    def dragLeaveEvent(self, event: QDragLeaveEvent) -> None:
        self.library_panel.show_drop_hint(False)

    def dropEvent(self, event: QDropEvent) -> None:
        paths = [url.toLocalFile() for url in event.mimeData().urls() if url.isLocalFile()]
        self.library_panel.show_drop_hint(False)
        event.acceptProposedAction()
        self.ingest(paths)

    def _state(self) -> QSettings:
        return QSettings(str(data_dir() / "window.ini"), QSettings.Format.IniFormat)

    def _restore_state(self) -> None:
        state = self._state()
        if state.value("geometry"):
            self.restoreGeometry(state.value("geometry"))
        else:
            self.resize(1280, 720)
        if state.value("splitter"):
            self.splitter.restoreState(state.value("splitter"))

    def closeEvent(self, event: QCloseEvent) -> None:
        state = self._state()
        state.setValue("geometry", self.saveGeometry())
        state.setValue("splitter", self.splitter.saveState())
        state.sync()
        self.conversation.stop()
        self.session.close()
        self.conversation.rlm = None  # its models go now, not at interpreter shutdown
        super().closeEvent(event)


def _text_around(library: Library, path: str, start: int, end: int) -> tuple[str, int, int]:
    """The text around [start:end] of the document at ``path``, with its offset and first
    line ("" when the document is no longer in the library)."""
    doc = library.document_by_path(path)
    return library.text_around(doc.id, start, end) if doc else ("", 0, 1)
