"""Find in a text pane (Ctrl+F): a slim bar that finds forwards and backwards, and says how
many matches there are."""

from __future__ import annotations

from collections.abc import Callable

from PySide6.QtCore import Qt
from PySide6.QtGui import QKeyEvent, QTextDocument
from PySide6.QtWidgets import QHBoxLayout, QLabel, QLineEdit, QPlainTextEdit, QTextEdit, QWidget

from rlm_desktop.gui.widgets import button

TextPane = QTextEdit | QPlainTextEdit


class FindBar(QWidget):
    """Finds text in the pane ``target()`` returns (the pane shown may change)."""

    def __init__(
        self,
        target: Callable[[], TextPane | None],
        name: str,
        elsewhere: Callable[[str, bool], None] | None = None,
    ) -> None:
        """``elsewhere(text, backwards)`` finds in a pane that is not text (a PDF) when
        ``target`` returns None."""
        super().__init__()
        self.target, self.elsewhere = target, elsewhere
        self.box = QLineEdit(placeholderText=f"Find in the {name}")
        self.box.setAccessibleName(f"Find in the {name}")
        self.box.setToolTip("Enter: next match · Shift+Enter: previous · Esc: close")
        self.box.textChanged.connect(lambda _text: self.find_next())
        self.box.returnPressed.connect(self.find_next)
        self.count = QLabel()
        layout = QHBoxLayout(self)
        layout.setContentsMargins(0, 2, 0, 2)
        layout.addWidget(self.box, 1)
        layout.addWidget(self.count)
        for text, tip, slot in (
            ("↑", "Previous match (Shift+Enter)", lambda: self.find_next(backwards=True)),
            ("↓", "Next match (Enter)", self.find_next),
            ("✕", "Close (Esc)", self.close_bar),
        ):
            widget = button(text, tip, slot)
            widget.setAccessibleName(tip)
            widget.setMaximumWidth(32)
            layout.addWidget(widget)
        self.hide()

    def open_bar(self) -> None:
        """Show the bar with its box focused and its text selected."""
        self.show()
        self.box.setFocus()
        self.box.selectAll()

    def close_bar(self) -> None:
        """Hide the bar and give the focus back to the pane."""
        self.hide()
        pane = self.target()
        if pane is not None:
            pane.setFocus()

    def find_next(self, backwards: bool = False) -> bool:
        """Select the next (or previous) match, wrapping around; True if there is one."""
        pane, text = self.target(), self.box.text()
        if pane is None and self.elsewhere is not None:
            self.elsewhere(text, backwards)
            self.count.setText("")
            return bool(text)
        if pane is None or not text:
            self.count.setText("")
            return False
        flags = QTextDocument.FindFlag.FindBackward if backwards else QTextDocument.FindFlag(0)
        found = pane.find(text, flags)
        if not found:  # wrap around
            cursor = pane.textCursor()
            cursor.movePosition(
                cursor.MoveOperation.End if backwards else cursor.MoveOperation.Start
            )
            pane.setTextCursor(cursor)
            found = pane.find(text, flags)
        matches = pane.document().toPlainText().lower().count(text.lower())
        self.count.setText(f"{matches} found" if matches else "not found")
        return found

    def keyPressEvent(self, event: QKeyEvent) -> None:
        if event.key() == Qt.Key.Key_Escape:
            self.close_bar()
            return
        shift = event.modifiers() & Qt.KeyboardModifier.ShiftModifier
        if event.key() in (Qt.Key.Key_Return, Qt.Key.Key_Enter) and shift:
            self.find_next(backwards=True)
            return
        super().keyPressEvent(event)
