"""The first-launch screen: what a model is, which one to use, and the sample documents."""

from __future__ import annotations

from PySide6.QtWidgets import (
    QCheckBox,
    QDialog,
    QFileDialog,
    QHBoxLayout,
    QLabel,
    QPushButton,
    QVBoxLayout,
)

TEXT = (
    "<h2>Welcome to RLM Desktop</h2>"
    "<p>RLM Desktop answers questions about your documents with a <b>language model</b> that "
    "runs on this computer: a <i>.gguf</i> file that llama.cpp loads. The model never reads "
    "all your documents at once; it writes small programs that search and read them, and "
    "shows you every passage it looked at.</p>"
    "<p>The built-in <b>demo model</b> is tiny (135M parameters): it shows how everything works, "
    "but its answers are poor. For real answers, choose a 3–14B instruction model in GGUF "
    "format (for example a Qwen or Llama 'instruct' build, Q4_K_M).</p>"
)


class FirstLaunchDialog(QDialog):
    """Offers the demo model or a GGUF file, and the sample documents."""

    def __init__(self, parent=None) -> None:
        super().__init__(parent)
        self.setWindowTitle("Welcome")
        self.model = "demo"
        intro = QLabel(TEXT)
        intro.setWordWrap(True)
        self.samples = QCheckBox("Load the sample documents (logs, PDFs, Word files)")
        self.samples.setChecked(True)
        self.samples.setToolTip("Adds the bundled samples to this library")
        demo = QPushButton("Use the demo model")
        demo.setToolTip("Start with the tiny built-in model")
        demo.setDefault(True)
        demo.clicked.connect(self.accept)
        choose = QPushButton("Choose a GGUF file…")
        choose.setToolTip("Use a model file you already have")
        choose.clicked.connect(self._choose)
        buttons = QHBoxLayout()
        buttons.addWidget(demo)
        buttons.addWidget(choose)
        layout = QVBoxLayout(self)
        layout.addWidget(intro)
        layout.addWidget(self.samples)
        layout.addLayout(buttons)
        self.resize(560, 360)

    def _choose(self) -> None:
        path, _ = QFileDialog.getOpenFileName(self, "Choose a GGUF model", "", "GGUF (*.gguf)")
        if path:
            self.model = path
            self.accept()
