"""Records that cross the boundary between extractors, the chunker and the store."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass, field

from rlm_desktop.errors import RlmDesktopError
from rlm_desktop.records import Passage
from rlm_desktop.settings import Settings
from rlm_desktop.store.documents import OcrResult

__all__ = [
    "EXTRACTOR_VERSION",
    "Block",
    "Extraction",
    "ExtractionError",
    "IngestLimits",
    "Passage",
    "ReadCancelled",
    "ReadHooks",
]

# Bump when extraction output changes, so a rescan re-extracts files ingested by older code.
# 3: "\r\n" and lone "\r" line ends are stored as "\n" (2 kept them as they were).
EXTRACTOR_VERSION = 3


class ExtractionError(RlmDesktopError):
    """A file could not be turned into text; ``status`` is ``failed`` or ``skipped``."""

    def __init__(self, message: str, status: str = "failed") -> None:
        super().__init__(message)
        self.status = status


class ReadCancelled(ExtractionError):
    """The user cancelled while a file was being read page by page (OCR)."""

    def __init__(self) -> None:
        super().__init__("cancelled while it was read", status="cancelled")


_DEFAULTS = Settings()


@dataclass(frozen=True)
class IngestLimits:
    """What reading one file may cost before it is refused, and whether it may be OCR'd;
    the user's settings hold them.

    The first two bound how far a Word file (a ZIP archive) may unpack: see ``unzip``.
    ``ocr`` is "off", "auto" or "force" and ``ocr_languages`` Tesseract's codes: see ``ocr``.
    """

    docx_max_part_mb: int = _DEFAULTS.docx_max_part_mb
    docx_max_ratio: int = _DEFAULTS.docx_max_ratio
    ocr: str = _DEFAULTS.ocr
    ocr_languages: str = _DEFAULTS.ocr_languages

    @classmethod
    def from_settings(cls, settings: Settings) -> IngestLimits:
        """The limits the user's settings describe."""
        return cls(
            settings.docx_max_part_mb,
            settings.docx_max_ratio,
            settings.ocr,
            settings.ocr_languages,
        )


def _never() -> bool:
    return False


def _ignore(_page: int, _pages: int) -> None:
    return None


@dataclass(frozen=True)
class ReadHooks:
    """How a slow, page-by-page read (OCR) learns that the user cancelled, and says how far
    it got: ``page_read(page, pages)`` after each page it OCR'd."""

    cancelled: Callable[[], bool] = _never
    page_read: Callable[[int, int], None] = _ignore


@dataclass(frozen=True)
class Block:
    r"""A run of extracted text; a document's blocks concatenate into its exact text once
    their "\r\n" and lone "\r" line ends are "\n" (``chunking.normalise_line_ends``).

    ``page`` is the 1-based physical PDF page (or image frame) the text came from (None for
    other kinds) and ``page_label`` the label printed on that page when the PDF defines
    labels; a page read by OCR says so in its label (``store.documents.ocr_page_label``).
    """

    text: str
    page: int | None = None
    page_label: str | None = None


@dataclass
class Extraction:
    """What an extractor learned about a file, plus its text as blocks (maybe lazy)."""

    kind: str
    title: str
    blocks: Iterable[Block]
    pages: int | None = None
    encoding: str | None = None
    warnings: list[str] = field(default_factory=list)
    ocr: OcrResult = field(default_factory=OcrResult)


def clean_text(text: str) -> str:
    """Replace characters SQLite and FTS cannot keep (NUL) without moving any offset."""
    return text.replace("\x00", "\ufffd")
