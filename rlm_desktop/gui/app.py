"""Starting the window: the Qt application, a display check, the main window."""

from __future__ import annotations

import gc
import logging
import os
import sys
from functools import partial
from pathlib import Path
from typing import NoReturn

from rlm_desktop import __version__
from rlm_desktop.errors import RlmDesktopError
from rlm_desktop.paths import resources_dir


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


def seconds_since_start() -> float | None:
    """Seconds since this process started (Linux; None where /proc is not there)."""
    try:
        with open("/proc/self/stat", "rb") as stat:
            fields = stat.read().rsplit(b")", 1)[1].split()
        with open("/proc/uptime", "rb") as uptime:
            now = float(uptime.read().split()[0])
    except (OSError, IndexError, ValueError):
        return None
    return now - int(fields[19]) / os.sysconf("SC_CLK_TCK")


def run(library_dir: Path, model: str | None = None, screenshot: Path | None = None) -> NoReturn:
    """Open the main window on a library, run until it closes, then end the process.

    With ``screenshot``, save a picture of the window once it is on screen, print how long
    the start took, and close (used by the packaging smoke test; handy for bug reports).
    """
    if not has_display():
        raise RlmDesktopError(
            "no display found (DISPLAY/WAYLAND_DISPLAY unset): the window cannot open here; "
            "use the subcommands, e.g. rlm-desktop ask QUESTION"
        )
    from PySide6.QtCore import QEvent, QTimer
    from PySide6.QtGui import QIcon
    from PySide6.QtWidgets import QApplication

    from rlm_desktop.gui.window import MainWindow

    app = QApplication.instance()
    if not isinstance(app, QApplication):
        app = QApplication(sys.argv[:1])
    app.setApplicationName("RLM Desktop")
    app.setApplicationVersion(__version__)
    icon = resources_dir() / "icons" / "rlm-desktop-256.png"
    if icon.exists():
        app.setWindowIcon(QIcon(str(icon)))
    window = MainWindow(library_dir, first_launch=False if model else None)
    if model:
        window.conversation.use_model(model)
    window.show()
    if screenshot is not None:
        QTimer.singleShot(0, partial(_screenshot_and_quit, app, window, screenshot))
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


def _screenshot_and_quit(app, window, path: Path, waited_ms: int = 0) -> None:
    """Wait until the window is painted, save it to ``path``, report the start time, quit."""
    handle = window.windowHandle()
    if not (window.isVisible() and handle and handle.isExposed()):
        if waited_ms >= 60_000:
            print("error: the window was not shown within a minute", file=sys.stderr)
            app.exit(1)
            return
        from PySide6.QtCore import QTimer

        QTimer.singleShot(20, partial(_screenshot_and_quit, app, window, path, waited_ms + 20))
        return
    app.processEvents()
    shown = seconds_since_start()
    path.parent.mkdir(parents=True, exist_ok=True)
    if not window.grab().save(str(path)):
        print(f"error: cannot save the screenshot to {path}", file=sys.stderr)
        app.exit(1)
        return
    started = f"{shown:.2f} s after the process started" if shown is not None else "shown"
    print(f"window on screen {started}; screenshot saved to {path}", flush=True)
    window.close()
    app.exit(0)
