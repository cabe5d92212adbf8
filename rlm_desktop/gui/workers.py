"""Background work for the window: plain threads whose results come back as Qt signals.

Widgets never do slow work or touch the database on the UI thread: they hand a function to
``TaskRunner.run`` and get its result, progress or error back on the UI thread. Work marked
``serial`` waits its turn on one shared worker thread (the library's own), the rest gets a
thread of its own.
"""

from __future__ import annotations

import logging
import queue
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
    """A background job: its work, its cancel flag and its relay."""

    def __init__(self, name: str, work: Callable[[Task], Any]) -> None:
        self.name = name
        self.work = work
        self.cancel = threading.Event()
        self.finished = threading.Event()
        self.relay = _Relay()
        self.thread: threading.Thread | None = None

    def report(self, value: Any) -> None:
        """Send progress to the UI thread (call from the worker)."""
        self.relay.progress.emit(value)

    def execute(self) -> None:
        """Run the work on the calling (worker) thread and send its outcome to the UI thread."""
        try:
            result = self.work(self)
        except RlmDesktopError as exc:
            self.relay.failed.emit(exc.message)
        except Exception as exc:  # shown as a readable message, never a traceback dialog
            log.error("%s failed:\n%s", self.name, traceback.format_exc())
            self.relay.failed.emit(f"{self.name} failed: {type(exc).__name__}: {exc}")
        else:
            self.relay.done.emit(result)
        finally:
            self.finished.set()


class TaskRunner(QObject):
    """Starts tasks and keeps track of them, so closing the window can stop and join them."""

    def __init__(self) -> None:
        super().__init__()
        self.tasks: list[Task] = []
        self._queue: queue.SimpleQueue[Task | None] = queue.SimpleQueue()
        self._serial: threading.Thread | None = None

    def run(
        self,
        name: str,
        work: Callable[[Task], Any],
        on_done: Callable[[Any], None] | None = None,
        on_error: Callable[[str], None] | None = None,
        on_progress: Callable[[Any], None] | None = None,
        *,
        serial: bool = False,
    ) -> Task:
        """Run ``work(task)`` on a worker thread; callbacks run on the UI thread."""
        task = Task(name, work)
        # Forgotten first: when on_done runs, the task no longer counts as busy (its thread
        # may not have marked it finished yet), so on_done can start the next one.
        task.relay.done.connect(lambda _result: self._forget(task))
        task.relay.failed.connect(lambda _message: self._forget(task))
        if on_done:
            task.relay.done.connect(on_done)
        if on_error:
            task.relay.failed.connect(on_error)
        if on_progress:
            task.relay.progress.connect(on_progress)
        self.tasks.append(task)
        if serial:
            task.thread = self._serial_thread()
            self._queue.put(task)
        else:
            task.thread = threading.Thread(target=task.execute, name=f"rlm-{name}", daemon=True)
            task.thread.start()
        return task

    def _serial_thread(self) -> threading.Thread:
        if self._serial is None:
            self._serial = threading.Thread(target=self._drain, name="rlm-library", daemon=True)
            self._serial.start()
        return self._serial

    def _drain(self) -> None:
        """The serial worker: run queued tasks in order until told to stop."""
        while (task := self._queue.get()) is not None:
            if task.cancel.is_set():  # cancelled while waiting: the window is closing
                task.finished.set()
                continue
            task.execute()

    def _forget(self, task: Task) -> None:
        if task in self.tasks:
            self.tasks.remove(task)

    def busy(self, name: str) -> bool:
        """True while a task of that name is queued or runs."""
        return any(t.name == name and not t.finished.is_set() for t in self.tasks)

    def shutdown(self, timeout: float = 10.0) -> None:
        """Cancel every task and wait for its thread (closing the window)."""
        for task in list(self.tasks):
            task.cancel.set()
        if self._serial is not None:
            self._queue.put(None)
        threads = {task.thread for task in self.tasks} | {self._serial}
        for thread in threads:
            if thread is not None:
                thread.join(timeout)
        self._serial = None
