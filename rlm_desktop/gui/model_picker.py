"""The one model picker of the window, used by the welcome screen and Settings: a view over
``catalog.picker`` (the demo, models found on this computer by app, recent files and the
recommended downloads), with each model's fit, and downloads with progress and cancel.

Scanning, reading headers and downloading run on worker threads (``TaskRunner``)."""

from __future__ import annotations

from collections.abc import Callable

from PySide6.QtCore import Qt, Signal
from PySide6.QtGui import QFont, QPalette, QStandardItem, QStandardItemModel
from PySide6.QtWidgets import (
    QComboBox,
    QFileDialog,
    QHBoxLayout,
    QLabel,
    QProgressBar,
    QPushButton,
    QSizePolicy,
    QVBoxLayout,
    QWidget,
)

from rlm_desktop.errors import RlmDesktopError
from rlm_desktop.gui.plain import tooltip
from rlm_desktop.gui.workers import Task, TaskRunner
from rlm_desktop.llm.catalog import DOWNLOAD, FIT_MARKS, Choice, describe
from rlm_desktop.llm.download import DownloadProgress, download, plan
from rlm_desktop.llm.fit import Memory
from rlm_desktop.llm.recommended import find_recommended
from rlm_desktop.settings import Settings
from rlm_desktop.textsafe import printable

SPEC = Qt.ItemDataRole.UserRole
SCANNING = "Looking for models on this computer…"


def scan_choices(
    runner: TaskRunner,
    settings: Settings,
    on_done: Callable[[tuple[list[Choice], Memory]], None],
    on_error: Callable[[str], None],
) -> Task:
    """Find the models on this computer in the background; ``on_done`` gets the picker's
    lines and the memory they were judged against."""

    def work(_task: Task) -> tuple[list[Choice], Memory]:
        from rlm_desktop.llm.catalog import picker
        from rlm_desktop.llm.discovery import scan
        from rlm_desktop.llm.fit import system_memory

        memory = system_memory(settings.n_gpu_layers)
        return picker(settings, scan(settings), memory), memory

    return runner.run("scan-models", work, on_done, on_error)


class ModelPicker(QWidget):
    """Choose a model: grouped choices with their fit (numbers on hover), a GGUF file of
    one's own, or a recommended download, fetched here with progress and cancel."""

    chosen = Signal(str)  # a model spec, or DOWNLOAD + id for a model still to download
    downloaded = Signal(str)  # the path of a finished download

    def __init__(
        self,
        value: str,
        tip: str,
        settings: Settings,
        runner: TaskRunner,
        empty: str = "",
    ) -> None:
        """``empty``: the text of an empty choice ("same as the root model"), if allowed."""
        super().__init__()
        self.settings = settings
        self.runner = runner
        self.empty = empty
        self.memory: Memory | None = None
        self.choices: list[Choice] = []
        self.download_task: Task | None = None
        self.items = QStandardItemModel(self)
        self.combo = QComboBox()
        self.combo.setEditable(True)  # openai:NAME and replay:FILE are typed
        self.combo.setInsertPolicy(QComboBox.InsertPolicy.NoInsert)
        self.combo.setModel(self.items)
        self.combo.setSizeAdjustPolicy(
            QComboBox.SizeAdjustPolicy.AdjustToMinimumContentsLengthWithIcon
        )
        self.combo.setMinimumContentsLength(24)
        self.combo.setMaxVisibleItems(18)
        self.combo.view().setTextElideMode(Qt.TextElideMode.ElideMiddle)
        self.combo.setToolTip(tip)
        self.combo.setAccessibleName(tip)
        browse = QPushButton("Choose a GGUF file…")
        browse.setToolTip("Pick a .gguf model file from disk")
        browse.setAccessibleName("Choose a GGUF file")
        browse.clicked.connect(self._browse)
        self.info = QLabel("")
        self.info.setWordWrap(True)
        self.info.setTextFormat(Qt.TextFormat.PlainText)  # a model file names itself
        self.info.setAlignment(Qt.AlignmentFlag.AlignLeft | Qt.AlignmentFlag.AlignTop)
        self.download_button = QPushButton("Download")
        self.download_button.setToolTip("Download this model into the app's models folder")
        self.download_button.clicked.connect(lambda: self.start_download(self._recommended()))
        self.progress = QProgressBar()
        self.progress.setAccessibleName("Download progress")
        self.progress_text = QLabel("")
        self.progress_text.setTextFormat(Qt.TextFormat.PlainText)
        self.cancel_button = QPushButton("Cancel")
        self.cancel_button.setToolTip("Stop the download; what was downloaded is kept")
        self.cancel_button.clicked.connect(self.cancel_download)
        row = QHBoxLayout()
        row.setContentsMargins(0, 0, 0, 0)
        row.addWidget(self.combo, 1)
        row.addWidget(browse)
        downloading = QHBoxLayout()
        downloading.setContentsMargins(0, 0, 0, 0)
        downloading.addWidget(self.download_button)
        downloading.addWidget(self.progress, 1)
        downloading.addWidget(self.cancel_button)
        downloading.addStretch()  # the Download button alone keeps its own width
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        # Exactly as tall as its lines (two of model details included): never squeezed so
        # that the details overlap the next row, never stretched.
        self.setSizePolicy(QSizePolicy.Policy.Preferred, QSizePolicy.Policy.Fixed)
        layout.addLayout(row)
        layout.addWidget(self.info)
        layout.addLayout(downloading)
        layout.addWidget(self.progress_text)
        self._show_download(False)
        self.set_choices([], scanning=True)
        self.set_value(value)
        self.combo.currentIndexChanged.connect(self._selected)
        typed = self.combo.lineEdit()
        assert typed is not None  # the combo is editable
        typed.editingFinished.connect(lambda: self._selected(-1))

    # ------------------------------------------------------------------ the choices

    def set_choices(self, choices: list[Choice], scanning: bool = False) -> None:
        """Show these choices in their groups, keeping the current one."""
        current = self.value() if self.items.rowCount() else ""
        self.choices = choices
        self.combo.blockSignals(True)
        self.items.clear()
        if self.empty:
            self._add(self.empty, "", self.empty)
        group = ""
        for choice in choices:
            if choice.group != group:
                group = choice.group
                self._header(group)
            mark = f"   {FIT_MARKS[choice.fit]} {choice.fit}" if choice.fit else ""
            self._add(choice.label + mark, choice.spec, _tip(choice))
        if scanning:
            self._header(SCANNING)
        self.combo.blockSignals(False)
        self.set_value(current)

    def set_memory(self, memory: Memory) -> None:
        """The memory later descriptions are judged against."""
        self.memory = memory

    def _header(self, text: str) -> None:
        item = QStandardItem(text)
        item.setFlags(Qt.ItemFlag.NoItemFlags)  # a group's title: never chosen
        font = QFont()
        font.setBold(True)
        item.setFont(font)
        # Drawn in the text colour, not the faint one of disabled items (light or dark theme).
        item.setForeground(self.palette().brush(QPalette.ColorRole.WindowText))
        self.items.appendRow(item)

    def _add(self, text: str, spec: str, tip: str) -> None:
        item = QStandardItem(printable(text))
        item.setData(spec, SPEC)
        item.setToolTip(tooltip(tip))
        self.items.appendRow(item)

    def _row_of(self, spec: str) -> int:
        for row in range(self.items.rowCount()):
            item = self.items.item(row)
            if item.isEnabled() and item.data(SPEC) == spec:
                return row
        return -1

    def choice(self, spec: str) -> Choice | None:
        """The choice of a spec, when it is one of the list."""
        return next((c for c in self.choices if c.spec == spec), None)

    # ------------------------------------------------------------------ the value

    def value(self) -> str:
        """The spec chosen or typed (DOWNLOAD + id for a model still to download)."""
        row = self.combo.currentIndex()
        text = self.combo.currentText().strip()
        if row >= 0 and self.combo.itemText(row) == self.combo.currentText():
            return str(self.combo.itemData(row, SPEC) or "")
        return text

    def set_value(self, spec: str) -> None:
        """Select ``spec`` (or show it as typed when it is not in the list)."""
        row = self._row_of(spec)
        self.combo.blockSignals(True)
        if row >= 0:
            self.combo.setCurrentIndex(row)
        else:
            self.combo.setCurrentIndex(-1)
            self.combo.setEditText(spec)
        typed = self.combo.lineEdit()
        if typed is not None:
            typed.setCursorPosition(0)  # show the start of a long name, not its end
        self.combo.blockSignals(False)
        self._selected(row)

    def _selected(self, _row: int) -> None:
        spec = self.value()
        choice = self.choice(spec)
        self._show_download(bool(choice and choice.recommended_id) or self._downloading())
        if choice is not None:
            self._describe_choice(choice)
        elif spec:
            self._describe(spec)
        else:
            self._set_info("", "")
        self.chosen.emit(spec)

    def _describe_choice(self, choice: Choice) -> None:
        note = f"{choice.note[:1].upper()}{choice.note[1:]}." if choice.note else ""
        self._set_info("\n".join(filter(None, [choice.detail, note])), choice.explain)

    def _describe(self, spec: str) -> None:
        settings, memory = self.settings, self.memory

        def work(_task: Task) -> tuple[str, str, str]:
            from rlm_desktop.llm.fit import system_memory

            try:
                memory_now = memory or system_memory(settings.n_gpu_layers)
                return spec, describe(spec, settings, memory_now), ""
            except RlmDesktopError as exc:
                return spec, "", exc.message

        # A bound method, not a lambda: Qt drops the delivery if the picker is gone by then.
        self.runner.run("describe-model", work, self._described)

    def _described(self, described: tuple[str, str, str]) -> None:
        spec, text, problem = described
        if spec != self.value() or self.choice(spec) is not None:  # moved on, or now listed
            return
        if problem:
            self._set_info(f"⚠ {problem}", "")
        else:
            self._set_info(text.split("\n", 1)[0], text)

    def _set_info(self, text: str, tip: str) -> None:
        """Show a description, with room for all its lines (a wrapped label inside a dialog
        does not make the dialog taller by itself)."""
        shown = printable(text, multiline=True)
        self.info.setText(shown)
        self.info.setToolTip(tooltip(tip) if tip else "")
        self.info.setVisible(bool(shown))
        width = max(self.info.width(), 420)
        metrics = self.info.fontMetrics()
        lines = sum(1 + metrics.horizontalAdvance(line) // width for line in shown.split("\n"))
        self.info.setMinimumHeight(lines * metrics.lineSpacing() + 2)

    def _browse(self) -> None:
        path, _ = QFileDialog.getOpenFileName(self, "Choose a GGUF model", "", "GGUF (*.gguf)")
        if path:
            self.set_value(path)

    # ------------------------------------------------------------------ downloads

    def _recommended(self) -> str:
        choice = self.choice(self.value())
        return choice.recommended_id if choice else ""

    def _downloading(self) -> bool:
        return self.download_task is not None and not self.download_task.finished.is_set()

    def _show_download(self, shown: bool) -> None:
        busy = self._downloading()
        self.download_button.setVisible(shown and not busy)
        self.progress.setVisible(busy)
        self.cancel_button.setVisible(busy)
        self.progress_text.setVisible(bool(self.progress_text.text()) and (shown or busy))
        if shown and not busy and (model := find_recommended(self._recommended())):
            self.download_button.setText(f"Download ({model.size_gb:g} GB)")

    def start_download(self, recommended_id: str) -> None:
        """Download a recommended model in the background; it is chosen once stored."""
        if not recommended_id or self._downloading():
            return
        self.set_value(DOWNLOAD + recommended_id)
        request = plan(recommended_id)

        def work(task: Task) -> str:
            return download(request, task.report, task.cancel).path

        self.progress.setRange(0, 0)
        self.progress_text.setText("Starting the download…")
        self.download_task = self.runner.run(
            f"download-{recommended_id}",
            work,
            self._download_done,
            self._download_failed,
            self._download_progress,
        )
        self._show_download(True)

    def cancel_download(self) -> None:
        """Stop the download; its part is kept and the next download resumes it."""
        if self.download_task is not None:
            self.download_task.cancel.set()
            self.progress_text.setText("Cancelling…")

    def _download_progress(self, event: DownloadProgress) -> None:
        if event.total:
            self.progress.setRange(0, 1000)
            self.progress.setValue(int(1000 * event.done / event.total))
        self.progress_text.setText(event.describe())
        self.progress_text.setVisible(True)

    def _download_done(self, path: str) -> None:
        """Choose the stored file; the owner scans again to list it with its facts."""
        self.download_task = None
        self.progress_text.setText(f"Stored {printable(path)}")
        self.set_value(path)
        self.downloaded.emit(path)

    def _download_failed(self, message: str) -> None:
        self.download_task = None
        self.progress_text.setText(f"⚠ {printable(message, multiline=True)}")
        self._show_download(True)


def _tip(choice: Choice) -> str:
    parts = [choice.detail, choice.explain, choice.note]
    return "\n".join(part for part in parts if part)
