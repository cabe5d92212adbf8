"""Background work for the window: plain threads whose results come back as Qt signals.

Widgets never do slow work or touch the database on the UI thread: they hand a function to
``TaskRunner.run`` and get its result, progress or error back on the UI thread.
"""

from __future__ import annotations

import logging
import threading
import traceback
from collections.abc import Callable
from typing import Any

from PySide6.QtCore import QObject, Signal

from rlm_desktop.errors import RlmDesktopError

log = logging.getLogger(__name__)


class _Relay(QObject):
    """Lives on the UI thread; signals emitted from a worker are queued to it."""

    progress = Signal(object)
    done = Signal(object)
    failed = Signal(str)


class Task:
    """A running background job: its cancel flag and its relay."""

    def __init__(self, name: str) -> None:
        self.name = name
        self.cancel = threading.Event()
        self.relay = _Relay()
        self.thread: threading.Thread | None = None

    def report(self, value: Any) -> None:
        """Send progress to the UI thread (call from the worker)."""
        self.relay.progress.emit(value)


class TaskRunner(QObject):
    """Starts tasks and keeps track of them, so closing the window can stop and join them."""

    def __init__(self) -> None:
        super().__init__()
        self.tasks: list[Task] = []

    def run(
        self,
        name: str,
        work: Callable[[Task], Any],
        on_done: Callable[[Any], None] | None = None,
        on_error: Callable[[str], None] | None = None,
        on_progress: Callable[[Any], None] | None = None,
    ) -> Task:
        """Run ``work(task)`` on a worker thread; callbacks run on the UI thread."""
        task = Task(name)
        if on_done:
            task.relay.done.connect(on_done)
        if on_error:
            task.relay.failed.connect(on_error)
        if on_progress:
            task.relay.progress.connect(on_progress)
        task.relay.done.connect(lambda _result: self._forget(task))
        task.relay.failed.connect(lambda _message: self._forget(task))

        def body() -> None:
            try:
                result = work(task)
            except RlmDesktopError as exc:
                task.relay.failed.emit(exc.message)
            except Exception as exc:  # shown as a readable message, never a traceback dialog
                log.error("%s failed:\n%s", name, traceback.format_exc())
                task.relay.failed.emit(f"{name} failed: {type(exc).__name__}: {exc}")
            else:
                task.relay.done.emit(result)

        task.thread = threading.Thread(target=body, name=f"rlm-{name}", daemon=True)
        self.tasks.append(task)
        task.thread.start()
        return task

    def _forget(self, task: Task) -> None:
        if task in self.tasks:
            self.tasks.remove(task)

    def busy(self, name: str) -> bool:
        """True while a task of that name runs."""
        return any(t.name == name and t.thread and t.thread.is_alive() for t in self.tasks)

    def shutdown(self, timeout: float = 10.0) -> None:
        """Cancel every task and wait for its thread (closing the window)."""
        for task in list(self.tasks):
            task.cancel.set()
        for task in list(self.tasks):
            if task.thread is not None:
                task.thread.join(timeout)
