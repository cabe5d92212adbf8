"""The Settings dialog (Ctrl+,): models and their folders, context, budgets, server and key,
sandbox, theme; one tab each, so the dialog fits a small screen."""

from __future__ import annotations

from dataclasses import replace

from PySide6.QtCore import Qt
from PySide6.QtWidgets import (
    QCheckBox,
    QComboBox,
    QDialog,
    QDialogButtonBox,
    QDoubleSpinBox,
    QFileDialog,
    QFormLayout,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QListWidget,
    QSpinBox,
    QTabWidget,
    QVBoxLayout,
    QWidget,
)

from rlm_desktop.errors import RlmDesktopError
from rlm_desktop.gui.model_picker import ModelPicker, scan_choices
from rlm_desktop.gui.widgets import button
from rlm_desktop.gui.workers import TaskRunner
from rlm_desktop.llm import keys
from rlm_desktop.llm.catalog import DOWNLOAD, Choice
from rlm_desktop.llm.fit import Memory
from rlm_desktop.llm.recommended import find_recommended
from rlm_desktop.sandbox.tools import load_tools
from rlm_desktop.settings import CHOICES, Settings

THEMES = ("system", "light", "dark")


def _spin(low: int, high: int, value: int, tip: str, lowest_means: str = "") -> QSpinBox:
    """A number box; at its lowest value it shows ``lowest_means`` ("automatic") instead."""
    box = QSpinBox()
    box.setRange(low, high)
    box.setSpecialValueText(lowest_means)
    box.setValue(value)
    box.setToolTip(tip)
    box.setAccessibleName(tip)
    return box


class SettingsDialog(QDialog):
    """Edits a copy of the settings; ``result_settings`` holds them after Save."""

    def __init__(self, settings: Settings, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setWindowTitle("Settings")
        self.settings = settings
        self.result_settings: Settings | None = None
        self.runner = TaskRunner()
        s = settings

        self.model = ModelPicker(
            s.model, "Model for the root loop: it writes the code", s, self.runner
        )
        self.sub_model = ModelPicker(
            s.sub_model,
            "Model for sub-calls: it reads the passages the code hands it",
            s,
            self.runner,
            empty="Same as the root model",
        )
        for picker in (self.model, self.sub_model):
            picker.downloaded.connect(lambda _path: self._scan())
        self.folders = QListWidget()
        self.folders.addItems(s.model_folders)
        self.folders.setAccessibleName("Model folders")
        self.folders.setToolTip(
            "Folders of .gguf files to offer, besides LM Studio, GPT4All, Ollama, Jan and the "
            "Hugging Face and llama.cpp caches, which are searched anyway"
        )
        self.folders.setMaximumHeight(64)
        folder_buttons = QVBoxLayout()
        folder_buttons.addWidget(button("Add…", "Search another folder for models", self._add))
        folder_buttons.addWidget(
            button("Remove", "Stop searching the selected folder", self._remove_folder)
        )
        folder_buttons.addStretch()
        folder_row = QHBoxLayout()
        folder_row.addWidget(self.folders, 1)
        folder_row.addLayout(folder_buttons)
        models = QFormLayout()
        models.addRow("Model", self.model)
        models.addRow("Sub-call model", self.sub_model)
        models.addRow("Model folders", folder_row)
        self.n_ctx = _spin(
            0,
            1_048_576,
            s.n_ctx,
            "Context size in tokens (automatic: the model's, capped for memory)",
            "automatic",
        )
        self.n_ctx.editingFinished.connect(self._scan)
        self.n_threads = _spin(
            0,
            256,
            s.n_threads,
            "CPU threads (automatic: the physical cores to generate and all cores to read "
            "prompts, less the cores other programs keep busy)",
            "automatic (the free cores)",
        )
        self.n_gpu_layers = _spin(
            -1, 1000, s.n_gpu_layers, "GPU layers (automatic: all if supported)", "automatic"
        )
        models.addRow("Context size", self.n_ctx)
        models.addRow("Threads", self.n_threads)
        models.addRow("GPU layers", self.n_gpu_layers)

        self.base_url = QLineEdit(s.base_url)
        self.base_url.setPlaceholderText("https://api.example.com/v1")
        self.base_url.setToolTip("Base URL of an OpenAI-compatible server (for openai:MODEL)")
        self.base_url.setAccessibleName("Server base URL")
        self.api_key = QLineEdit()
        self.api_key.setEchoMode(QLineEdit.EchoMode.Password)
        self.api_key.setPlaceholderText("stored in the OS keychain, never in a file")
        self.api_key.setToolTip("API key: saved to the OS keychain via keyring")
        self.api_key.setAccessibleName("API key")
        self.offline = QCheckBox("Offline: refuse network models")
        self.offline.setChecked(s.offline)
        self.offline.setToolTip("When on, no text ever leaves this computer")
        self.key_status = QLabel(
            ""
            if keys.keychain_available()
            else "This system has no keychain: a key is kept for this session only."
        )
        server = QFormLayout()
        server.addRow("Base URL", self.base_url)
        server.addRow("API key", self.api_key)
        server.addRow("", self.key_status)
        server.addRow("", self.offline)

        self.mode = QComboBox()
        self.mode.addItems(["rlm", "no-subcalls", "direct"])
        self.mode.setCurrentText(s.mode)
        self.mode.setToolTip("rlm: the method; direct: the whole context in one prompt")
        self.max_iterations = _spin(1, 200, s.max_iterations, "Root-loop turns at most")
        self.max_depth = _spin(1, 5, s.max_depth, "Recursion depth (1: rlm_query is a sub-call)")
        self.max_subcalls = _spin(0, 100_000, s.max_subcalls, "Sub-calls at most", "unlimited")
        self.max_tokens = _spin(
            0, 100_000_000, s.max_tokens, "Tokens at most (whole run)", "unlimited"
        )
        self.max_seconds = QDoubleSpinBox()
        self.max_seconds.setRange(0, 86_400)
        self.max_seconds.setSpecialValueText("unlimited")
        self.max_seconds.setValue(s.max_seconds)
        self.max_seconds.setToolTip("Wall-clock budget of a run, in seconds")
        self.profile = QComboBox()
        self.profile.addItems(list(CHOICES["rlm_profile"]))
        self.profile.setCurrentText(s.rlm_profile)
        self.profile.setToolTip(
            "How the root model is told to work and finish. paper: FINAL(...); reference: the "
            "scaffold natively recursive models were trained with; auto: reference for a known "
            "natively recursive model, else paper"
        )
        self.tools_file = QLineEdit(s.tools_file)
        self.tools_file.setPlaceholderText("none")
        self.tools_file.setToolTip(
            "A Python file of helper functions: loaded in the REPL (never in the app) and "
            "described to the model"
        )
        tools_row = QHBoxLayout()
        tools_row.addWidget(self.tools_file)
        tools_row.addWidget(button("Choose…", "Choose a Python file of tools", self._choose_tools))
        budgets = QFormLayout()
        budgets.addRow("Mode", self.mode)
        budgets.addRow("Protocol", self.profile)
        budgets.addRow("Custom tools", tools_row)
        for label, widget in (
            ("Max iterations", self.max_iterations),
            ("Max depth", self.max_depth),
            ("Max sub-calls", self.max_subcalls),
            ("Max tokens", self.max_tokens),
            ("Max seconds", self.max_seconds),
        ):
            budgets.addRow(label, widget)
        self.check_support = QCheckBox("Check that each quote supports its sentence")
        self.check_support.setChecked(s.check_support)
        self.check_support.setToolTip(
            "After the answer, one short sub-call per citation asks whether the quoted passage "
            "supports the sentence it is attached to (costs a little time)"
        )
        budgets.addRow("", self.check_support)

        self.cell_timeout = QDoubleSpinBox()
        self.cell_timeout.setRange(1, 3600)
        self.cell_timeout.setValue(s.cell_timeout_s)
        self.cell_timeout.setToolTip("Seconds a REPL cell may run")
        self.sandbox_memory = _spin(128, 1_048_576, s.sandbox_memory_mb, "REPL memory limit (MB)")
        self.sandbox_disk = _spin(
            16, 1_048_576, s.sandbox_disk_mb, "MB one REPL may write in all (its private folder)"
        )
        self.large_context = _spin(
            -1,
            1_048_576,
            max(-1, s.large_context_mb),
            "MB of library text above which the REPL maps it from disk as a large context "
            "instead of one str (0: automatic, 1/32 of the memory up to 512 MB)",
            "always map",
        )
        self.isolation = QLabel("checking…")
        self.isolation.setTextFormat(Qt.TextFormat.PlainText)
        self.isolation.setWordWrap(True)
        sandbox = QFormLayout()
        sandbox.addRow("Cell timeout (s)", self.cell_timeout)
        sandbox.addRow("Memory (MB)", self.sandbox_memory)
        sandbox.addRow("Disk (MB)", self.sandbox_disk)
        sandbox.addRow("Large context above (MB, 0: automatic)", self.large_context)
        sandbox.addRow("Isolation", self.isolation)

        self.ocr = QComboBox()
        self.ocr.addItems(CHOICES["ocr"])
        self.ocr.setCurrentText(s.ocr)
        self.ocr.setToolTip(
            "off: scanned pages stay unread; auto: pages without a usable text layer, and "
            "images, are read by OCR; force: every page is read by OCR"
        )
        self.ocr_languages = QLineEdit(s.ocr_languages)
        self.ocr_languages.setToolTip("Tesseract language codes joined by '+', e.g. eng+deu")
        documents = QFormLayout()
        documents.addRow("OCR of scanned pages", self.ocr)
        documents.addRow("OCR languages", self.ocr_languages)

        self.theme = QComboBox()
        self.theme.addItems(THEMES)
        self.theme.setCurrentText(s.theme)
        self.theme.setToolTip("Follow the system, or force light or dark")

        tabs = QTabWidget()
        for title, form in (
            ("Models", models),
            ("Runs and budgets", budgets),
            ("Server and key", server),
            ("Sandbox", sandbox),
            ("Documents", documents),
        ):
            page = QWidget()
            column = QVBoxLayout(page)
            column.addLayout(form)
            column.addStretch(1)  # rows keep their own heights; the spare goes below them
            tabs.addTab(page, title)
        layout = QVBoxLayout(self)
        layout.addWidget(tabs)
        theme_row = QFormLayout()
        theme_row.addRow("Theme", self.theme)
        layout.addLayout(theme_row)
        self.error = QLabel("")
        self.error.setStyleSheet("color: #b00")
        layout.addWidget(self.error)
        buttons = QDialogButtonBox(
            QDialogButtonBox.StandardButton.Save | QDialogButtonBox.StandardButton.Cancel
        )
        buttons.accepted.connect(self.save)
        buttons.rejected.connect(self.reject)
        layout.addWidget(buttons)
        self.setMinimumWidth(640)
        self._scan()
        self._check_isolation()

    # ------------------------------------------------------------------ models

    def _folder_list(self) -> list[str]:
        return [self.folders.item(row).text() for row in range(self.folders.count())]

    def _scan(self) -> None:
        """Look for models again (at the dialog's folders and context size)."""
        settings = replace(
            self.settings, model_folders=self._folder_list(), n_ctx=self.n_ctx.value()
        )
        for picker in (self.model, self.sub_model):
            picker.settings = settings
        scan_choices(self.runner, settings, self._scanned, self.error.setText)

    def _scanned(self, found: tuple[list[Choice], Memory]) -> None:
        choices, memory = found
        for picker in (self.model, self.sub_model):
            picker.set_memory(memory)
            picker.set_choices(choices)

    def _add(self) -> None:
        folder = QFileDialog.getExistingDirectory(self, "A folder of GGUF models")
        if folder and folder not in self._folder_list():
            self.folders.addItem(folder)
            self._scan()

    def _choose_tools(self) -> None:
        path, _ = QFileDialog.getOpenFileName(self, "Custom tools", "", "Python (*.py)")
        if path:
            self.tools_file.setText(path)

    def _remove_folder(self) -> None:
        for item in self.folders.selectedItems():
            self.folders.takeItem(self.folders.row(item))
        self._scan()

    def _check_isolation(self) -> None:
        def probe(_task):
            from rlm_desktop.sandbox.host import Sandbox

            with Sandbox(context="") as box:
                assert box.isolation is not None
                return box.isolation.describe()

        self.runner.run("isolation", probe, self.isolation.setText, self.isolation.setText)

    def save(self) -> None:
        """Validate, store the key in the keychain, and keep the new settings."""
        key = self.api_key.text().strip()
        base_url = self.base_url.text().strip()
        if key:
            if not base_url:
                self.error.setText("Give the server's base URL for this key.")
                return
            provider = keys.provider_for(base_url)
            try:
                if keys.keychain_available():
                    keys.set_key(provider, key)
                else:
                    keys.remember_for_session(provider, key)
            except RlmDesktopError as exc:
                self.error.setText(exc.message)
                return
            self.api_key.clear()
        tools_file = self.tools_file.text().strip()
        if tools_file:
            try:
                load_tools(tools_file)  # parsed only: it runs in the REPL
            except RlmDesktopError as exc:
                self.error.setText(exc.message)
                return
        model = self.model.value() or "demo"
        for spec in (model, self.sub_model.value()):
            if spec.startswith(DOWNLOAD):
                recommended = find_recommended(spec.removeprefix(DOWNLOAD))
                name = recommended.name if recommended else spec
                self.error.setText(
                    f"Download {name} first (its Download button), or choose another model."
                )
                return
        updated = replace(
            self.settings,
            model=model,
            sub_model=self.sub_model.value(),
            n_ctx=self.n_ctx.value(),
            n_threads=self.n_threads.value(),
            n_gpu_layers=self.n_gpu_layers.value(),
            model_folders=self._folder_list(),
            base_url=base_url,
            offline=self.offline.isChecked(),
            mode=self.mode.currentText(),
            rlm_profile=self.profile.currentText(),
            tools_file=tools_file,
            max_iterations=self.max_iterations.value(),
            max_depth=self.max_depth.value(),
            max_subcalls=self.max_subcalls.value(),
            max_tokens=self.max_tokens.value(),
            max_seconds=self.max_seconds.value(),
            check_support=self.check_support.isChecked(),
            cell_timeout_s=self.cell_timeout.value(),
            sandbox_memory_mb=self.sandbox_memory.value(),
            sandbox_disk_mb=self.sandbox_disk.value(),
            large_context_mb=self.large_context.value(),
            theme=self.theme.currentText(),
            ocr=self.ocr.currentText(),
            ocr_languages=self.ocr_languages.text().strip() or "eng",
        )
        if model not in ("demo", ""):
            updated.remember_model(model)
        self.result_settings = updated
        self.accept()

    def done(self, result: int) -> None:
        self.runner.shutdown()
        super().done(result)
