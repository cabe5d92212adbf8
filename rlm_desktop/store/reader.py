"""Reading a library: every question the other layers ask of the store, by name.

``LibraryReader`` needs the standard library alone, so the REPL child opens the library with
it (read-only, before it confines itself); ``Library`` adds writing on top.
"""

from __future__ import annotations

import json
import os
import sqlite3
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Self

from rlm_desktop.records import outcome_of
from rlm_desktop.store.documents import (
    FINISHED,
    READABLE,
    Document,
    LibraryError,
    OcrLine,
    StoredPassage,
    lines_covering,
)
from rlm_desktop.store.packing import TEXT_FUNCTION, register
from rlm_desktop.store.search import SearchHit, quote_candidates, search_passages

# The columns of a saved run that hold JSON.
RUN_JSON = ("models", "citations", "explored", "usage", "settings", "events", "scope")
# A passage row with its text unpacked (see store.packing).
_PASSAGE = (
    'SELECT id, doc_id, ordinal, page, page_label, line_start, line_end, start, "end", '
    f"{TEXT_FUNCTION}(text) AS text FROM passages"
)
# (document id, offset of the passage in the document, page, page label, first line)
Boundary = tuple[int, int, int | None, str | None, int]


def connect_readonly(db_path: Path) -> sqlite3.Connection:
    """A read-only connection to ``library.db``; the file must exist."""
    if not db_path.exists():
        raise LibraryError(f"no library at {db_path.parent}")
    uri = f"{db_path.resolve().as_uri()}?mode=ro"
    conn = sqlite3.connect(uri, uri=True, isolation_level=None, check_same_thread=False)
    register(conn)
    conn.execute("PRAGMA busy_timeout=10000")
    return conn


class LibraryReader:
    """Named queries over a library's connection; ``open`` gives a read-only one."""

    def __init__(self, conn: sqlite3.Connection) -> None:
        conn.row_factory = sqlite3.Row
        self._conn = conn

    @classmethod
    def open(cls, db_path: Path | str) -> LibraryReader:
        """Open ``library.db`` read-only (the REPL child does so before it confines itself)."""
        try:
            return cls(connect_readonly(Path(db_path)))
        except sqlite3.Error as exc:
            raise LibraryError(f"cannot open the library at {db_path}: {exc}") from exc

    def close(self) -> None:
        """Close the connection."""
        self._conn.close()

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    @contextmanager
    def transaction(self) -> Iterator[None]:
        """Read inside one transaction: everything read sees the same state of the library."""
        self._conn.execute("BEGIN")
        try:
            yield
        finally:
            self._conn.execute("COMMIT")

    # ----------------------------------------------------------------- documents

    def revision(self) -> int:
        """The library's revision: it changes whenever a readable document is added or removed."""
        row = self._conn.execute(
            "SELECT value FROM library_state WHERE key = 'revision'"
        ).fetchone()
        return int(row[0])

    def documents(self, *, include_unreadable: bool = True) -> list[Document]:
        """Finished documents (or only the readable ones) in a stable order (by path)."""
        where = FINISHED if include_unreadable else READABLE
        rows = self._conn.execute(f"SELECT * FROM documents WHERE {where} ORDER BY path")
        return [Document.from_row(row) for row in rows]

    def documents_in(self, paths: Iterable[str]) -> list[Document]:
        """The readable documents at these paths or inside these folders, in library order."""
        wanted = [str(Path(p).expanduser().resolve()) for p in paths]
        return [
            d
            for d in self.documents(include_unreadable=False)
            if any(d.path == w or d.path.startswith(w.rstrip(os.sep) + os.sep) for w in wanted)
        ]

    def document(self, doc_id: int) -> Document:
        """Return one document by id."""
        row = self._conn.execute("SELECT * FROM documents WHERE id = ?", (doc_id,)).fetchone()
        if row is None:
            raise LibraryError(f"no document with id {doc_id}")
        return Document.from_row(row)

    def document_by_path(self, path: str) -> Document | None:
        """Return the finished document recorded for an absolute path, if any."""
        row = self._conn.execute(
            f"SELECT * FROM documents WHERE path = ? AND {FINISHED}", (path,)
        ).fetchone()
        return Document.from_row(row) if row else None

    def sources(self) -> list[str]:
        """Return the files and folders the user added, in the order of their paths."""
        return [row[0] for row in self._conn.execute("SELECT path FROM sources ORDER BY path")]

    def stats(self) -> dict[str, int]:
        """Return document counts by status plus passage and character totals."""
        counts = dict(
            self._conn.execute(
                f"SELECT status, count(*) FROM documents WHERE {FINISHED} GROUP BY status"
            ).fetchall()
        )
        row = self._conn.execute(
            f"SELECT count(*), coalesce(sum(chars), 0) FROM documents WHERE {READABLE}"
        ).fetchone()
        counts["searchable"], counts["chars"] = row[0], row[1]
        return counts

    # ----------------------------------------------------------------- passages

    def passages(self, doc_id: int) -> Iterator[StoredPassage]:
        """Yield a document's passages in order."""
        rows = self._conn.execute(f"{_PASSAGE} WHERE doc_id = ? ORDER BY ordinal", (doc_id,))
        for row in rows:
            yield StoredPassage(**dict(row))

    def last_ordinal(self, doc_id: int) -> int | None:
        """The number of a document's last passage (None when it has none)."""
        row = self._conn.execute(
            "SELECT MAX(ordinal) FROM passages WHERE doc_id = ?", (doc_id,)
        ).fetchone()
        return row[0]

    def passages_around(self, doc_id: int, ordinal: int, neighbours: int) -> list[StoredPassage]:
        """A passage with up to ``neighbours`` passages on each side, in order."""
        rows = self._conn.execute(
            f"{_PASSAGE} WHERE doc_id = ? AND ordinal BETWEEN ? AND ? ORDER BY ordinal",
            (doc_id, ordinal - neighbours, ordinal + neighbours),
        )
        return [StoredPassage(**dict(row)) for row in rows]

    def passage_boundaries(self) -> Iterator[Boundary]:
        """Where each passage of the readable documents starts, by document then in order."""
        yield from self._conn.execute(
            "SELECT p.doc_id, p.start, p.page, p.page_label, p.line_start FROM passages p "
            f"JOIN documents d ON d.id = p.doc_id WHERE d.{READABLE} "
            "ORDER BY p.doc_id, p.ordinal"
        )

    def document_text(self, doc_id: int) -> str:
        """Rebuild a document's full text exactly (its passages tile it)."""
        return "".join(self.document_pieces(doc_id))

    def document_pieces(self, doc_id: int) -> Iterator[str]:
        """A document's text passage by passage, in order: the whole of it, read in
        bounded memory."""
        rows = self._conn.execute(
            f"SELECT {TEXT_FUNCTION}(text) FROM passages WHERE doc_id = ? ORDER BY ordinal",
            (doc_id,),
        )
        for row in rows:
            yield row[0]

    def text_around(
        self, doc_id: int, start: int, end: int, margin: int = 100_000
    ) -> tuple[str, int, int]:
        """The part of a document's text from about ``margin`` characters before ``start``
        to as far after ``end``, as (text, its offset in the document, its first line's
        number): a passage of a multi-gigabyte log is shown without reading the rest."""
        first = self._ordinal_at(doc_id, max(0, start - margin))
        last = self._ordinal_at(doc_id, end + margin)
        rows = self._passages_between(doc_id, first, last)
        if not rows:
            return "", 0, 1
        return "".join(row[2] for row in rows), rows[0][0], rows[0][1]

    def lines_around(self, doc_id: int, line: int, before: int, after: int) -> tuple[str, int]:
        """Lines ``line - before`` to ``line + after`` of a document (as many as it has),
        with the number of the first: a line of a multi-gigabyte log is read without the
        rest."""
        first = max(1, line - before)
        low = self._ordinal_at(doc_id, first, "line_start")
        high = self._ordinal_at(doc_id, line + after, "line_start")
        rows = self._passages_between(doc_id, low, high)
        if not rows:
            return "", first
        lines = "".join(row[2] for row in rows).splitlines(keepends=True)
        skip = max(0, first - rows[0][1])
        return "".join(lines[skip : skip + line + after - first + 1]), rows[0][1] + skip

    def _passages_between(self, doc_id: int, low: int, high: int) -> list[tuple[int, int, str]]:
        """(start, first line, text) of a document's passages ``low`` to ``high``, in order."""
        return self._conn.execute(
            f"SELECT start, line_start, {TEXT_FUNCTION}(text) FROM passages "
            "WHERE doc_id = ? AND ordinal BETWEEN ? AND ? ORDER BY ordinal",
            (doc_id, low, high),
        ).fetchall()

    def _ordinal_at(self, doc_id: int, value: int, column: str = "start") -> int:
        """The ordinal of the passage holding this offset (``column`` "start") or line
        ("line_start"), found by bisection over the (doc_id, ordinal) index: passages tile
        the text in order."""
        low, high = self._conn.execute(
            "SELECT MIN(ordinal), MAX(ordinal) FROM passages WHERE doc_id = ?", (doc_id,)
        ).fetchone()
        if low is None:
            return 0
        while low < high:
            middle = (low + high + 1) // 2
            row = self._conn.execute(
                f"SELECT {column} FROM passages WHERE doc_id = ? AND ordinal = ?", (doc_id, middle)
            ).fetchone()
            if row is not None and row[0] <= value:
                low = middle
            else:
                high = middle - 1
        return low

    def passage_text(self, passage_id: int) -> str:
        """The text of one passage."""
        row = self._conn.execute(
            f"SELECT {TEXT_FUNCTION}(text) FROM passages WHERE id = ?", (passage_id,)
        ).fetchone()
        if row is None:
            raise LibraryError(f"no passage with id {passage_id}")
        return row[0]

    def ocr_page(self, path: str, page: int) -> list[tuple[OcrLine, str]]:
        """The lines OCR read on one page of a document, each with its text ([] when none)."""
        doc = self.document_by_path(path)
        if doc is None or not doc.ocr_pages:
            return []
        rows = self._conn.execute(
            'SELECT page, start, "end", "left", top, "right", bottom, confidence FROM ocr_lines '
            "WHERE doc_id = ? AND page = ? ORDER BY start",
            (doc.id, page),
        ).fetchall()
        if not rows:
            return []
        pieces = self._conn.execute(
            f"SELECT start, {TEXT_FUNCTION}(text) FROM passages "
            "WHERE doc_id = ? AND page = ? ORDER BY ordinal",
            (doc.id, page),
        ).fetchall()
        base = pieces[0][0] if pieces else 0
        text = "".join(piece[1] for piece in pieces)
        lines = [OcrLine(*row) for row in rows]
        return [(ln, text[ln.start - base : ln.end - base]) for ln in lines]

    def ocr_highlight(
        self,
        path: str,
        page: int,
        *,
        start: int | None = None,
        end: int | None = None,
        snippet: str = "",
    ) -> list[OcrLine] | None:
        """The lines of an OCR'd page that a passage covers, by its offsets when they are
        known, else where its text is found on the page; None for a page not read by OCR."""
        lines = self.ocr_page(path, page)
        if not lines:
            return None
        return lines_covering(lines, start=start, end=end, snippet=snippet)

    def search(self, query: str, k: int = 10) -> list[SearchHit]:
        """Return the ``k`` best passages for what a person typed, best first."""
        return search_passages(self._conn, query, k)

    def quote_candidates(self, quote: str, limit: int) -> list[tuple[int, int]]:
        """(document id, ordinal) of passages where an exact quote may begin or lie."""
        return quote_candidates(self._conn, quote, limit)

    # ----------------------------------------------------------------- runs

    def runs(self, conversation: str | None = None) -> list[dict]:
        """Saved runs, newest first (or one conversation's, oldest first), without events."""
        columns = (
            "id, conversation, question, answer, stop_reason, fallback, outcome, note, mode, "
            "models, citations, usage, created_at, title, scope, profile"
        )
        if conversation is None:
            rows = self._conn.execute(f"SELECT {columns} FROM runs ORDER BY id DESC")
        else:
            rows = self._conn.execute(
                f"SELECT {columns} FROM runs WHERE conversation = ? ORDER BY id", (conversation,)
            )
        return [_run(row) for row in rows]

    def pick_runs(
        self, ids: list[int] | tuple[int, ...] = (), *, last: bool = False, everything: bool = False
    ) -> list[dict]:
        """Saved runs, events included: these ids, the latest run, or all of them oldest first."""
        if everything:
            ids = [r["id"] for r in reversed(self.runs())]
        elif last:
            latest = self.runs()
            if not latest:
                raise LibraryError("no questions have been asked of this library yet")
            ids = [latest[0]["id"]]
        return [self.run(run_id) for run_id in ids]

    def run(self, run_id: int) -> dict:
        """One saved run with everything, events included."""
        row = self._conn.execute("SELECT * FROM runs WHERE id = ?", (run_id,)).fetchone()
        if row is None:
            raise LibraryError(f"no saved run with id {run_id}")
        return _run(row)


def _run(row: sqlite3.Row) -> dict:
    data = dict(row)
    for name in RUN_JSON:
        if name in data:
            data[name] = json.loads(data[name])
    data["fallback"] = bool(data["fallback"])
    if not data.get("outcome"):  # saved before runs recorded their outcome
        data["outcome"] = outcome_of(data["stop_reason"], data["fallback"])
    return data
