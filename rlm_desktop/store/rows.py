"""Passages made into rows to insert, in batches prepared by a helper thread.

Reading, decoding, cutting and compressing a log happen in Python while SQLite indexes the
previous batch with the interpreter lock released: on a machine with two cores, the two go
on side by side instead of one after the other.
"""

from __future__ import annotations

import queue
import threading
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field

from rlm_desktop.records import Passage
from rlm_desktop.store.packing import pack

_BATCH = 500
_BATCH_CHARS = 2 * 1024 * 1024
_QUEUED_BATCHES = 4  # at most this many batches wait: memory stays bounded


@dataclass
class Batch:
    """Rows for the passages table (their ids left out), the same passages' texts for the
    full-text index, and how far into the document they reach."""

    rows: list[tuple] = field(default_factory=list)
    texts: list[str] = field(default_factory=list)
    chars: int = 0  # characters of text in these rows
    end: int = 0  # the document offset and last line the last row reaches
    line_end: int = 0


def _row(doc_id: int, passage: Passage) -> tuple:
    return (
        doc_id,
        passage.ordinal,
        passage.page,
        passage.page_label,
        passage.line_start,
        passage.line_end,
        passage.start,
        passage.end,
        pack(passage.text),
    )


def _batches(doc_id: int, passages: Iterable[Passage]) -> Iterator[Batch]:
    batch = Batch()
    for passage in passages:
        batch.rows.append(_row(doc_id, passage))
        batch.texts.append(passage.text)
        batch.chars += len(passage.text)
        batch.end, batch.line_end = passage.end, passage.line_end
        if len(batch.rows) >= _BATCH or batch.chars >= _BATCH_CHARS:
            yield batch
            batch = Batch(end=batch.end, line_end=batch.line_end)
    if batch.rows:
        yield batch


class _Failed:
    """What the helper thread raised, handed to the writer to raise again."""

    def __init__(self, error: BaseException) -> None:
        self.error = error


_DONE = object()


def prepared_batches(doc_id: int, passages: Iterable[Passage]) -> Iterator[Batch]:
    """Batches of rows for these passages, prepared ahead in a helper thread. Whatever the
    passages raise (a read error, a cancel) is raised here; closing this generator early
    stops the thread."""
    ready: queue.Queue = queue.Queue(maxsize=_QUEUED_BATCHES)
    stop = threading.Event()

    def put(item: object) -> bool:
        while not stop.is_set():
            try:
                ready.put(item, timeout=0.1)
                return True
            except queue.Full:
                continue
        return False

    def produce() -> None:
        try:
            for batch in _batches(doc_id, passages):
                if not put(batch):
                    return
            put(_DONE)
        except BaseException as exc:  # handed over, raised again by the writer
            put(_Failed(exc))

    helper = threading.Thread(target=produce, name="passage-rows", daemon=True)
    helper.start()
    try:
        while (item := ready.get()) is not _DONE:
            if isinstance(item, _Failed):
                raise item.error
            yield item
    finally:
        stop.set()
        helper.join()
