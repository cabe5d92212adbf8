"""The Export dialog (Ctrl+E): format, what to export, and whether to add the trajectory."""

from __future__ import annotations

from PySide6.QtWidgets import (
    QCheckBox,
    QComboBox,
    QDialog,
    QDialogButtonBox,
    QFormLayout,
    QRadioButton,
    QVBoxLayout,
)

_LABELS = {
    "md": "Markdown (.md)",
    "html": "Web page (.html)",
    "docx": "Word (.docx)",
    "pdf": "PDF (.pdf)",
}


class ExportDialog(QDialog):
    """Picks what and how to export; the window then asks where to save."""

    def __init__(self, has_answer: bool, parent=None) -> None:
        super().__init__(parent)
        self.setWindowTitle("Export")
        self.formats = QComboBox()
        for key, label in _LABELS.items():
            self.formats.addItem(label, key)
        self.formats.setToolTip("The file format of the export")
        self.formats.setAccessibleName("Export format")
        self.this_answer = QRadioButton("This answer")
        self.this_answer.setToolTip("The answer shown now")
        self.everything = QRadioButton("The library's whole question history")
        self.everything.setToolTip("Every saved answer of this library, oldest first")
        self.this_answer.setEnabled(has_answer)
        (self.this_answer if has_answer else self.everything).setChecked(True)
        self.with_trajectory = QCheckBox("Add the trajectory (code, outputs, sub-calls)")
        self.with_trajectory.setToolTip("An appendix with every step of the run")
        form = QFormLayout()
        form.addRow("Format", self.formats)
        form.addRow("What", self.this_answer)
        form.addRow("", self.everything)
        form.addRow("", self.with_trajectory)
        buttons = QDialogButtonBox(
            QDialogButtonBox.StandardButton.Ok | QDialogButtonBox.StandardButton.Cancel
        )
        buttons.accepted.connect(self.accept)
        buttons.rejected.connect(self.reject)
        layout = QVBoxLayout(self)
        layout.addLayout(form)
        layout.addWidget(buttons)

    def format(self) -> str:
        """md, html, docx or pdf."""
        return self.formats.currentData()

    def whole_history(self) -> bool:
        """True to export every answer of the library."""
        return self.everything.isChecked()

    def trajectory(self) -> bool:
        """True to add the trajectory appendix."""
        return self.with_trajectory.isChecked()
