"""The library's schema, as named migrations applied in order."""

from __future__ import annotations

import logging

from sqlite_utils import Database, Migrations

from rlm_desktop.store.documents import STATUSES, status_in
from rlm_desktop.store.packing import TEXT_FUNCTION

log = logging.getLogger(__name__)

migrations = Migrations("rlm_desktop.library")

INCREMENTAL = 2  # PRAGMA auto_vacuum: free pages go back to the file system on request
_IMAGE_SUFFIXES = ("png", "jpg", "jpeg", "tif", "tiff")  # read by OCR since 006_ocr

_INITIAL = [
    f"""
    CREATE TABLE documents (
        id INTEGER PRIMARY KEY,
        path TEXT NOT NULL,
        kind TEXT NOT NULL,
        size INTEGER NOT NULL,
        mtime_ns INTEGER NOT NULL,
        sha256 TEXT,
        title TEXT NOT NULL,
        pages INTEGER,
        chars INTEGER NOT NULL DEFAULT 0,
        lines INTEGER NOT NULL DEFAULT 0,
        encoding TEXT,
        status TEXT NOT NULL
            CHECK ({status_in(STATUSES)}),
        error TEXT NOT NULL DEFAULT '',
        warnings TEXT NOT NULL DEFAULT '[]',
        extractor_version INTEGER NOT NULL,
        ingested_at TEXT NOT NULL
    )
    """,
    # A path has one finished document; a new version is written beside it while
    # 'ingesting' and swapped in by a single transaction.
    "CREATE UNIQUE INDEX documents_path_done ON documents(path) WHERE status != 'ingesting'",
    "CREATE INDEX documents_status ON documents(status)",
    """
    CREATE TABLE passages (
        id INTEGER PRIMARY KEY,
        doc_id INTEGER NOT NULL REFERENCES documents(id) ON DELETE CASCADE,
        ordinal INTEGER NOT NULL,
        page INTEGER,
        page_label TEXT,
        line_start INTEGER NOT NULL,
        line_end INTEGER NOT NULL,
        start INTEGER NOT NULL,
        "end" INTEGER NOT NULL,
        text TEXT NOT NULL
    )
    """,
    "CREATE UNIQUE INDEX passages_doc_ordinal ON passages(doc_id, ordinal)",
    """
    CREATE VIRTUAL TABLE passages_fts USING fts5(
        text, content='passages', content_rowid='id',
        tokenize='porter unicode61 remove_diacritics 2'
    )
    """,
    """
    CREATE TRIGGER passages_ai AFTER INSERT ON passages BEGIN
        INSERT INTO passages_fts(rowid, text) VALUES (new.id, new.text);
    END
    """,
    """
    CREATE TRIGGER passages_ad AFTER DELETE ON passages BEGIN
        INSERT INTO passages_fts(passages_fts, rowid, text) VALUES ('delete', old.id, old.text);
    END
    """,
    # Files and folders the user added, so a rescan finds new and vanished files.
    "CREATE TABLE sources (path TEXT PRIMARY KEY, added_at TEXT NOT NULL)",
]


@migrations(name="001_documents_passages_fts")
def _initial(db: Database) -> None:
    # One execute() per statement: executescript() would commit the migration's transaction.
    for statement in _INITIAL:
        db.execute(statement)


@migrations(name="002_library_revision")
def _revision(db: Database) -> None:
    # A counter bumped by every change to the set of readable documents, so caches of the
    # library's text (the REPL's context) know when they are stale.
    db.execute("CREATE TABLE library_state (key TEXT PRIMARY KEY, value INTEGER NOT NULL)")
    db.execute("INSERT INTO library_state VALUES ('revision', 0)")
    bump = "UPDATE library_state SET value = value + 1 WHERE key = 'revision';"
    for event in ("INSERT", "DELETE", "UPDATE OF status, chars"):
        name = event.split()[0].lower()
        db.execute(
            f"CREATE TRIGGER documents_revision_{name} AFTER {event} ON documents BEGIN {bump} END"
        )


@migrations(name="003_runs")
def _runs(db: Database) -> None:
    # One row per question asked: everything needed to reopen, inspect or export the run.
    db.execute(
        """
        CREATE TABLE runs (
            id INTEGER PRIMARY KEY,
            conversation TEXT NOT NULL,
            question TEXT NOT NULL,
            answer TEXT NOT NULL,
            stop_reason TEXT NOT NULL,
            fallback INTEGER NOT NULL,
            mode TEXT NOT NULL,
            models TEXT NOT NULL,
            citations TEXT NOT NULL,
            explored TEXT NOT NULL,
            usage TEXT NOT NULL,
            settings TEXT NOT NULL,
            events TEXT NOT NULL,
            created_at TEXT NOT NULL
        )
        """
    )
    db.execute("CREATE INDEX runs_conversation ON runs(conversation, id)")


@migrations(name="004_incremental_vacuum", transactional=False)
def _incremental_vacuum(db: Database) -> None:
    # A failed or removed document must not leave its pages behind (a bomb can leave a
    # gigabyte). New libraries are created in this mode; an older one is rewritten once,
    # which VACUUM cannot do inside a transaction. Running it twice is harmless.
    if db.execute("PRAGMA auto_vacuum").fetchone()[0] != INCREMENTAL:
        log.info("rewriting the library once so that freed space can be given back")
        db.execute(f"PRAGMA auto_vacuum = {INCREMENTAL}")
        db.execute("VACUUM")
        db.execute("PRAGMA wal_checkpoint(TRUNCATE)").fetchall()


@migrations(name="005_run_outcome")
def _run_outcome(db: Database) -> None:
    # How a run ended ("answer", "fallback", "best-effort", "stopped", "error") and the
    # sentence every surface shows for it. Older runs get theirs from stop_reason/fallback.
    db.execute("ALTER TABLE runs ADD COLUMN outcome TEXT NOT NULL DEFAULT ''")
    db.execute("ALTER TABLE runs ADD COLUMN note TEXT NOT NULL DEFAULT ''")


@migrations(name="006_ocr")
def _ocr(db: Database) -> None:
    # Pages read by OCR: how many and how sure, per document, and each line's box on its
    # page with its place in the text, so a viewer can highlight a passage on the scan.
    # ocr_pending counts pages that needed OCR and did not get it, so a rescan reads them
    # once OCR is installed or turned on.
    db.execute("ALTER TABLE documents ADD COLUMN ocr_pages INTEGER NOT NULL DEFAULT 0")
    db.execute("ALTER TABLE documents ADD COLUMN ocr_confidence REAL")
    db.execute("ALTER TABLE documents ADD COLUMN ocr_pending INTEGER NOT NULL DEFAULT 0")
    db.execute(
        """
        CREATE TABLE ocr_lines (
            doc_id INTEGER NOT NULL REFERENCES documents(id) ON DELETE CASCADE,
            page INTEGER NOT NULL,
            start INTEGER NOT NULL,
            "end" INTEGER NOT NULL,
            "left" REAL NOT NULL,
            top REAL NOT NULL,
            "right" REAL NOT NULL,
            bottom REAL NOT NULL,
            confidence REAL NOT NULL
        )
        """
    )
    db.execute("CREATE INDEX ocr_lines_page ON ocr_lines(doc_id, page, start)")
    # Files stored before OCR existed: PDFs whose scanned pages were not OCR'd, and images
    # that were skipped. Marked pending, a rescan reads them again once OCR can run.
    images = " OR ".join(f"lower(path) LIKE '%.{suffix}'" for suffix in _IMAGE_SUFFIXES)
    db.execute(
        "UPDATE documents SET ocr_pending = 1 "
        f"WHERE warnings LIKE '%not OCR''d%' OR (status = 'skipped' AND ({images}))"
    )


@migrations(name="007_run_title_scope")
def _run_title_scope(db: Database) -> None:
    # A name the user gave a saved run in the history ("" shows its question), and the
    # documents a question was asked about (a JSON list of paths; [] for the whole library).
    db.execute("ALTER TABLE runs ADD COLUMN title TEXT NOT NULL DEFAULT ''")
    db.execute("ALTER TABLE runs ADD COLUMN scope TEXT NOT NULL DEFAULT '[]'")


@migrations(name="008_run_profile")
def _run_profile(db: Database) -> None:
    # The protocol profile a run's prompt described ("paper" or "reference"); older runs,
    # all asked with the paper's, show "".
    db.execute("ALTER TABLE runs ADD COLUMN profile TEXT NOT NULL DEFAULT ''")


_FTS_TOKENIZER = "porter unicode61 remove_diacritics 2"


@migrations(name="009_packed_passages")
def _packed_passages(db: Database) -> None:
    # Passages written from now on keep their text compressed (see store.packing); older
    # ones stay plain. The full-text index reads every passage's text through a view that
    # unpacks it, so the index is made again over that view once (its entries are the same).
    text = f"{TEXT_FUNCTION}(text)"
    db.execute("DROP TRIGGER passages_ai")
    db.execute("DROP TRIGGER passages_ad")
    db.execute("DROP TABLE passages_fts")
    db.execute(f"CREATE VIEW passage_texts AS SELECT id, {text} AS text FROM passages")
    db.execute(
        "CREATE VIRTUAL TABLE passages_fts USING fts5(text, content='passage_texts', "
        f"content_rowid='id', tokenize='{_FTS_TOKENIZER}')"
    )
    # The writer indexes the packed passages it inserts itself (it has their text at hand);
    # a passage inserted as plain text is indexed by this trigger.
    db.execute(
        "CREATE TRIGGER passages_ai AFTER INSERT ON passages WHEN typeof(new.text) = 'text' "
        "BEGIN INSERT INTO passages_fts(rowid, text) VALUES (new.id, new.text); END"
    )
    db.execute(
        "CREATE TRIGGER passages_ad AFTER DELETE ON passages BEGIN "
        "INSERT INTO passages_fts(passages_fts, rowid, text) "
        f"VALUES ('delete', old.id, {TEXT_FUNCTION}(old.text)); END"
    )
    if db.execute("SELECT EXISTS (SELECT 1 FROM passages)").fetchone()[0]:
        log.info("indexing the library's passages again for their new storage")
        db.execute("INSERT INTO passages_fts(passages_fts) VALUES ('rebuild')")
    # An appended log is ingested from where its stored text ends: what the file held then
    # is recognised by this fingerprint of its first and last bytes (see ingest.appended).
    db.execute("ALTER TABLE documents ADD COLUMN fingerprint TEXT")
