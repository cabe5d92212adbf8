"""PDF files, page by page with pypdf; every page keeps its number and printed label."""

from __future__ import annotations

import logging
import threading
import warnings
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from pypdf import PdfReader

from rlm_desktop.ingest.extraction import Block, Extraction, ExtractionError, clean_text

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


def extract_pdf(path: Path) -> Extraction:
    """Extract a PDF's text, one block per physical page; pypdf's warnings become ours."""
    try:
        with open(path, "rb") as handle:
            head = handle.read(1024)
    except OSError as exc:
        raise ExtractionError(f"cannot read: {exc.strerror or exc}") from exc
    if b"%PDF-" not in head:
        raise ExtractionError("not a PDF file (no %PDF header)")
    with _pypdf_log_captured() as collector, warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        extraction = _read(Path(path))
    library = collector.messages + [str(w.message) for w in caught]
    extraction.warnings = _summarise(extraction.warnings + library)
    return extraction


def _read(path: Path) -> Extraction:
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
    for index in range(count):
        number = index + 1
        try:
            text = clean_text(pages[index].extract_text() or "")
        except MemoryError:
            raise
        except Exception as exc:  # one bad page must not lose the others
            failed.append(f"page {number}: text could not be extracted ({_short(exc)})")
            text = ""
        else:
            if not text.strip():
                empty.append(number)
                text = ""
        if text and not text.endswith("\n"):
            text += "\n"
        blocks.append(Block(text + "\n", page=number, page_label=labels[index]))
    notes = []
    if empty:
        one = len(empty) == 1
        notes.append(
            f"{'page' if one else 'pages'} {_page_ranges(empty)} {'has' if one else 'have'} "
            f"no text layer (scanned {'image' if one else 'images'}?); "
            f"{'it was' if one else 'they were'} not OCR'd"
        )
    return Extraction(kind="pdf", title=title, blocks=blocks, pages=count, warnings=notes + failed)


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
