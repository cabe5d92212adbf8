"""A library: one SQLite file (WAL) holding documents, their passages and an FTS5 index.

``Library`` opens (and upgrades) the file and writes to it; every read is a named query of
``LibraryReader``, which it extends.
"""

from __future__ import annotations

import json
import logging
import sqlite3
from collections.abc import Iterable
from datetime import datetime, timezone
from pathlib import Path

from sqlite_utils import Database

from rlm_desktop.records import Passage
from rlm_desktop.store.documents import (
    FINISHED,
    READABLE,
    Document,
    DocumentMeta,
    LibraryError,
    OcrLine,
)
from rlm_desktop.store.packing import register
from rlm_desktop.store.reader import RUN_JSON, LibraryReader, connect_readonly
from rlm_desktop.store.rows import prepared_batches
from rlm_desktop.store.schema import INCREMENTAL, migrations

__all__ = ["DB_FILENAME", "Document", "DocumentMeta", "Library", "LibraryError"]

log = logging.getLogger(__name__)

DB_FILENAME = "library.db"
# A streamed document is committed in slices of about this many characters, so a huge
# log never sits in one giant transaction (the WAL stays small).
_COMMIT_CHARS = 32 * 1024 * 1024
# The WAL left on disk after a checkpoint is cut back to this size.
_WAL_KEEP_BYTES = 32 * 1024 * 1024


def _now() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="seconds")


class Library(LibraryReader):
    """A document library stored in ``folder/library.db``, opened for writing or read-only."""

    def __init__(self, folder: Path | str, *, readonly: bool = False) -> None:
        self.folder = Path(folder).expanduser().resolve()
        self.path = self.folder / DB_FILENAME
        self.readonly = readonly
        try:
            super().__init__(connect_readonly(self.path) if readonly else self._connect())
            self.db = Database(self._conn)
            if not readonly and migrations.pending(self.db):
                self._migrate()
        except (OSError, sqlite3.Error) as exc:
            raise LibraryError(f"cannot open the library at {self.folder}: {exc}") from exc

    def _migrate(self) -> None:
        """Apply pending migrations holding SQLite's write lock, so that several threads or
        processes opening a new library at once cannot run the same migration twice.

        Migrations that cannot run in a transaction (VACUUM) are idempotent and run last,
        after the lock; if one fails (another process busy, a full disk) the library works
        as it is and the next open tries again.
        """
        self._conn.execute("BEGIN IMMEDIATE")
        try:
            unlocked = [m.name for m in migrations.pending(self.db) if not m.transactional]
            migrations.apply(self.db, stop_before=unlocked)  # each nests as a savepoint
        except BaseException:
            self._conn.execute("ROLLBACK")
            raise
        self._conn.execute("COMMIT")
        if unlocked:
            try:
                migrations.apply(self.db)
            except sqlite3.DatabaseError as exc:
                log.warning("could not finish upgrading the library, will retry: %s", exc)

    def _connect(self) -> sqlite3.Connection:
        self.folder.mkdir(parents=True, exist_ok=True)
        conn = sqlite3.connect(self.path, isolation_level=None, check_same_thread=False)
        register(conn)
        if conn.execute("PRAGMA page_count").fetchone()[0] == 0:
            # A new file: set before the journal mode, or it has no effect (migration
            # 004 converts older libraries). On an existing file it would write.
            conn.execute(f"PRAGMA auto_vacuum = {INCREMENTAL}")
        conn.execute("PRAGMA journal_mode=WAL")
        conn.execute(f"PRAGMA journal_size_limit = {_WAL_KEEP_BYTES}")
        # WAL + NORMAL: every commit is atomic; a power cut may lose the last commits
        # but never corrupts the file.
        conn.execute("PRAGMA synchronous=NORMAL")
        conn.execute("PRAGMA foreign_keys=ON")
        conn.execute("PRAGMA busy_timeout=10000")
        return conn

    # ----------------------------------------------------------------- writing

    def save_run(self, record: dict) -> int:
        """Store a finished run; JSON fields are serialised here. Returns its id."""
        values = {k: json.dumps(v) if k in RUN_JSON else v for k, v in record.items()}
        values["created_at"] = _now()
        names = ", ".join(values)
        marks = ", ".join("?" for _ in values)
        with self.db.atomic():
            cursor = self._conn.execute(
                f"INSERT INTO runs ({names}) VALUES ({marks})", tuple(values.values())
            )
        return _rowid(cursor)

    def delete_run(self, run_id: int) -> None:
        """Forget a saved run (its question, answer and trajectory)."""
        with self.db.atomic():
            cursor = self._conn.execute("DELETE FROM runs WHERE id = ?", (run_id,))
        if cursor.rowcount == 0:
            raise LibraryError(f"no saved run with id {run_id}")

    def rename_run(self, run_id: int, title: str) -> None:
        """Give a saved run a name for the history ("" shows its question again)."""
        with self.db.atomic():
            cursor = self._conn.execute(
                "UPDATE runs SET title = ? WHERE id = ?", (title.strip(), run_id)
            )
        if cursor.rowcount == 0:
            raise LibraryError(f"no saved run with id {run_id}")

    def add_sources(self, paths: Iterable[str]) -> None:
        """Remember files/folders the user added (for later rescans)."""
        with self.db.atomic():
            self._conn.executemany(
                "INSERT OR IGNORE INTO sources(path, added_at) VALUES (?, ?)",
                [(p, _now()) for p in paths],
            )

    def forget_sources(self, paths: Iterable[str]) -> None:
        """Stop rescanning these files/folders."""
        with self.db.atomic():
            self._conn.executemany("DELETE FROM sources WHERE path = ?", [(p,) for p in paths])

    def discard_incomplete(self) -> int:
        """Delete half-written documents left by an interrupted ingest; return how many."""
        ids = [
            r[0] for r in self._conn.execute("SELECT id FROM documents WHERE status='ingesting'")
        ]
        if ids:
            log.info("discarding %d interrupted document(s)", len(ids))
            with self.db.atomic():
                removed = self._delete_ids(ids)
            self._reclaim(removed)
        return len(ids)

    def write_document(self, meta: DocumentMeta, passages: Iterable[Passage]) -> Document:
        """Store a document and its passages, replacing any older version atomically.

        Passages are written under a provisional row in slices; only the last transaction
        swaps the new version in, so readers never see a half-written document and an
        interruption leaves the previous version intact, and the space the failed write
        took is given back to the file system.
        """
        doc_id, chars, lines = self._write_provisional(meta, passages)
        status = "warnings" if meta.warnings else "ok"
        with self.db.atomic():
            self._delete_finished(meta.path)
            self._conn.execute(
                "UPDATE documents SET status = ?, chars = ?, lines = ?, warnings = ?, "
                "pages = ?, encoding = ?, fingerprint = ? WHERE id = ?",
                (
                    status,
                    chars,
                    lines,
                    json.dumps(meta.warnings),
                    meta.pages,
                    meta.encoding,
                    meta.fingerprint,
                    doc_id,
                ),
            )
        return self.document(doc_id)

    def append_passages(
        self, doc: Document, meta: DocumentMeta, passages: Iterable[Passage]
    ) -> Document:
        """Add passages after the last of ``doc`` (a log that grew), whose numbering they
        continue; ``meta`` describes the file as it is now.

        They are written under a provisional row like a new document's and moved to ``doc``
        in the last transaction, so an interruption leaves ``doc`` as it was.
        """
        new_id, chars, lines = self._write_provisional(meta, passages)
        warnings = list(dict.fromkeys(doc.warnings + meta.warnings))
        with self.db.atomic():
            self._conn.execute("UPDATE passages SET doc_id = ? WHERE doc_id = ?", (doc.id, new_id))
            self._conn.execute("DELETE FROM documents WHERE id = ?", (new_id,))
            self._conn.execute(
                "UPDATE documents SET size = ?, mtime_ns = ?, sha256 = ?, chars = ?, lines = ?, "
                "status = ?, warnings = ?, fingerprint = ?, ingested_at = ? WHERE id = ?",
                (
                    meta.size,
                    meta.mtime_ns,
                    meta.sha256,
                    chars or doc.chars,
                    lines or doc.lines,
                    "warnings" if warnings else "ok",
                    json.dumps(warnings),
                    meta.fingerprint,
                    _now(),
                    doc.id,
                ),
            )
        return self.document(doc.id)

    def _write_provisional(
        self, meta: DocumentMeta, passages: Iterable[Passage]
    ) -> tuple[int, int, int]:
        """Write passages (and OCR lines) under a new row marked 'ingesting'; return its id
        and where its text ends (offset, line). On any failure the row and its passages
        are deleted, their space given back, and the error raised again."""
        with self.db.atomic():
            doc_id = self._insert_document(meta, status="ingesting")
        try:
            chars, lines = self._write_passages(doc_id, passages)
            self._conn.execute("BEGIN")
            self._insert_ocr_lines(doc_id, meta.ocr.lines)
            self._conn.execute("COMMIT")
        except BaseException:
            if self._conn.in_transaction:
                self._conn.execute("ROLLBACK")
            with self.db.atomic():
                removed = self._delete_ids([doc_id])
            self._reclaim(removed)
            raise
        return doc_id, chars, lines

    def _write_passages(self, doc_id: int, passages: Iterable[Passage]) -> tuple[int, int]:
        """Insert passages under ``doc_id`` in slices of about ``_COMMIT_CHARS`` characters,
        each its own transaction; return where the last one ends (offset, line).

        Each passage is indexed here, from its text at hand, rather than by the trigger,
        which would have to unpack what was just packed.
        """
        end = line_end = written = 0
        next_id = self._begin_slice()
        for batch in prepared_batches(doc_id, passages):
            ids = range(next_id, next_id + len(batch.rows))
            self._conn.executemany(
                "INSERT INTO passages (id, doc_id, ordinal, page, page_label, line_start, "
                'line_end, start, "end", text) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)',
                [(i, *row) for i, row in zip(ids, batch.rows, strict=True)],
            )
            self._conn.executemany(
                "INSERT INTO passages_fts(rowid, text) VALUES (?, ?)",
                zip(ids, batch.texts, strict=True),
            )
            next_id += len(batch.rows)
            end, line_end = batch.end, batch.line_end
            written += batch.chars
            if written >= _COMMIT_CHARS:
                self._conn.execute("COMMIT")
                next_id = self._begin_slice()
                written = 0
        self._conn.execute("COMMIT")
        return end, line_end

    def _begin_slice(self) -> int:
        """Start a write transaction holding the write lock; return the next passage id."""
        self._conn.execute("BEGIN IMMEDIATE")
        return self._conn.execute("SELECT coalesce(max(id), 0) + 1 FROM passages").fetchone()[0]

    def record_unreadable(self, meta: DocumentMeta, status: str, reason: str) -> Document:
        """Record a file that failed or was skipped, replacing any older version."""
        with self.db.atomic():
            self._delete_finished(meta.path)
            doc_id = self._insert_document(meta, status=status, error=reason)
        return self.document(doc_id)

    def touch(self, doc_id: int, mtime_ns: int) -> None:
        """Record a new modification time for a file whose content did not change."""
        with self.db.atomic():
            self._conn.execute("UPDATE documents SET mtime_ns = ? WHERE id = ?", (mtime_ns, doc_id))

    def remove_documents(self, doc_ids: Iterable[int]) -> None:
        """Delete documents and their passages, giving their space back."""
        ids = list(doc_ids)
        if ids:
            with self.db.atomic():
                removed = self._delete_ids(ids)
            self._reclaim(removed)

    def _reclaim(self, removed_chars: int) -> None:
        """Give the space of deleted text back to the file system and empty the WAL.

        Each step costs in proportion to what was deleted, not to the whole library. The
        full-text index drops deleted entries only when its segments are merged, which
        costs as much as the whole index: that is done when the deleted text is at least
        a quarter of what is left. Free pages are given back one by one, unless they
        outnumber the pages in use: then rewriting the live ones (VACUUM) is quicker.
        """
        try:
            left = self._conn.execute(
                f"SELECT coalesce(sum(chars), 0) FROM documents WHERE {READABLE}"
            ).fetchone()[0]
            if removed_chars and removed_chars * 4 >= left:
                self._conn.execute("INSERT INTO passages_fts(passages_fts) VALUES ('optimize')")
            free = self._conn.execute("PRAGMA freelist_count").fetchone()[0]
            if free * 2 >= self._conn.execute("PRAGMA page_count").fetchone()[0]:
                self._conn.execute("VACUUM")
            else:
                # executescript() steps the pragma to its end; execute() frees one page.
                self._conn.executescript("PRAGMA incremental_vacuum;")
            self._conn.execute("PRAGMA wal_checkpoint(TRUNCATE)").fetchall()
        except sqlite3.Error as exc:
            log.warning("could not give free space back to the file system: %s", exc)

    def _insert_document(self, meta: DocumentMeta, *, status: str, error: str = "") -> int:
        cursor = self._conn.execute(
            "INSERT INTO documents (path, kind, size, mtime_ns, sha256, title, pages, encoding, "
            "status, error, warnings, extractor_version, ingested_at, "
            "ocr_pages, ocr_confidence, ocr_pending, fingerprint) "
            "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            (
                meta.path,
                meta.kind,
                meta.size,
                meta.mtime_ns,
                meta.sha256,
                meta.title,
                meta.pages,
                meta.encoding,
                status,
                error,
                json.dumps(meta.warnings),
                meta.extractor_version,
                _now(),
                meta.ocr.pages,
                meta.ocr.confidence,
                meta.ocr.pending,
                meta.fingerprint,
            ),
        )
        return _rowid(cursor)

    def _insert_ocr_lines(self, doc_id: int, lines: list[OcrLine]) -> None:
        self._conn.executemany(
            'INSERT INTO ocr_lines (doc_id, page, start, "end", "left", top, "right", bottom, '
            "confidence) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
            [
                (
                    doc_id,
                    ln.page,
                    ln.start,
                    ln.end,
                    ln.left,
                    ln.top,
                    ln.right,
                    ln.bottom,
                    ln.confidence,
                )
                for ln in lines
            ],
        )

    def _delete_finished(self, path: str) -> None:
        ids = [
            r[0]
            for r in self._conn.execute(
                f"SELECT id FROM documents WHERE path = ? AND {FINISHED}", (path,)
            )
        ]
        self._delete_ids(ids)

    def _delete_ids(self, ids: list[int]) -> int:
        """Delete documents and their passages; return how many characters of text went."""
        removed = 0
        for doc_id in ids:
            last = self._conn.execute(
                'SELECT "end" FROM passages WHERE doc_id = ? ORDER BY ordinal DESC LIMIT 1',
                (doc_id,),
            ).fetchone()
            removed += last[0] if last else 0
            # Explicit delete so the FTS trigger sees each passage (cascade would too,
            # but only with foreign keys on; this does not depend on that pragma).
            self._conn.execute("DELETE FROM passages WHERE doc_id = ?", (doc_id,))
            self._conn.execute("DELETE FROM ocr_lines WHERE doc_id = ?", (doc_id,))
            self._conn.execute("DELETE FROM documents WHERE id = ?", (doc_id,))
        return removed


def _rowid(cursor: sqlite3.Cursor) -> int:
    """The id of the row an INSERT just wrote."""
    if cursor.lastrowid is None:
        raise LibraryError("the library did not record the new row")
    return cursor.lastrowid
