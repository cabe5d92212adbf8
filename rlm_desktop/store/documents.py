"""What the library records about documents and their passages, and which of them are readable.

Standard library only: the REPL child reads the library through ``store.reader``, which
imports this.
"""

from __future__ import annotations

import json
import sqlite3
from dataclasses import dataclass, field
from pathlib import Path

from rlm_desktop.errors import RlmDesktopError

# Every status a document row can have. 'ingesting' marks a version still being written.
STATUSES = ("ingesting", "ok", "warnings", "failed", "skipped")
# A document whose text is in the library: the REPL, search and citations see only these.
READABLE_STATUSES = ("ok", "warnings")


def status_in(statuses: tuple[str, ...]) -> str:
    """A SQL condition true for a document row whose status is one of ``statuses``."""
    return "status IN (" + ", ".join(f"'{status}'" for status in statuses) + ")"


# SQL conditions on the documents table (usable with a table alias: ``d.`` + READABLE).
READABLE = status_in(READABLE_STATUSES)
FINISHED = "status != 'ingesting'"  # readable, failed or skipped: one per path


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
        return self.status in READABLE_STATUSES

    @property
    def name(self) -> str:
        """The file name, as the document is shown."""
        return Path(self.path).name

    @classmethod
    def from_row(cls, row: sqlite3.Row) -> Document:
        """From a row of the documents table."""
        data = dict(row)
        data["warnings"] = json.loads(data["warnings"])
        return cls(**data)


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
