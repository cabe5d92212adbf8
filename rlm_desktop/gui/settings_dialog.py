"""The Settings dialog (Ctrl+,): models, server and key, context, budgets, sandbox, theme."""

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
    QGroupBox,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QPushButton,
    QSpinBox,
    QVBoxLayout,
    QWidget,
)

from rlm_desktop.errors import RlmDesktopError
from rlm_desktop.gui.workers import TaskRunner
from rlm_desktop.llm import keys
from rlm_desktop.llm.catalog import describe_model, model_choices
from rlm_desktop.settings import Settings
from rlm_desktop.textsafe import printable

THEMES = ("system", "light", "dark")


def _spin(low: int, high: int, value: int, tip: str) -> QSpinBox:
    box = QSpinBox()
    box.setRange(low, high)
    box.setValue(value)
    box.setToolTip(tip)
    box.setAccessibleName(tip)
    return box


class ModelPicker(QWidget):
    """A model spec: an editable list (demo, recent files) and a GGUF file chooser."""

    def __init__(self, value: str, recent: list[str], tip: str, allow_empty: bool = False):
        super().__init__()
        self.combo = QComboBox()
        self.combo.setEditable(True)
        self.combo.addItems(([""] if allow_empty else []) + model_choices(recent))
        self.combo.setEditText(value)
        self.combo.setToolTip(tip)
        self.combo.setAccessibleName(tip)
        browse = QPushButton("Choose a GGUF file…")
        browse.setToolTip("Pick a .gguf model file from disk")
        browse.clicked.connect(self._browse)
        row = QHBoxLayout(self)
        row.setContentsMargins(0, 0, 0, 0)
        row.addWidget(self.combo, 1)
        row.addWidget(browse)

    def _browse(self) -> None:
        path, _ = QFileDialog.getOpenFileName(self, "Choose a GGUF model", "", "GGUF (*.gguf)")
        if path:
            self.combo.setEditText(path)

    def value(self) -> str:
        """The spec as typed or chosen."""
        return self.combo.currentText().strip()


class SettingsDialog(QDialog):
    """Edits a copy of the settings; ``result_settings`` holds them after Save."""

    def __init__(self, settings: Settings, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setWindowTitle("Settings")
        self.settings = settings
        self.result_settings: Settings | None = None
        self.runner = TaskRunner()
        s = settings

        self.model = ModelPicker(s.model, s.recent_models, "Model for the root loop")
        self.sub_model = ModelPicker(
            s.sub_model, s.recent_models, "Model for sub-calls (empty: the same)", allow_empty=True
        )
        self.model_info = QLabel("")
        self.model_info.setWordWrap(True)
        self.model_info.setTextFormat(Qt.TextFormat.PlainText)  # a model file names itself
        self.model_info.setMinimumHeight(40)
        self.model.combo.currentTextChanged.connect(self._describe_model)
        models = QFormLayout()
        models.addRow("Model", self.model)
        models.addRow("", self.model_info)
        models.addRow("Sub-call model", self.sub_model)
        self.n_ctx = _spin(0, 1_048_576, s.n_ctx, "Context size in tokens (0: the model's, capped)")
        self.n_threads = _spin(0, 256, s.n_threads, "CPU threads (0: all cores)")
        self.n_gpu_layers = _spin(-1, 1000, s.n_gpu_layers, "GPU layers (-1: all if supported)")
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
        self.max_subcalls = _spin(0, 100_000, s.max_subcalls, "Sub-calls at most")
        self.max_tokens = _spin(1000, 100_000_000, s.max_tokens, "Tokens at most (whole run)")
        self.max_seconds = QDoubleSpinBox()
        self.max_seconds.setRange(5, 86_400)
        self.max_seconds.setValue(s.max_seconds)
        self.max_seconds.setToolTip("Wall-clock budget of a run, in seconds")
        budgets = QFormLayout()
        budgets.addRow("Mode", self.mode)
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
        self.isolation = QLabel("checking…")
        self.isolation.setTextFormat(Qt.TextFormat.PlainText)
        self.isolation.setWordWrap(True)
        sandbox = QFormLayout()
        sandbox.addRow("Cell timeout (s)", self.cell_timeout)
        sandbox.addRow("Memory (MB)", self.sandbox_memory)
        sandbox.addRow("Disk (MB)", self.sandbox_disk)
        sandbox.addRow("Isolation", self.isolation)

        self.theme = QComboBox()
        self.theme.addItems(THEMES)
        self.theme.setCurrentText(s.theme)
        self.theme.setToolTip("Follow the system, or force light or dark")

        layout = QVBoxLayout(self)
        for title, form in (
            ("Models", models),
            ("OpenAI-compatible server", server),
            ("Runs and budgets", budgets),
            ("Sandbox", sandbox),
        ):
            group = QGroupBox(title)
            group.setLayout(form)
            layout.addWidget(group)
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
        self.setMinimumWidth(560)
        self._describe_model(s.model)
        self._check_isolation()

    def _describe_model(self, spec: str) -> None:
        self.runner.run(
            "describe-model",
            lambda _task: describe_model(spec),
            lambda summary: self.model_info.setText(printable(summary, multiline=True)),
            lambda message: self.model_info.setText(f"⚠ {printable(message, multiline=True)}"),
        )

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
        model = self.model.value() or "demo"
        updated = replace(
            self.settings,
            model=model,
            sub_model=self.sub_model.value(),
            n_ctx=self.n_ctx.value(),
            n_threads=self.n_threads.value(),
            n_gpu_layers=self.n_gpu_layers.value(),
            base_url=base_url,
            offline=self.offline.isChecked(),
            mode=self.mode.currentText(),
            max_iterations=self.max_iterations.value(),
            max_depth=self.max_depth.value(),
            max_subcalls=self.max_subcalls.value(),
            max_tokens=self.max_tokens.value(),
            max_seconds=self.max_seconds.value(),
            check_support=self.check_support.isChecked(),
            cell_timeout_s=self.cell_timeout.value(),
            sandbox_memory_mb=self.sandbox_memory.value(),
            sandbox_disk_mb=self.sandbox_disk.value(),
            theme=self.theme.currentText(),
        )
        if model not in ("demo", ""):
            updated.remember_model(model)
        self.result_settings = updated
        self.accept()

    def done(self, result: int) -> None:
        self.runner.shutdown()
        super().done(result)
