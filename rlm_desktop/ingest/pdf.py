"""PDF files, page by page with pypdf; every page keeps its number and printed label."""

from __future__ import annotations

import logging
import threading
import warnings
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from pypdf import PdfReader

from rlm_desktop.ingest.extraction import (
    Block,
    Extraction,
    ExtractionError,
    IngestLimits,
    ReadHooks,
    clean_text,
)
from rlm_desktop.ingest.scanned import PageOcr, PdfPages, garbled

log = logging.getLogger(__name__)

_MAX_WARNINGS = 20
_PYPDF_LOGGER = "pypdf"
_quiet_lock = threading.Lock()
_quiet_depth = 0
_saved_state: tuple[bool, int] = (True, logging.NOTSET)


class _Collector(logging.Handler):
    """Keeps the pypdf log records of one thread so they become the document's warnings."""

    def __init__(self) -> None:
        super().__init__(logging.WARNING)
        self.thread = threading.get_ident()
        self.messages: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        if record.thread == self.thread:
            self.messages.append(record.getMessage())


@contextmanager
def _pypdf_log_captured() -> Iterator[_Collector]:
    """Route pypdf's log records to a collector instead of the console, then restore."""
    global _quiet_depth, _saved_state
    logger = logging.getLogger(_PYPDF_LOGGER)
    collector = _Collector()
    with _quiet_lock:
        if _quiet_depth == 0:
            _saved_state = (logger.propagate, logger.level)
            logger.propagate = False
            if logger.getEffectiveLevel() > logging.WARNING:
                logger.setLevel(logging.WARNING)
        _quiet_depth += 1
        logger.addHandler(collector)
    try:
        yield collector
    finally:
        with _quiet_lock:
            logger.removeHandler(collector)
            _quiet_depth -= 1
            if _quiet_depth == 0:
                logger.propagate, level = _saved_state
                logger.setLevel(level)


def extract_pdf(
    path: Path, limits: IngestLimits | None = None, hooks: ReadHooks | None = None
) -> Extraction:
    """Extract a PDF's text, one block per physical page; pypdf's warnings become ours.

    Pages without a usable text layer are read by OCR when the settings (``limits``) allow
    it and it is installed, one at a time, each reported through ``hooks``.
    """
    try:
        with open(path, "rb") as handle:
            head = handle.read(1024)
    except OSError as exc:
        raise ExtractionError(f"cannot read: {exc.strerror or exc}") from exc
    if b"%PDF-" not in head:
        raise ExtractionError("not a PDF file (no %PDF header)")
    with (
        _pypdf_log_captured() as collector,
        warnings.catch_warnings(record=True) as caught,
        PageOcr(limits or IngestLimits(), hooks or ReadHooks()) as ocr,
    ):
        warnings.simplefilter("always")
        extraction = _read(Path(path), ocr)
    library = collector.messages + [str(w.message) for w in caught]
    extraction.warnings = _summarise(extraction.warnings + library)
    return extraction


def _read(path: Path, ocr: PageOcr) -> Extraction:
    try:
        reader = PdfReader(path)
        if reader.is_encrypted and not _decrypt_empty(reader):
            raise ExtractionError("password-protected PDF: it cannot be read without its password")
        pages = reader.pages
        count = len(pages)
        labels = _labels(reader, count)
        title = _title(reader) or path.name
    except ExtractionError:
        raise
    except MemoryError:
        raise
    except Exception as exc:  # pypdf raises many types on damaged files
        log.debug("pypdf could not open %s", path, exc_info=True)
        raise ExtractionError(f"corrupt or truncated PDF: {_short(exc)}") from exc
    blocks: list[Block] = []
    failed: list[str] = []
    empty: list[int] = []
    unreadable: list[int] = []  # a text layer of unmapped glyphs
    lost = 0  # pages whose text layer could not be extracted (reported in failed)
    with PdfPages(path) as images:
        for index in range(count):
            number = index + 1
            text = None if ocr.forced() else _page_text(pages[index], number, failed)
            if ocr.wanted(text):
                blocks.append(_ocr_page(ocr, images, index, count, labels[index], failed))
                continue
            if text is None:
                lost += 1
                text = ""
            elif not text.strip():
                empty.append(number)
                text = ""
            elif garbled(text):
                unreadable.append(number)
            if text and not text.endswith("\n"):
                text += "\n"
            blocks.append(Block(text + "\n", page=number, page_label=labels[index]))
    ocr.result.pending += len(empty) + len(unreadable) + lost
    notes = _not_ocred(empty, "no text layer (scanned {image}?)", ocr.why_not)
    notes += _not_ocred(unreadable, "a garbled text layer (unmapped glyphs)", ocr.why_not)
    return Extraction(
        kind="pdf",
        title=title,
        blocks=blocks,
        pages=count,
        warnings=notes + failed + ocr.failures,
        ocr=ocr.result,
    )


def _page_text(page: Any, number: int, failed: list[str]) -> str | None:
    """A page's text layer as pypdf reads it; None when it cannot (the reason goes to
    failed), so that OCR may read the page instead."""
    try:
        return clean_text(page.extract_text() or "")
    except MemoryError:
        raise
    except Exception as exc:  # one bad page must not lose the others
        failed.append(f"page {number}: text could not be extracted ({_short(exc)})")
        return None


def _ocr_page(
    ocr: PageOcr, images: PdfPages, index: int, count: int, label: str | None, failed: list[str]
) -> Block:
    """Draw one page and read it by OCR; a page that cannot be drawn comes back empty."""
    try:
        image = images.image(index)
    except MemoryError:
        raise
    except Exception as exc:  # pdfium refuses a damaged page: keep the others
        failed.append(f"page {index + 1}: could not be drawn for OCR ({_short(exc)})")
        return Block("\n", page=index + 1, page_label=label)
    return ocr.read(image, index + 1, count, label)


def _not_ocred(pages: list[int], what: str, why_not: str | None) -> list[str]:
    """One warning naming the pages that needed OCR and did not get it, and why."""
    if not pages:
        return []
    one = len(pages) == 1
    what = what.format(image="image" if one else "images")
    reason = f": {why_not}" if why_not else ""
    return [
        f"{'page' if one else 'pages'} {_page_ranges(pages)} {'has' if one else 'have'} "
        f"{what}; {'it was' if one else 'they were'} not OCR'd{reason}"
    ]


def _decrypt_empty(reader: PdfReader) -> bool:
    """Open a file encrypted with an empty user password (common for 'no printing' PDFs)."""
    try:
        return bool(reader.decrypt(""))
    except Exception:  # wrong password, unsupported algorithm, missing crypto backend
        log.debug("empty-password decryption failed", exc_info=True)
        return False


def _labels(reader: PdfReader, count: int) -> list[str | None]:
    try:
        labels = list(reader.page_labels)
    except Exception:  # a damaged label tree is not worth failing the document
        labels = []
    return [labels[i] if i < len(labels) else None for i in range(count)]


def _title(reader: PdfReader) -> str:
    try:
        title = reader.metadata.title if reader.metadata else None
    except Exception:  # a damaged /Info dictionary only loses the title
        return ""
    return clean_text(" ".join(title.split())) if isinstance(title, str) else ""


def _page_ranges(pages: list[int]) -> str:
    """Format [2, 5, 6, 7] as "2, 5-7"."""
    parts: list[str] = []
    start = prev = pages[0]
    for page in [*pages[1:], None]:
        if page is not None and page == prev + 1:
            prev = page
            continue
        parts.append(str(start) if start == prev else f"{start}-{prev}")
        if page is not None:
            start = prev = page
    return ", ".join(parts)


def _summarise(messages: list[str]) -> list[str]:
    """One line per distinct message, at most ``_MAX_WARNINGS`` plus a count of the rest."""
    lines = (m.strip().splitlines() for m in messages)
    unique = list(dict.fromkeys(line[0][:300] for line in lines if line))
    if len(unique) > _MAX_WARNINGS:
        extra = len(unique) - _MAX_WARNINGS
        unique = [*unique[:_MAX_WARNINGS], f"... and {extra} more warnings"]
    return unique


def _short(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return (text[0] if text else type(exc).__name__)[:200]
