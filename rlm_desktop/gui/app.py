"""Starting the window: the Qt application, a display check, the main window."""

from __future__ import annotations

import os
import sys
from pathlib import Path

from rlm_desktop.errors import RlmDesktopError


def has_display() -> bool:
    """True when a window can be shown (a display server, or an explicit Qt platform)."""
    if os.environ.get("QT_QPA_PLATFORM"):
        return True
    if sys.platform in ("darwin", "win32"):
        return True
    return bool(os.environ.get("DISPLAY") or os.environ.get("WAYLAND_DISPLAY"))


def run(library_dir: Path) -> int:
    """Open the main window on a library and run until it closes."""
    if not has_display():
        raise RlmDesktopError(
            "no display found (DISPLAY/WAYLAND_DISPLAY unset): the window cannot open here; "
            "use the subcommands, e.g. rlm-desktop ask QUESTION"
        )
    from PySide6.QtWidgets import QApplication

    from rlm_desktop.gui.window import MainWindow

    app = QApplication.instance() or QApplication(sys.argv[:1])
    app.setApplicationName("RLM Desktop")
    window = MainWindow(library_dir)
    window.show()
    return app.exec()
