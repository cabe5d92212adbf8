"""A library: one SQLite file (WAL) holding documents, their passages and an FTS5 index."""

from __future__ import annotations

import json
import logging
import sqlite3
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path

from sqlite_utils import Database

from rlm_desktop.errors import RlmDesktopError
from rlm_desktop.records import Passage
from rlm_desktop.store.schema import INCREMENTAL, migrations
from rlm_desktop.store.search import SearchHit, search_passages

log = logging.getLogger(__name__)

DB_FILENAME = "library.db"
# A streamed document is committed in slices of about this many characters, so a huge
# log never sits in one giant transaction (the WAL stays small).
_COMMIT_CHARS = 32 * 1024 * 1024
_INSERT_BATCH = 500
# The WAL left on disk after a checkpoint is cut back to this size.
_WAL_KEEP_BYTES = 32 * 1024 * 1024
_FINISHED = ("ok", "warnings")


class LibraryError(RlmDesktopError):
    """The library cannot be opened or written."""


@dataclass
class Document:
    """One ingested (or failed, or skipped) file as the library records it."""

    id: int
    path: str
    kind: str
    size: int
    mtime_ns: int
    sha256: str | None
    title: str
    pages: int | None
    chars: int
    lines: int
    encoding: str | None
    status: str
    error: str
    warnings: list[str]
    extractor_version: int
    ingested_at: str

    @property
    def searchable(self) -> bool:
        """True when the document's text is in the library."""
        return self.status in _FINISHED


@dataclass
class DocumentMeta:
    """What the pipeline knows about a file before its passages are written."""

    path: str
    kind: str
    size: int
    mtime_ns: int
    sha256: str | None
    title: str
    extractor_version: int
    pages: int | None = None
    encoding: str | None = None
    warnings: list[str] = field(default_factory=list)


@dataclass(frozen=True)
class StoredPassage:
    """A passage as stored, with the document it belongs to."""

    id: int
    doc_id: int
    ordinal: int
    page: int | None
    page_label: str | None
    line_start: int
    line_end: int
    start: int
    end: int
    text: str


def _now() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="seconds")


class Library:
    """A document library stored in ``folder/library.db``."""

    def __init__(self, folder: Path | str, *, readonly: bool = False) -> None:
        self.folder = Path(folder).expanduser().resolve()
        self.path = self.folder / DB_FILENAME
        self.readonly = readonly
        try:
            self._conn = self._connect()
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
        if self.readonly:
            if not self.path.exists():
                raise LibraryError(f"no library at {self.folder}")
            uri = f"{self.path.as_uri()}?mode=ro"
            conn = sqlite3.connect(uri, uri=True, isolation_level=None, check_same_thread=False)
        else:
            self.folder.mkdir(parents=True, exist_ok=True)
            conn = sqlite3.connect(self.path, isolation_level=None, check_same_thread=False)
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
        conn.row_factory = sqlite3.Row
        return conn

    def close(self) -> None:
        """Close the connection (checkpointing the WAL when writable)."""
        self._conn.close()

    def __enter__(self) -> Library:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # ----------------------------------------------------------------- reading

    def documents(self, *, include_unreadable: bool = True) -> list[Document]:
        """Return finished documents in a stable order (by path)."""
        where = "status != 'ingesting'" if include_unreadable else "status IN ('ok','warnings')"
        rows = self._conn.execute(f"SELECT * FROM documents WHERE {where} ORDER BY path")
        return [_document(row) for row in rows]

    def document(self, doc_id: int) -> Document:
        """Return one document by id."""
        row = self._conn.execute("SELECT * FROM documents WHERE id = ?", (doc_id,)).fetchone()
        if row is None:
            raise LibraryError(f"no document with id {doc_id}")
        return _document(row)

    def document_by_path(self, path: str) -> Document | None:
        """Return the finished document recorded for an absolute path, if any."""
        row = self._conn.execute(
            "SELECT * FROM documents WHERE path = ? AND status != 'ingesting'", (path,)
        ).fetchone()
        return _document(row) if row else None

    def passages(self, doc_id: int) -> Iterator[StoredPassage]:
        """Yield a document's passages in order."""
        rows = self._conn.execute(
            "SELECT * FROM passages WHERE doc_id = ? ORDER BY ordinal", (doc_id,)
        )
        for row in rows:
            yield StoredPassage(**dict(row))

    def document_text(self, doc_id: int) -> str:
        """Rebuild a document's full text exactly (its passages tile it)."""
        rows = self._conn.execute(
            "SELECT text FROM passages WHERE doc_id = ? ORDER BY ordinal", (doc_id,)
        )
        return "".join(row[0] for row in rows)

    def passage_text(self, passage_id: int) -> str:
        """The text of one passage."""
        row = self._conn.execute("SELECT text FROM passages WHERE id = ?", (passage_id,)).fetchone()
        if row is None:
            raise LibraryError(f"no passage with id {passage_id}")
        return row[0]

    def search(self, query: str, k: int = 10) -> list[SearchHit]:
        """Return the ``k`` best passages for what a person typed, best first."""
        return search_passages(self._conn, query, k)

    def sources(self) -> list[str]:
        """Return the files and folders the user added, in the order of their paths."""
        return [row[0] for row in self._conn.execute("SELECT path FROM sources ORDER BY path")]

    def stats(self) -> dict[str, int]:
        """Return document counts by status plus passage and character totals."""
        counts = dict(
            self._conn.execute(
                "SELECT status, count(*) FROM documents WHERE status != 'ingesting' GROUP BY status"
            ).fetchall()
        )
        row = self._conn.execute(
            "SELECT count(*), coalesce(sum(chars), 0) FROM documents "
            "WHERE status IN ('ok','warnings')"
        ).fetchone()
        counts["searchable"], counts["chars"] = row[0], row[1]
        return counts

    def runs(self, conversation: str | None = None) -> list[dict]:
        """Saved runs, newest first (or one conversation's, oldest first), without events."""
        columns = (
            "id, conversation, question, answer, stop_reason, fallback, mode, models, "
            "citations, usage, created_at"
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

    # ----------------------------------------------------------------- writing

    def save_run(self, record: dict) -> int:
        """Store a finished run; JSON fields are serialised here. Returns its id."""
        json_fields = ("models", "citations", "explored", "usage", "settings", "events")
        values = {k: json.dumps(v) if k in json_fields else v for k, v in record.items()}
        values["created_at"] = _now()
        names = ", ".join(values)
        marks = ", ".join("?" for _ in values)
        with self.db.atomic():
            cursor = self._conn.execute(
                f"INSERT INTO runs ({names}) VALUES ({marks})", tuple(values.values())
            )
        return int(cursor.lastrowid)

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
        with self.db.atomic():
            doc_id = self._insert_document(meta, status="ingesting")
        chars = lines = 0
        written = 0
        batch: list[tuple] = []
        try:
            self._conn.execute("BEGIN")
            for passage in passages:
                batch.append(
                    (
                        doc_id,
                        passage.ordinal,
                        passage.page,
                        passage.page_label,
                        passage.line_start,
                        passage.line_end,
                        passage.start,
                        passage.end,
                        passage.text,
                    )
                )
                chars = passage.end
                lines = passage.line_end
                written += len(passage.text)
                if len(batch) >= _INSERT_BATCH:
                    self._insert_passages(batch)
                    batch.clear()
                if written >= _COMMIT_CHARS:
                    self._conn.execute("COMMIT")
                    self._conn.execute("BEGIN")
                    written = 0
            self._insert_passages(batch)
            self._conn.execute("COMMIT")
        except BaseException:
            if self._conn.in_transaction:
                self._conn.execute("ROLLBACK")
            with self.db.atomic():
                removed = self._delete_ids([doc_id])
            self._reclaim(removed)
            raise
        status = "warnings" if meta.warnings else "ok"
        with self.db.atomic():
            self._delete_finished(meta.path)
            self._conn.execute(
                "UPDATE documents SET status = ?, chars = ?, lines = ?, warnings = ?, "
                "pages = ?, encoding = ? WHERE id = ?",
                (
                    status,
                    chars,
                    lines,
                    json.dumps(meta.warnings),
                    meta.pages,
                    meta.encoding,
                    doc_id,
                ),
            )
        return self.document(doc_id)

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
                "SELECT coalesce(sum(chars), 0) FROM documents WHERE status IN ('ok','warnings')"
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
            "status, error, warnings, extractor_version, ingested_at) "
            "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
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
            ),
        )
        return int(cursor.lastrowid)

    def _insert_passages(self, rows: list[tuple]) -> None:
        if rows:
            self._conn.executemany(
                "INSERT INTO passages (doc_id, ordinal, page, page_label, line_start, line_end, "
                'start, "end", text) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)',
                rows,
            )

    def _delete_finished(self, path: str) -> None:
        ids = [
            r[0]
            for r in self._conn.execute(
                "SELECT id FROM documents WHERE path = ? AND status != 'ingesting'", (path,)
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
            self._conn.execute("DELETE FROM documents WHERE id = ?", (doc_id,))
        return removed


def _run(row: sqlite3.Row) -> dict:
    data = dict(row)
    for name in ("models", "citations", "explored", "usage", "settings", "events"):
        if name in data:
            data[name] = json.loads(data[name])
    data["fallback"] = bool(data["fallback"])
    return data


def _document(row: sqlite3.Row) -> Document:
    data = dict(row)
    data["warnings"] = json.loads(data["warnings"])
    return Document(**data)
