"""Starting the window: the Qt application, a display check, the main window."""

from __future__ import annotations

import gc
import logging
import os
import sys
from pathlib import Path
from typing import NoReturn

from rlm_desktop.errors import RlmDesktopError


def has_display() -> bool:
    """True when a window can be shown to a person (offscreen rendering does not count)."""
    platform = os.environ.get("QT_QPA_PLATFORM", "")
    if platform in ("offscreen", "minimal"):
        return False
    if platform:
        return True
    if sys.platform in ("darwin", "win32"):
        return True
    return bool(os.environ.get("DISPLAY") or os.environ.get("WAYLAND_DISPLAY"))


def run(library_dir: Path, model: str | None = None) -> NoReturn:
    """Open the main window on a library, run until it closes, then end the process."""
    if not has_display():
        raise RlmDesktopError(
            "no display found (DISPLAY/WAYLAND_DISPLAY unset): the window cannot open here; "
            "use the subcommands, e.g. rlm-desktop ask QUESTION"
        )
    from PySide6.QtCore import QEvent
    from PySide6.QtWidgets import QApplication

    from rlm_desktop.gui.window import MainWindow

    app = QApplication.instance() or QApplication(sys.argv[:1])
    app.setApplicationName("RLM Desktop")
    window = MainWindow(library_dir, first_launch=False if model else None)
    if model:
        window.model_box.setEditText(model)
    window.show()
    code = app.exec()
    # Measured here: after the window has run a llama.cpp model from a worker thread, the
    # interpreter's final garbage collection aborts ("bool_dealloc", a refcount error in a C
    # extension). Everything is saved by now (SQLite commits, settings, window state), so the
    # process ends without that final collection.
    window.deleteLater()
    app.sendPostedEvents(None, QEvent.Type.DeferredDelete)
    del window
    gc.collect()
    logging.shutdown()
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(code)
