"""The main window: library on the left, conversation in the centre, evidence on the right."""

from __future__ import annotations

import html
import re
from pathlib import Path

from PySide6.QtCore import (
    QFileSystemWatcher,
    QSettings,
    QSortFilterProxyModel,
    Qt,
    QTimer,
    QUrl,
    Signal,
)
from PySide6.QtGui import QAction, QDesktopServices, QKeySequence, QShortcut, QTextCursor
from PySide6.QtWidgets import (
    QComboBox,
    QFileDialog,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QLineEdit,
    QListWidget,
    QMainWindow,
    QMessageBox,
    QPlainTextEdit,
    QProgressBar,
    QPushButton,
    QSplitter,
    QTableView,
    QTabWidget,
    QTextBrowser,
    QVBoxLayout,
    QWidget,
)

from rlm_desktop.gui.about_dialog import AboutDialog
from rlm_desktop.gui.evidence import EvidencePanel
from rlm_desktop.gui.export_dialog import ExportDialog
from rlm_desktop.gui.first_launch import FirstLaunchDialog
from rlm_desktop.gui.models import DocumentsModel
from rlm_desktop.gui.settings_dialog import SettingsDialog
from rlm_desktop.gui.theme import apply_theme
from rlm_desktop.gui.trajectory import event_html, subcall_text
from rlm_desktop.gui.workers import Task, TaskRunner
from rlm_desktop.ingest import pipeline
from rlm_desktop.paths import data_dir, samples_dir
from rlm_desktop.rlm.events import ModelText, SubCallEnded, SubCallStarted, TurnStarted
from rlm_desktop.settings import load_settings, save_settings, settings_path
from rlm_desktop.store import Library
from rlm_desktop.textsafe import printable

TITLE = "RLM Desktop"
_MARKER = re.compile(r"\[(\d+)\]")


def _button(text: str, tip: str, slot) -> QPushButton:
    button = QPushButton(text)
    button.setToolTip(tip)
    button.setAccessibleName(text.rstrip("…"))
    button.clicked.connect(slot)
    return button


class QuestionBox(QPlainTextEdit):
    """The question editor: Ctrl+Enter asks (Enter alone starts a new line)."""

    submitted = Signal()

    def keyPressEvent(self, event) -> None:
        enter = event.key() in (Qt.Key.Key_Return, Qt.Key.Key_Enter)
        if enter and event.modifiers() & Qt.KeyboardModifier.ControlModifier:
            self.submitted.emit()
            return
        super().keyPressEvent(event)


class MainWindow(QMainWindow):
    """One window over one library."""

    def __init__(self, library_dir: Path, first_launch: bool | None = None) -> None:
        super().__init__()
        self.library_dir = Path(library_dir)
        self.runner = TaskRunner()
        fresh = not settings_path().exists()
        self.settings = load_settings()
        self.ingest_task: Task | None = None
        self.rlm = None
        self.last_result = None
        self.events: list = []
        self.runs: list[dict] = []
        self.citations: dict = {}
        self.current_run_id: int | None = None
        self.turn = 0
        self.subcalls_queued = 0
        self.subcalls_done = 0
        self.setAcceptDrops(True)
        self._build()
        self._restore_state()
        apply_theme(self.settings.theme)
        self.watcher = QFileSystemWatcher(self)
        self.watch_timer = QTimer(self, singleShot=True, interval=2000)
        self.watch_timer.timeout.connect(self._watched_change)
        self.watcher.directoryChanged.connect(lambda _p: self.watch_timer.start())
        self.watcher.fileChanged.connect(lambda _p: self.watch_timer.start())
        self.refresh_timer = QTimer(self, singleShot=True, interval=1000)
        self.refresh_timer.timeout.connect(self.refresh_documents)
        self.status_timer = QTimer(self, interval=500)
        self.status_timer.timeout.connect(self._update_status)
        self.open_library(self.library_dir)
        if first_launch if first_launch is not None else fresh:
            self._first_launch()

    # ------------------------------------------------------------------ layout

    def _build(self) -> None:
        self.documents = DocumentsModel()
        self.filtered = QSortFilterProxyModel()
        self.filtered.setSourceModel(self.documents)
        self.filtered.setFilterCaseSensitivity(Qt.CaseSensitivity.CaseInsensitive)
        self.filtered.setFilterKeyColumn(0)
        self.filter_box = QLineEdit(placeholderText="Filter documents (Ctrl+F)")
        self.filter_box.setAccessibleName("Filter documents")
        self.filter_box.setToolTip("Show only documents whose name contains this text")
        self.filter_box.textChanged.connect(self.filtered.setFilterFixedString)
        self.table = QTableView()
        self.table.setModel(self.filtered)
        self.table.setAccessibleName("Documents")
        self.table.setToolTip("The library's documents; hover a row for warnings and errors")
        self.table.setSelectionBehavior(QTableView.SelectionBehavior.SelectRows)
        header = self.table.horizontalHeader()
        # Fixed widths: sizing to contents measures every row on each refresh, which blocks
        # the UI thread for hundreds of milliseconds once the library is large.
        header.setSectionResizeMode(0, QHeaderView.ResizeMode.Stretch)
        for column, width in ((1, 44), (2, 46), (3, 100), (4, 56)):
            header.setSectionResizeMode(column, QHeaderView.ResizeMode.Interactive)
            header.resizeSection(column, width)
        self.table.verticalHeader().setVisible(False)
        self.table.setWordWrap(False)
        self.drop_hint = QLabel("Drop files or folders anywhere on the window to add them")
        self.drop_hint.setWordWrap(True)
        self.progress = QProgressBar()
        self.progress.setAccessibleName("Ingestion progress")
        self.cancel_ingest = _button(
            "Cancel", "Stop ingesting (files done so far are kept)", self._cancel_ingest
        )
        progress_row = QHBoxLayout()
        progress_row.addWidget(self.progress)
        progress_row.addWidget(self.cancel_ingest)
        self._show_progress(False)
        buttons = QHBoxLayout()
        for text, tip, slot in (
            ("Add files…", "Add documents (Ctrl+O)", self.add_files),
            ("Add folder…", "Add a folder, recursively (Ctrl+Shift+O)", self.add_folder),
            ("Rescan", "Re-read changed, new and vanished files", self.rescan),
            ("Remove", "Remove the selected documents from the library", self.remove_selected),
        ):
            buttons.addWidget(_button(text, tip, slot))
        left = QWidget()
        left_layout = QVBoxLayout(left)
        left_layout.addWidget(QLabel("<b>Library</b>"))
        left_layout.addWidget(self.filter_box)
        left_layout.addWidget(self.table)
        left_layout.addLayout(buttons)
        left_layout.addLayout(progress_row)
        left_layout.addWidget(self.drop_hint)

        self.question = QuestionBox(placeholderText="Ask a question about your documents…")
        self.question.submitted.connect(self.ask)
        self.question.setAccessibleName("Question")
        self.question.setToolTip("Ctrl+Enter asks")
        self.question.setMaximumHeight(90)
        self.model_box = QComboBox()
        self.model_box.setEditable(True)
        self.model_box.addItems(
            list(dict.fromkeys([self.settings.model, "demo", *self.settings.recent_models]))
        )
        self.model_box.setAccessibleName("Model")
        self.model_box.setToolTip("demo, a .gguf file, openai:MODEL or replay:FILE.json")
        self.mode_box = QComboBox()
        self.mode_box.addItems(["rlm", "no-subcalls", "direct"])
        self.mode_box.setCurrentText(self.settings.mode)
        self.mode_box.setAccessibleName("Mode")
        self.mode_box.setToolTip("rlm: the method; direct: the whole context in one prompt")
        self.ask_button = _button("Ask", "Ask the question (Ctrl+Enter)", self.ask)
        self.stop_button = _button("Stop", "Stop the run (Esc)", self.stop)
        self.stop_button.setEnabled(False)
        controls = QHBoxLayout()
        for widget in (
            QLabel("Model:"),
            self.model_box,
            QLabel("Mode:"),
            self.mode_box,
            self.ask_button,
            self.stop_button,
        ):
            controls.addWidget(widget)
        self.status = QLabel("Ready.")
        self.status.setTextFormat(Qt.TextFormat.PlainText)  # messages may quote file names
        self.status.setAccessibleName("Run status")
        self.answer = QTextBrowser()
        self.answer.setAccessibleName("Answer")
        self.answer.setToolTip("The answer; click a [n] marker to open its source")
        self.answer.setOpenLinks(False)
        self.answer.anchorClicked.connect(self._anchor_clicked)
        self.history = QListWidget()
        self.history.setAccessibleName("Earlier questions")
        self.history.setToolTip("Earlier questions of this library; click one to reopen it")
        self.history.itemClicked.connect(self._reopen)
        self.history.setMaximumHeight(110)
        conversation = QWidget()
        conv_layout = QVBoxLayout(conversation)
        conv_layout.addWidget(self.question)
        conv_layout.addLayout(controls)
        conv_layout.addWidget(self.status)
        conv_layout.addWidget(self.answer, 1)
        conv_layout.addWidget(QLabel("Earlier questions"))
        conv_layout.addWidget(self.history)
        self.trajectory = QTextBrowser()
        self.trajectory.setAccessibleName("Trajectory")
        self.trajectory.setToolTip("Each turn's model text, code, output and sub-calls, live")
        self.trajectory.setOpenLinks(False)
        self.trajectory.anchorClicked.connect(self._trajectory_link)
        self.tabs = QTabWidget()
        self.tabs.addTab(conversation, "Conversation")
        self.tabs.addTab(self.trajectory, "Trajectory")

        self.evidence = EvidencePanel()
        self.evidence.passage_activated.connect(self.open_source)
        self.splitter = QSplitter()
        for widget in (left, self.tabs, self.evidence):
            self.splitter.addWidget(widget)
        self.splitter.setSizes([420, 500, 360])
        self.setCentralWidget(self.splitter)
        self._menus()

    def _menus(self) -> None:
        file_menu = self.menuBar().addMenu("&File")
        for text, keys, slot in (
            ("Add files…", QKeySequence("Ctrl+O"), self.add_files),
            ("Add folder…", QKeySequence("Ctrl+Shift+O"), self.add_folder),
            ("Rescan", None, self.rescan),
            ("Quit", QKeySequence.StandardKey.Quit, self.close),
        ):
            action = QAction(text, self)
            if keys is not None:
                action.setShortcut(keys)
            action.triggered.connect(slot)
            file_menu.addAction(action)
        export = QAction("Export…", self)
        export.setShortcut(QKeySequence("Ctrl+E"))
        export.setToolTip("Export the answer (or the whole history) with its cited snippets")
        export.triggered.connect(self.open_export)
        file_menu.insertAction(file_menu.actions()[-1], export)
        settings = QAction("Settings…", self)
        settings.setShortcut(QKeySequence("Ctrl+,"))
        settings.triggered.connect(self.open_settings)
        file_menu.insertAction(file_menu.actions()[-1], settings)
        self.library_menu = self.menuBar().addMenu("&Library")
        self.watch_action = QAction("Watch folders", self, checkable=True)
        self.watch_action.setChecked(self.settings.watch_folders)
        self.watch_action.setToolTip("Re-ingest automatically when files in added folders change")
        self.watch_action.toggled.connect(self._toggle_watch)
        self._fill_library_menu()
        help_menu = self.menuBar().addMenu("&Help")
        report = QAction("Latest benchmark report", self)
        report.setToolTip("Open the report of the last `rlm-desktop bench quality` run")
        report.triggered.connect(self.open_benchmark_report)
        help_menu.addAction(report)
        about = QAction("About", self)
        about.triggered.connect(self._about)
        help_menu.addAction(about)
        QShortcut(QKeySequence("Ctrl+Return"), self, activated=self.ask)
        QShortcut(QKeySequence("Ctrl+Enter"), self, activated=self.ask)
        QShortcut(QKeySequence("Ctrl+F"), self, activated=self.filter_box.setFocus)

    def _fill_library_menu(self) -> None:
        self.library_menu.clear()
        open_action = QAction("Open library…", self)
        open_action.setToolTip("Switch to (or create) a library in another folder")
        open_action.triggered.connect(self._choose_library)
        self.library_menu.addAction(open_action)
        self.library_menu.addAction(self.watch_action)
        if self.settings.recent_libraries:
            self.library_menu.addSeparator()
        for folder in self.settings.recent_libraries:
            action = QAction(printable(folder).replace("&", "&&"), self)
            action.triggered.connect(lambda _c=False, f=folder: self.open_library(Path(f)))
            self.library_menu.addAction(action)

    def _choose_library(self) -> None:
        folder = QFileDialog.getExistingDirectory(self, "Open or create a library folder")
        if folder:
            self.open_library(Path(folder))

    def open_library(self, folder: Path) -> None:
        """Show another library (several can be kept; the recent ones are in the menu)."""
        self.library_dir = Path(folder)
        self.setWindowTitle(f"{TITLE} — {printable(str(self.library_dir))}")
        recent = [str(self.library_dir)] + [
            f for f in self.settings.recent_libraries if f != str(self.library_dir)
        ]
        self.settings.recent_libraries = recent[:8]
        save_settings(self.settings)
        self._fill_library_menu()
        self.refresh_documents()
        self.refresh_history()
        self._toggle_watch(self.settings.watch_folders)

    # ------------------------------------------------------------------ settings

    def open_settings(self) -> SettingsDialog:
        """Open the Settings dialog (non-modal); saved settings apply at once."""
        dialog = SettingsDialog(self.settings, self)
        dialog.accepted.connect(lambda: self._apply_settings(dialog.result_settings))
        dialog.open()
        return dialog

    def _apply_settings(self, settings) -> None:
        if settings is None:
            return
        self.settings = settings
        save_settings(settings)
        apply_theme(settings.theme)
        self.model_box.setEditText(settings.model)
        self.mode_box.setCurrentText(settings.mode)
        self.status.setText("Settings saved.")

    def _first_launch(self) -> FirstLaunchDialog:
        dialog = FirstLaunchDialog(self)

        def chosen() -> None:
            self.settings.model = dialog.model
            if dialog.model != "demo":
                self.settings.remember_model(dialog.model)
            save_settings(self.settings)
            self.model_box.setEditText(dialog.model)
            if dialog.samples.isChecked():
                self.ingest([str(samples_dir())])

        dialog.accepted.connect(chosen)
        dialog.open()
        self.first_launch_dialog = dialog
        return dialog

    # ------------------------------------------------------------------ exports

    def open_export(self) -> ExportDialog:
        """Ask for a format and a file, then export in the background."""
        dialog = ExportDialog(bool(self.current_run_id), self)
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

        chosen = [self.current_run_id] if self.current_run_id else []

        def work(_task):
            with Library(self.library_dir) as library:
                picked = library.pick_runs(chosen, everything=whole_history)
            runs = [ExportRun.from_saved(record) for record in picked]
            return export_runs(runs, fmt, path, trajectory, pdf_renderer=html_to_pdf)

        self.runner.run(
            "export", work, lambda p: self.status.setText(f"Exported to {p}"), self._error
        )

    # ------------------------------------------------------------------ watching

    def _toggle_watch(self, on: bool) -> None:
        self.settings.watch_folders = on
        save_settings(self.settings)
        watched = self.watcher.directories() + self.watcher.files()
        if watched:
            self.watcher.removePaths(watched)
        if not on:
            return

        def read(_task):
            with Library(self.library_dir) as library:
                return library.sources()

        def watch(sources: list[str]) -> None:
            existing = [p for p in sources if Path(p).exists()]
            if existing:
                self.watcher.addPaths(existing)

        self.runner.run("sources", read, watch, self._error)

    def _watched_change(self) -> None:
        if self.runner.busy("ingest"):
            self.watch_timer.start()  # try again when the current ingest is done
            return
        self.rescan()

    # ------------------------------------------------------------------ state

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

    def closeEvent(self, event) -> None:
        state = self._state()
        state.setValue("geometry", self.saveGeometry())
        state.setValue("splitter", self.splitter.saveState())
        state.sync()
        self.stop()
        self.runner.shutdown()
        self.rlm = None  # its models go now, not at interpreter shutdown
        super().closeEvent(event)

    # ------------------------------------------------------------------ library

    def refresh_documents(self) -> None:
        """Re-read the document list in the background."""

        def read(_task):
            with Library(self.library_dir) as library:
                return library.documents()

        self.runner.run("documents", read, self.documents.set_documents, self._error)

    def ingest(self, paths: list[str]) -> None:
        """Add files/folders in the background with progress and cancel."""
        if not paths:
            return
        if self.runner.busy("ingest"):
            self._error("An ingest is already running; wait for it or cancel it.")
            return

        def work(task: Task):
            with Library(self.library_dir) as library:
                return pipeline.ingest(library, paths, on_progress=task.report, cancel=task.cancel)

        self._show_progress(True)
        self.progress.setFormat("starting…")
        self.ingest_task = self.runner.run(
            "ingest", work, self._ingested, self._ingest_failed, self._ingest_progress
        )

    def rescan(self) -> None:
        def work(task: Task):
            with Library(self.library_dir) as library:
                return pipeline.rescan(library, on_progress=task.report, cancel=task.cancel)

        self._show_progress(True)
        self.ingest_task = self.runner.run(
            "ingest", work, self._ingested, self._ingest_failed, self._ingest_progress
        )

    def _ingest_progress(self, event) -> None:
        self.progress.setMaximum(max(1, event.total))
        self.progress.setValue(event.done)
        percent = 100 * event.done // max(1, event.total)
        self.progress.setFormat(
            f"{event.done} of {event.total} files ({percent}%) — {printable(Path(event.path).name)}"
        )
        # Documents appear in the table as they are stored (at most one refresh a second).
        if not self.refresh_timer.isActive():
            self.refresh_timer.start()

    def _ingested(self, report) -> None:
        self._show_progress(False)
        counts = report.counts()
        summary = ", ".join(f"{n} {status}" for status, n in counts.items() if n)
        self.status.setText(f"Ingest {'cancelled' if report.cancelled else 'done'}: {summary}")
        self.refresh_documents()

    def _ingest_failed(self, message: str) -> None:
        self._show_progress(False)
        self._error(message)

    def _cancel_ingest(self) -> None:
        if self.ingest_task is not None:
            self.ingest_task.cancel.set()

    def _show_progress(self, visible: bool) -> None:
        self.progress.setVisible(visible)
        self.cancel_ingest.setVisible(visible)

    def add_files(self) -> None:
        files, _ = QFileDialog.getOpenFileNames(self, "Add files")
        self.ingest(files)

    def add_folder(self) -> None:
        folder = QFileDialog.getExistingDirectory(self, "Add a folder")
        self.ingest([folder] if folder else [])

    def remove_selected(self) -> None:
        rows = {self.filtered.mapToSource(i).row() for i in self.table.selectedIndexes()}
        paths = [self.documents.documents[r].path for r in rows]
        if not paths:
            return

        def work(_task):
            with Library(self.library_dir) as library:
                return pipeline.remove(library, paths)

        self.runner.run("remove", work, lambda _r: self.refresh_documents(), self._error)

    def keyPressEvent(self, event) -> None:
        # Esc stops a run from anywhere in the window, even before any shortcut is active.
        if event.key() == Qt.Key.Key_Escape:
            self.stop()
            return
        super().keyPressEvent(event)

    def dragEnterEvent(self, event) -> None:
        if event.mimeData().hasUrls():
            event.acceptProposedAction()
            self.drop_hint.setText("<b>Drop to add these to the library</b>")

    def dragLeaveEvent(self, event) -> None:
        self.drop_hint.setText("Drop files or folders anywhere on the window to add them")

    def dropEvent(self, event) -> None:
        paths = [url.toLocalFile() for url in event.mimeData().urls() if url.isLocalFile()]
        self.dragLeaveEvent(event)
        event.acceptProposedAction()
        self.ingest(paths)

    # ------------------------------------------------------------------ asking

    def ask(self) -> None:
        """Run the question in the background; the trajectory streams in as it happens."""
        from rlm_desktop.rlm.budget import Budget
        from rlm_desktop.rlm.engine import RLM
        from rlm_desktop.sandbox.host import SandboxLimits

        question = self.question.toPlainText().strip()
        if not question or self.runner.busy("ask"):
            return
        self.trajectory.clear()
        self.answer.setHtml("<i>Working…</i>")
        self.ask_button.setEnabled(False)
        self.stop_button.setEnabled(True)
        self.turn = self.subcalls_queued = self.subcalls_done = 0
        self.events = []
        settings = self.settings
        self.rlm = RLM(
            self.model_box.currentText().strip() or "demo",
            settings.sub_model or None,
            mode=self.mode_box.currentText(),
            budget=Budget.from_settings(settings),
            settings=settings,
            sandbox_limits=SandboxLimits.from_settings(settings),
        )
        rlm = self.rlm

        def work(task: Task):
            rlm.on_event = task.report
            try:
                with Library(self.library_dir) as library:
                    return rlm.completion(question, library)
            finally:
                rlm.close()

        self.status_timer.start()
        self.runner.run("ask", work, self._answered, self._ask_failed, self._event)

    def stop(self) -> None:
        """Stop a running question: generation stops and the REPL is killed."""
        if self.rlm is not None and self.runner.busy("ask"):
            self.rlm.cancel()
            self.status.setText("Stopping…")

    def _event(self, event) -> None:
        self.events.append(event)
        if isinstance(event, TurnStarted) and event.depth == 0:
            self.turn = event.turn
        elif isinstance(event, SubCallStarted):
            self.subcalls_queued += len(event.prompts)
        elif isinstance(event, SubCallEnded):
            self.subcalls_done += len(event.prompts)
        if isinstance(event, ModelText):
            self.trajectory.moveCursor(QTextCursor.MoveOperation.End)
            self.trajectory.insertPlainText(event.text)
            return
        rendered = event_html(event, len(self.events) - 1)
        if rendered:
            self.trajectory.append(rendered)

    def _update_status(self) -> None:
        progress = self.rlm.progress() if self.rlm is not None else None
        if progress is None:
            return
        self.status.setText(
            f"Turn {self.turn} · sub-calls {self.subcalls_done} done / "
            f"{self.subcalls_queued - self.subcalls_done} running · "
            f"{progress['tokens']:,} tokens · {progress['elapsed']:.0f} s · "
            f"budget left: {progress['seconds_left']:.0f} s, {progress['tokens_left']:,} tokens"
        )

    def _trajectory_link(self, url: QUrl) -> None:
        if url.scheme() == "subcall":
            event = self.events[int(url.path())]
            box = QMessageBox(
                QMessageBox.Icon.NoIcon, "Sub-call", "Prompts and answers", parent=self
            )
            box.setDetailedText(subcall_text(event))
            box.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)
            box.open()

    def _answered(self, result) -> None:
        self.current_run_id = result.run_id
        self.status_timer.stop()
        self.ask_button.setEnabled(True)
        self.stop_button.setEnabled(False)
        self.last_result = result
        self.show_run(
            result.answer,
            [c.to_json() for c in result.citations],
            result.explored,
            result.stop_reason,
            result.usage,
        )
        self.refresh_history()

    def _ask_failed(self, message: str) -> None:
        self.status_timer.stop()
        self.ask_button.setEnabled(True)
        self.stop_button.setEnabled(False)
        self.answer.setHtml(
            f"<p style='color:#b00'>{html.escape(printable(message, multiline=True))}</p>"
        )
        self.status.setText("The run failed.")

    def show_run(self, answer, citations, explored, stop_reason, usage) -> None:
        """Render an answer with clickable citation markers, and its evidence."""
        self.citations = {c["n"]: c for c in citations}

        def link(match: re.Match) -> str:
            n = int(match.group(1))
            c = self.citations.get(n)
            if c is None:
                return match.group(0)
            mark = "" if c["verified"] else " ✗ unverified"
            return f"<a href='cite:{n}'>[{n}]{mark}</a>"

        def source(c: dict) -> str:
            return printable(Path(c["path"]).name) if c.get("path") else "not in the library"

        body = _MARKER.sub(link, html.escape(printable(answer, multiline=True)))
        body = body.replace("\n", "<br>")
        items = "".join(
            f"<li><a href='cite:{c['n']}'>[{c['n']}]</a> "
            f"{'✓ verified' if c['verified'] else '<b>✗ unverified</b>'} — "
            f"{html.escape(source(c))}"
            f"{', p. ' + str(c['page']) if c.get('page') else ''}"
            f"<br><q>{html.escape(printable(c['snippet'], multiline=True))}</q></li>"
            for c in citations
        )
        stopped = "" if stop_reason == "final" else f"<p><i>Stopped by: {stop_reason}</i></p>"
        self.answer.setHtml(f"<p>{body}</p>{stopped}<ol>{items}</ol>")
        total = usage.get("total", {})
        self.status.setText(
            f"Done: {total.get('calls', 0)} model calls, "
            f"{total.get('prompt_tokens', 0) + total.get('completion_tokens', 0):,} tokens, "
            f"{usage.get('seconds', 0):.1f} s."
        )
        lengths = {d.path: d.chars for d in self.documents.documents}
        self.evidence.show_result(citations, explored, lengths)

    def _anchor_clicked(self, url: QUrl) -> None:
        if url.scheme() == "cite":
            citation = self.citations.get(int(url.path()))
            if citation and citation.get("verified"):
                self.open_source(citation)

    def open_source(self, record: dict) -> None:
        """Open the document of a passage or citation at its page or line."""
        path = record["path"]
        kind = next((d.kind for d in self.documents.documents if d.path == path), "text")
        if kind == "pdf" and record.get("page"):
            self.evidence.source.show_pdf(path, record["page"], record.get("snippet", ""))
            return

        def read(_task):
            with Library(self.library_dir) as library:
                doc = library.document_by_path(path)
                return library.document_text(doc.id) if doc else ""

        def show(text: str) -> None:
            start, end = _qt_offset(text, record["start"]), _qt_offset(text, record["end"])
            self.evidence.source.show_text(
                path, text.replace("\r", ""), start, end, record["line_start"]
            )

        self.runner.run("source", read, show, self._error)

    def refresh_history(self) -> None:
        def read(_task):
            with Library(self.library_dir) as library:
                return library.runs()

        def fill(runs) -> None:
            self.history.clear()
            self.runs = runs
            for run in runs:
                self.history.addItem(f"#{run['id']}  {run['question']}")

        self.runner.run("history", read, fill, self._error)

    def _reopen(self, item) -> None:
        run_id = self.runs[self.history.row(item)]["id"]

        def read(_task):
            with Library(self.library_dir) as library:
                return library.run(run_id)

        def show(run) -> None:
            self.current_run_id = run["id"]
            self.question.setPlainText(run["question"])
            self.show_run(
                run["answer"], run["citations"], run["explored"], run["stop_reason"], run["usage"]
            )

        self.runner.run("reopen", read, show, self._error)

    # ------------------------------------------------------------------ misc

    def _error(self, message: str) -> None:
        """Show a readable message without blocking the window (no traceback, no modal loop)."""
        message = printable(message, multiline=True)
        self.status.setText(message)
        box = QMessageBox(QMessageBox.Icon.Warning, TITLE, message, parent=self)
        box.setTextFormat(Qt.TextFormat.PlainText)
        box.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)
        box.open()

    def open_benchmark_report(self) -> bool:
        """Open the latest quality report in the browser (True if there is one)."""
        report = data_dir() / "bench" / "latest" / "report.html"
        if not report.exists():
            self.status.setText("No benchmark report yet: run `rlm-desktop bench quality`.")
            return False
        QDesktopServices.openUrl(QUrl.fromLocalFile(str(report)))
        return True

    def _about(self) -> AboutDialog:
        dialog = AboutDialog(self)
        dialog.open()
        self.about_dialog = dialog
        return dialog


def _qt_offset(text: str, offset: int) -> int:
    """A Python offset into ``text`` as a position in Qt's view of it (\\r dropped, UTF-16)."""
    head = text[:offset]
    return len(head) - head.count("\r") + sum(1 for ch in head if ord(ch) > 0xFFFF)
