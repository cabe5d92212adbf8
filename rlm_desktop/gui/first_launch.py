"""The first-launch screen: what a model is, the models already on this computer, a
recommended download, the demo model, and the sample documents."""

from __future__ import annotations

from collections import Counter

from PySide6.QtCore import QSize, Qt
from PySide6.QtWidgets import (
    QCheckBox,
    QDialog,
    QHBoxLayout,
    QLabel,
    QPushButton,
    QVBoxLayout,
    QWidget,
)

from rlm_desktop.gui.model_picker import ModelPicker, scan_choices
from rlm_desktop.gui.workers import TaskRunner
from rlm_desktop.llm.catalog import Choice, best_choice
from rlm_desktop.llm.fit import Memory
from rlm_desktop.llm.recommended import best_for
from rlm_desktop.settings import Settings, load_settings

TEXT = (
    "<h2>Welcome to RLM Desktop</h2>"
    "<p>RLM Desktop answers questions about your documents with a <b>language model</b> that "
    "runs on this computer: a <i>.gguf</i> file that llama.cpp loads. The model never reads "
    "all your documents at once; it writes small programs that search and read them, and "
    "shows you every passage it looked at.</p>"
    "<p>For real answers, use a 3–14B instruction model (Q4_K_M is a good size). The built-in "
    "<b>demo model</b> is tiny: it shows how everything works, but its answers are poor.</p>"
)
LOOKED_IN = "LM Studio, GPT4All, Ollama, Jan, and the Hugging Face and llama.cpp caches"
SCANNING_TEXT = f"Looking for models in {LOOKED_IN}…"
WIDTH = 640


class FirstLaunchDialog(QDialog):
    """Offers the models found on this computer, a recommended download and the demo model;
    ``model`` holds the choice once accepted."""

    def __init__(self, parent: QWidget | None = None, settings: Settings | None = None) -> None:
        super().__init__(parent)
        self.setWindowTitle("Welcome")
        self.settings = settings or load_settings()
        self.runner = TaskRunner()
        self.model = "demo"
        self.recommended_id = ""
        intro = QLabel(TEXT)
        intro.setWordWrap(True)
        question = QLabel("<b>Which model should answer your questions?</b>")
        self.picker = ModelPicker("demo", "The model that answers", self.settings, self.runner)
        self.picker.chosen.connect(self._chosen)
        self.picker.downloaded.connect(lambda _path: self._scan())
        self.found = QLabel(SCANNING_TEXT)
        self.found.setWordWrap(True)
        self.found.setTextFormat(Qt.TextFormat.PlainText)
        self.suggestion = QLabel("")
        self.suggestion.setWordWrap(True)
        self.suggestion.setTextFormat(Qt.TextFormat.PlainText)
        self.download = QPushButton("Download it")
        self.download.setToolTip("Download the recommended model (it can be cancelled and resumed)")
        self.download.clicked.connect(self._download)
        self.download.setVisible(False)
        suggestion = QHBoxLayout()
        suggestion.addWidget(self.suggestion, 1)
        suggestion.addWidget(self.download)
        self.samples = QCheckBox("Load the sample documents (logs, PDFs, Word files)")
        self.samples.setChecked(True)
        self.samples.setToolTip("Adds the bundled samples to this library")
        demo = QPushButton("Use the demo model")
        demo.setToolTip("Start with the tiny built-in model")
        demo.clicked.connect(self._use_demo)
        self.start = QPushButton("Start")
        self.start.setToolTip("Start with the model chosen above")
        self.start.setDefault(True)
        self.start.clicked.connect(self.accept)
        buttons = QHBoxLayout()
        buttons.addStretch()
        buttons.addWidget(demo)
        buttons.addWidget(self.start)
        layout = QVBoxLayout(self)
        layout.addWidget(intro)
        layout.addWidget(question)
        layout.addWidget(self.picker)
        layout.addWidget(self.found)
        layout.addLayout(suggestion)
        layout.addSpacing(8)
        layout.addWidget(self.samples)
        layout.addLayout(buttons)
        self.setMinimumWidth(WIDTH)
        self._scan()

    def sizeHint(self) -> QSize:
        """As tall as the wrapped text needs at the dialog's width, and no taller."""
        layout = self.layout()
        width = max(self.width(), WIDTH)
        height = layout.totalHeightForWidth(width) if layout is not None else 0
        return QSize(width, height)

    def _fit_height(self) -> None:
        """Grow when longer text arrived (a wrapped label does not grow its window)."""
        self.resize(self.width(), max(self.height(), self.sizeHint().height()))

    def _scan(self) -> None:
        scan_choices(self.runner, self.settings, self._scanned, self.found.setText)

    def _scanned(self, found: tuple[list[Choice], Memory]) -> None:
        choices, memory = found
        first_time = not self.picker.choices
        self.picker.set_memory(memory)
        self.picker.set_choices(choices)
        here = [c for c in choices if c.source not in ("demo", "recommended", "recent")]
        if here:
            counts = Counter(c.group for c in here)
            where = ", ".join(f"{n} in {group}" for group, n in counts.items())
            self.found.setText(f"Found on this computer: {where}. They are in the list above.")
        else:
            self.found.setText(f"No models found in {LOOKED_IN}.")
        best = best_choice(choices)
        if first_time and best is not None and self.picker.value() == "demo":
            self.picker.set_value(best.spec)
        self._suggest(memory, best is None)
        self._fit_height()

    def _suggest(self, memory: Memory, needed: bool) -> None:
        """Offer the recommended model that fits this computer, unless one is here already."""
        model = best_for(memory.free)
        if model is None or model.downloaded():
            self.suggestion.setText(
                "" if model else "This computer has little free memory: the demo model fits."
            )
            self.download.setVisible(False)
            return
        self.recommended_id = model.id
        lead = "Recommended for this computer" if needed else "Or download"
        self.suggestion.setText(
            f"{lead}: {model.name}, a {model.size_gb:g} GB download that needs about "
            f"{model.ram_gb:g} GB of memory ({model.why})."
        )
        self.download.setText(f"Download it ({model.size_gb:g} GB)")
        self.download.setVisible(True)

    def _download(self) -> None:
        self.download.setEnabled(False)  # the picker shows the progress, and a Cancel
        self.picker.start_download(self.recommended_id)

    def _chosen(self, spec: str) -> None:
        choice = self.picker.choice(spec)
        self.start.setEnabled(bool(spec) and not (choice and choice.recommended_id))

    def _use_demo(self) -> None:
        self.picker.set_value("demo")
        self.accept()

    def accept(self) -> None:
        """Keep the chosen model (never a download still to be made)."""
        chosen = self.picker.value() or "demo"
        choice = self.picker.choice(chosen)
        self.model = "demo" if choice is not None and choice.recommended_id else chosen
        super().accept()

    def done(self, result: int) -> None:
        self.runner.shutdown()
        super().done(result)
