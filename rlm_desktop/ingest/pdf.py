"""PDF files, page by page with pypdf; every page keeps its number and printed label."""

from __future__ import annotations

import logging
import warnings
from pathlib import Path

from pypdf import PdfReader
from pypdf.errors import PdfReadError

from rlm_desktop.ingest.model import Block, Extraction, ExtractionError, clean_text

_MAX_WARNINGS = 20


class _Collector(logging.Handler):
    """Keeps pypdf's log records so they become the document's warnings."""

    def __init__(self) -> None:
        super().__init__(logging.WARNING)
        self.messages: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.messages.append(record.getMessage())


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
    unique = list(dict.fromkeys(m.strip() for m in messages if m.strip()))
    if len(unique) > _MAX_WARNINGS:
        extra = len(unique) - _MAX_WARNINGS
        unique = [*unique[:_MAX_WARNINGS], f"... and {extra} more warnings"]
    return unique


def extract_pdf(path: Path) -> Extraction:
    """Extract a PDF's text, one block per physical page; pypdf's warnings become ours."""
    with open(path, "rb") as handle:
        if b"%PDF-" not in handle.read(1024):
            raise ExtractionError("not a PDF file (no %PDF header)")
    collector = _Collector()
    pypdf_log = logging.getLogger("pypdf")
    propagate = pypdf_log.propagate
    pypdf_log.addHandler(collector)
    pypdf_log.propagate = False
    try:
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            extraction = _read(path)
    finally:
        pypdf_log.removeHandler(collector)
        pypdf_log.propagate = propagate
    library_warnings = collector.messages + [str(w.message) for w in caught]
    extraction.warnings = extraction.warnings + _summarise(library_warnings)
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
    except Exception as exc:  # pypdf raises many types on damaged files
        raise ExtractionError(f"corrupt or truncated PDF: {_short(exc)}") from exc
    blocks: list[Block] = []
    notes: list[str] = []
    empty: list[int] = []
    for index in range(count):
        number = index + 1
        try:
            text = clean_text(pages[index].extract_text() or "")
        except Exception as exc:  # one bad page must not lose the others
            notes.append(f"page {number}: text could not be extracted ({_short(exc)})")
            text = ""
        if not text.strip():
            empty.append(number)
            text = ""
        elif not text.endswith("\n"):
            text += "\n"
        blocks.append(Block(text + "\n", page=number, page_label=labels[index]))
    if empty:
        which = "page" if len(empty) == 1 else "pages"
        verb = "has" if len(empty) == 1 else "have"
        notes.insert(
            0,
            f"{which} {_page_ranges(empty)} {verb} no text layer (scanned images?); "
            "they were not OCR'd",
        )
    return Extraction(kind="pdf", title=title, blocks=blocks, pages=count, warnings=notes)


def _decrypt_empty(reader: PdfReader) -> bool:
    try:
        return bool(reader.decrypt(""))
    except (PdfReadError, NotImplementedError, ValueError):
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
    except Exception:
        return ""
    return title.strip() if isinstance(title, str) else ""


def _short(exc: Exception) -> str:
    text = str(exc).strip().splitlines()
    return (text[0] if text else type(exc).__name__)[:200]
