"""The open library: the one object in the window that opens it and runs work on it.

Short operations (listing documents and runs, reading a text, removing, exporting) wait their
turn on one worker thread that keeps the library open. The two long ones, ingesting and
asking, each get a thread and a connection of their own, so that the document list keeps
filling while an ingest runs. After a change the session says what changed, and each panel
decides whether to refresh.
"""

from __future__ import annotations

import enum
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

from PySide6.QtCore import QObject, Signal

from rlm_desktop.gui.workers import Task, TaskRunner
from rlm_desktop.store import Library

T = TypeVar("T")


class Change(enum.Flag):
    """What an operation changed, for the panels to decide whether to refresh."""

    NONE = 0
    DOCUMENTS = enum.auto()
    RUNS = enum.auto()
    EVERYTHING = DOCUMENTS | RUNS


class LibrarySession(QObject):
    """Owns the open library folder and runs every operation on it in the background."""

    changed = Signal(object)  # a Change

    def __init__(self, folder: Path) -> None:
        super().__init__()
        self.folder = Path(folder)
        self.runner = TaskRunner()
        self._library: Library | None = None  # only touched on the serial worker
        self._library_folder: Path | None = None

    def open(self, folder: Path) -> None:
        """Switch to another library folder; everything shown comes from it from now on."""
        self.folder = Path(folder)
        self.changed.emit(Change.EVERYTHING)

    def run(
        self,
        name: str,
        work: Callable[[Library], T],
        on_done: Callable[[T], None] | None = None,
        on_error: Callable[[str], None] | None = None,
        *,
        changes: Change = Change.NONE,
    ) -> Task:
        """Run a short ``work(library)`` after those queued before it; results on the UI thread."""
        folder = self.folder
        return self.runner.run(
            name,
            lambda _task: work(self._library_at(folder)),
            self._then(changes, on_done),
            on_error,
            serial=True,
        )

    def run_long(
        self,
        name: str,
        work: Callable[[Library, Task], T],
        on_done: Callable[[T], None] | None = None,
        on_error: Callable[[str], None] | None = None,
        on_progress: Callable[[Any], None] | None = None,
        *,
        changes: Change = Change.NONE,
    ) -> Task:
        """Run a long ``work(library, task)`` (ingest, a question) on its own connection."""
        folder = self.folder

        def alone(task: Task) -> T:
            with Library(folder) as library:
                return work(library, task)

        return self.runner.run(name, alone, self._then(changes, on_done), on_error, on_progress)

    def busy(self, name: str) -> bool:
        """True while an operation of that name is queued or runs."""
        return self.runner.busy(name)

    def close(self) -> None:
        """Cancel and wait for the work in flight, then close the library (closing the window)."""
        self.runner.shutdown()
        if self._library is not None:
            self._library.close()
            self._library = None

    def _then(self, changes: Change, on_done: Callable[[T], None] | None) -> Callable[[T], None]:
        def done(result: T) -> None:
            if changes:
                self.changed.emit(changes)
            if on_done is not None:
                on_done(result)

        return done

    def _library_at(self, folder: Path) -> Library:
        """The serial worker's open library, reopened when the window switched folders."""
        if self._library is not None and self._library_folder != folder:
            self._library.close()
            self._library = None
        if self._library is None:
            self._library = Library(folder)
            self._library_folder = folder
        return self._library
