"""Small widget helpers shared by the panels."""

from __future__ import annotations

from collections.abc import Callable

from PySide6.QtWidgets import QPushButton


def button(text: str, tip: str, slot: Callable[[], object]) -> QPushButton:
    """A push button with a tooltip and an accessible name (its text without the ellipsis)."""
    widget = QPushButton(text)
    widget.setToolTip(tip)
    widget.setAccessibleName(text.rstrip("…"))
    widget.clicked.connect(slot)
    return widget
