"""One entry point from a file to its text: detect the kind, run the right extractor."""

from __future__ import annotations

import hashlib
import logging
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from rlm_desktop.ingest.chunking import chunk_blocks
from rlm_desktop.ingest.detect import detect
from rlm_desktop.ingest.extraction import (
    Extraction,
    ExtractionError,
    IngestLimits,
    Passage,
    ReadHooks,
)
from rlm_desktop.ingest.image import extract_image
from rlm_desktop.ingest.pdf import extract_pdf
from rlm_desktop.ingest.scanned import place_lines
from rlm_desktop.ingest.text import extract_text
from rlm_desktop.ingest.word import extract_word
from rlm_desktop.store.documents import OcrResult

log = logging.getLogger(__name__)

_HASH_CHUNK = 1024 * 1024


def file_sha256(path: Path) -> str:
    """Return the hex SHA-256 of a file's bytes, read in bounded memory."""
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        while chunk := handle.read(_HASH_CHUNK):
            digest.update(chunk)
    return digest.hexdigest()


# In a worker process: the ingest's cancel flag and where it reports pages read by OCR,
# set once by ``start_worker`` (the pool's initializer).
_worker_channel: tuple[Any, Any] | None = None


def start_worker(stop: Any, pages: Any) -> None:
    """Pool initializer: ``stop`` (an Event) is set on cancel; ``(path, page, pages)``
    goes to ``pages`` (a queue) after each page read by OCR."""
    global _worker_channel
    _worker_channel = (stop, pages)


def _worker_hooks(path: str) -> ReadHooks:
    if _worker_channel is None:
        return ReadHooks()
    stop, pages = _worker_channel
    return ReadHooks(stop.is_set, lambda page, count: pages.put((path, page, count)))


def open_document(
    path: Path, limits: IngestLimits | None = None, hooks: ReadHooks | None = None
) -> Extraction:
    """Detect and extract a file; text files come back with lazily read blocks."""
    kind = detect(path)
    if kind.kind == "pdf":
        return extract_pdf(path, limits, hooks)
    if kind.kind == "image":
        return extract_image(path, limits, hooks)
    if kind.kind == "docx":
        return extract_word(path, limits)
    return extract_text(path, compressed=kind.compressed)


@dataclass
class ExtractedFile:
    """A file read completely in a worker process, ready for the writer."""

    path: str
    sha256: str | None
    kind: str = "unknown"
    title: str = ""
    pages: int | None = None
    encoding: str | None = None
    warnings: list[str] = field(default_factory=list)
    passages: list[Passage] = field(default_factory=list)
    status: str = "ok"  # or failed, skipped, or cancelled (not written: older text stays)
    reason: str = ""
    ocr: OcrResult = field(default_factory=OcrResult)


def extract_file(
    path: str, limits: IngestLimits | None = None, hooks: ReadHooks | None = None
) -> ExtractedFile:
    """Read one file fully (worker-process entry point); never raises for a bad file.

    The file's kind is settled from its first bytes before it is hashed, so a file that
    is skipped (a huge binary one) or refused costs milliseconds, not a read of every byte.
    ``hooks`` default to the worker's channel to the ingest (see ``start_worker``).
    """
    source = Path(path)
    sha256 = None
    try:
        extraction = open_document(source, limits, hooks or _worker_hooks(path))
        sha256 = file_sha256(source)
        passages = list(chunk_blocks(extraction.blocks))
        place_lines(extraction.ocr, passages)
    except ExtractionError as exc:
        return ExtractedFile(path, sha256, status=exc.status, reason=exc.message)
    except OSError as exc:
        reason = f"cannot read: {exc.strerror or exc}"
        return ExtractedFile(path, sha256, status="failed", reason=reason)
    except MemoryError:
        return ExtractedFile(path, sha256, status="failed", reason="too large to read in memory")
    except Exception as exc:  # a parser bug on hostile input must not stop the batch
        log.exception("unexpected error while reading %s", path)
        reason = f"unexpected error while reading: {type(exc).__name__}: {exc}"
        return ExtractedFile(path, sha256, status="failed", reason=reason)
    return ExtractedFile(
        path,
        sha256,
        kind=extraction.kind,
        title=extraction.title,
        pages=extraction.pages,
        encoding=extraction.encoding,
        warnings=extraction.warnings,
        passages=passages,
        ocr=extraction.ocr,
    )
