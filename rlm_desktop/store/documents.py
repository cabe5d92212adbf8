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


# A page whose text was read by OCR carries this mark in its stored page label, so every place
# that shows a page (citations, exports, search) can say "page 3 (OCR)" from the span alone.
OCR_LABEL = "OCR"


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
    ocr_pages: int = 0  # pages whose text was read by OCR
    ocr_confidence: float | None = None  # the mean confidence of their words (0-1)
    ocr_pending: int = 0  # pages without usable text that were not OCR'd (OCR off or missing)
    fingerprint: str | None = None  # of the file's first and last bytes, for appended logs

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

    @property
    def ocr_note(self) -> str:
        """ "OCR: 2 pages, mean confidence 96%" for a document read by OCR, else ""."""
        return ocr_note(self.ocr_pages, self.ocr_confidence)


@dataclass(frozen=True)
class OcrLine:
    """A line of text read by OCR: where it is in the document's text and its box on the page.

    ``start``/``end`` are offsets in the document's text (in its page's text until the
    extractor places them). The box (``left``, ``top``, ``right``, ``bottom``) is in fractions
    of the page's width and height, so it fits the page drawn at any size. ``confidence`` is
    the mean of its words' (0-1).
    """

    page: int
    start: int
    end: int
    left: float
    top: float
    right: float
    bottom: float
    confidence: float


@dataclass
class OcrResult:
    """What OCR read in one document: how many pages, how sure it was, and every line."""

    pages: int = 0
    pending: int = 0  # pages that needed OCR and did not get it
    words: int = 0
    confidence_sum: float = 0.0  # over the words, each 0-1
    lines: list[OcrLine] = field(default_factory=list)

    @property
    def confidence(self) -> float | None:
        """The mean confidence of the words read (0-1); None when none were."""
        return self.confidence_sum / self.words if self.words else None

    @property
    def note(self) -> str:
        """ "OCR: 2 pages, mean confidence 96%", or "" when no page was read by OCR."""
        return ocr_note(self.pages, self.confidence)


def ocr_note(pages: int, confidence: float | None) -> str:
    """How a document's OCR went, in the words every surface shows ("" when it had none)."""
    if not pages:
        return ""
    sure = f", mean confidence {confidence:.0%}" if confidence is not None else ", no text found"
    return f"OCR: {pages} {'page' if pages == 1 else 'pages'}{sure}"


def lines_covering(
    lines: list[tuple[OcrLine, str]],
    *,
    start: int | None = None,
    end: int | None = None,
    snippet: str = "",
) -> list[OcrLine]:
    """The lines (each with its text) that a passage covers: those overlapping its offsets
    when they are given, else those holding its text (whitespace runs as one space, then
    any case, then its first six words); [] when it is not there."""
    if start is not None and end is not None:
        return [ln for ln, _text in lines if ln.start < end and start < ln.end]
    words = snippet.split()
    if not words:
        return []
    page = ""
    spans = []  # each line's (start, end) in ``page``
    for _ln, text in lines:
        piece = " ".join(text.split())
        spans.append((len(page), len(page) + len(piece)))
        page += piece + " "
    for needle, haystack in (
        (" ".join(words), page),
        (" ".join(words).lower(), page.lower()),
        (" ".join(words[:6]).lower(), page.lower()),
    ):
        found = haystack.find(needle)
        if found != -1:
            last = found + len(needle)
            covered = zip(lines, spans, strict=True)
            return [ln for (ln, _text), (a, b) in covered if a < last and found < b]
    return []


def ocr_page_label(printed: str | None) -> str:
    """The label kept for a page read by OCR: "OCR", or "iv, OCR" when the page prints "iv"."""
    return f"{printed}, {OCR_LABEL}" if printed else OCR_LABEL


def split_page_label(label: str | None) -> tuple[str | None, bool]:
    """(the printed label or None, whether the page was read by OCR) from a stored label."""
    if label == OCR_LABEL:
        return None, True
    if label is not None and label.endswith(f", {OCR_LABEL}"):
        return label[: -len(OCR_LABEL) - 2], True
    return label, False


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
    ocr: OcrResult = field(default_factory=OcrResult)
    fingerprint: str | None = None  # see ``Document.fingerprint``


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
