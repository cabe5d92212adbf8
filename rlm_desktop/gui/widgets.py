"""Small widget helpers shared by the panels."""

from __future__ import annotations

from collections.abc import Callable

from PySide6.QtCore import Qt
from PySide6.QtGui import QPainter, QPaintEvent
from PySide6.QtWidgets import QLabel, QMessageBox, QPushButton, QSizePolicy, QWidget


def button(text: str, tip: str, slot: Callable[[], object]) -> QPushButton:
    """A push button with a tooltip and an accessible name (its text without the ellipsis)."""
    widget = QPushButton(text)
    widget.setToolTip(tip)
    widget.setAccessibleName(text.rstrip("…"))
    widget.clicked.connect(slot)
    return widget


class StatusLabel(QLabel):
    """One line of status that never widens its panel: too long, it is elided, whole in its
    tooltip."""

    def __init__(self, text: str = "") -> None:
        super().__init__(text)
        self.setTextFormat(Qt.TextFormat.PlainText)  # messages may quote file names
        self.setSizePolicy(QSizePolicy.Policy.Ignored, QSizePolicy.Policy.Fixed)
        self.setMinimumWidth(1)

    def setText(self, text: str) -> None:
        """Show ``text`` (the tooltip holds it whole)."""
        super().setText(text)
        self.setToolTip(text)

    def paintEvent(self, event: QPaintEvent) -> None:
        painter = QPainter(self)
        rect = self.contentsRect()
        first_line = self.text().split("\n", 1)[0]
        elided = self.fontMetrics().elidedText(
            first_line, Qt.TextElideMode.ElideRight, rect.width()
        )
        painter.setPen(self.palette().color(self.foregroundRole()))
        painter.drawText(
            rect, int(Qt.AlignmentFlag.AlignLeft | Qt.AlignmentFlag.AlignVCenter), elided
        )


def confirm(parent: QWidget, title: str, text: str, on_yes: Callable[[], object]) -> QMessageBox:
    """Ask a yes/cancel question without blocking the window; ``on_yes`` runs on Yes."""
    yes = QMessageBox.StandardButton.Yes
    box = QMessageBox(
        QMessageBox.Icon.Question, title, text, yes | QMessageBox.StandardButton.Cancel, parent
    )
    box.setTextFormat(Qt.TextFormat.PlainText)
    box.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)
    box.buttonClicked.connect(
        lambda clicked: on_yes() if box.standardButton(clicked) == yes else None
    )
    box.open()
    return box
