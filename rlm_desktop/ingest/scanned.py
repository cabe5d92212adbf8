"""Scanned pages: which need OCR, reading them one at a time, and placing their lines.

A page needs OCR when it has no text layer, or one that is mostly unmapped glyphs (control,
private-use or replacement characters), or always when the ``ocr`` setting is "force".
Pages are rendered or decoded one at a time and let go once read, so memory stays bounded
whatever the number of pages; each page read is reported, and a cancel stops between pages.
"""

from __future__ import annotations

import dataclasses
import logging
import unicodedata
from collections.abc import Iterable
from contextlib import AbstractContextManager
from pathlib import Path
from typing import TYPE_CHECKING, Any

from rlm_desktop.ingest.extraction import Block, IngestLimits, Passage, ReadCancelled, ReadHooks
from rlm_desktop.ingest.ocr import DPI, ENABLE_COMMAND, Recognizer, ocr_mode, unavailable
from rlm_desktop.store.documents import OcrResult, ocr_page_label

if TYPE_CHECKING:
    from PIL.Image import Image

log = logging.getLogger(__name__)

MAX_PIXELS = 80_000_000  # a page image larger than this is drawn smaller, or refused (images)
_GARBLED = 0.5  # a text layer is garbage when more than this share of its characters are
_BAD_CATEGORIES = frozenset({"Cc", "Co", "Cn", "Cs"})


def usable(text: str) -> bool:
    """True when a page's text layer has text that is not mostly unmapped glyphs."""
    return bool(text.strip()) and not garbled(text)


def garbled(text: str) -> bool:
    """True when most of a page's characters are unmapped glyphs: control, private-use,
    unassigned or replacement characters, as a font without a Unicode map yields."""
    shown = [ch for ch in text if not ch.isspace()]
    if not shown:
        return False
    bad = sum(1 for ch in shown if ch == "\ufffd" or unicodedata.category(ch) in _BAD_CATEGORIES)
    return bad > _GARBLED * len(shown)


class PageOcr(AbstractContextManager):
    """OCR for one document, as the settings say: which pages to read, reading them, and
    what was read (``result``); pages it could not read are counted as pending."""

    def __init__(self, limits: IngestLimits, hooks: ReadHooks) -> None:
        self.mode = ocr_mode(limits.ocr)
        self.languages = limits.ocr_languages
        self.hooks = hooks
        self.result = OcrResult()
        self.failures: list[str] = []
        self._recognizer: Recognizer | None = None
        self._broken: str | None = None  # why the engine would not start, once it did not

    @property
    def why_not(self) -> str | None:
        """Why pages are not OCR'd here (off, or not installed), with the command that
        changes it; None when OCR runs."""
        if self.mode == "off":
            return f"OCR is off (`{ENABLE_COMMAND}` turns it on)"
        return self._broken or unavailable(self.languages)

    def wanted(self, text: str | None) -> bool:
        """Whether to OCR a page with this text layer (None: not extracted): only when OCR
        runs here, and then every page in "force" mode, else those without usable text."""
        if self.why_not is not None:
            return False
        return self.mode == "force" or text is None or not usable(text)

    def forced(self) -> bool:
        """True when every page is read by OCR (its text layer need not be extracted)."""
        return self.mode == "force" and self.why_not is None

    def read(self, image: Image, page: int, pages: int, label: str | None = None) -> Block:
        """OCR one page image into its block; a page OCR cannot read comes back empty."""
        if self.hooks.cancelled():
            raise ReadCancelled
        if self._recognizer is None and self._broken is None:
            try:
                self._recognizer = Recognizer(self.languages)
            except (ImportError, OSError, RuntimeError) as exc:  # a broken install
                log.warning("OCR could not start: %s", exc)
                self._broken = f"OCR could not start ({exc})"
                self.failures.append(f"{self._broken}: pages needing it were not read")
        if self._recognizer is None:
            self.result.pending += 1
            return Block("\n", page=page, page_label=label)
        try:
            found = self._recognizer.read(image, page, _dpi(image))
        except RuntimeError as exc:
            log.debug("OCR failed on page %d", page, exc_info=True)
            self.failures.append(f"page {page}: OCR could not read it ({exc})")
            found = None
        self.result.pages += 1
        self.hooks.page_read(page, pages)
        if found is None:
            return Block("\n", page=page, page_label=label)
        self.result.words += found.words
        self.result.confidence_sum += found.confidence_sum
        self.result.lines.extend(found.lines)
        printed = label if label != str(page) else None
        return Block(found.text + "\n", page=page, page_label=ocr_page_label(printed))

    def __exit__(self, *exc: object) -> None:
        if self._recognizer is not None:
            self._recognizer.close()
            self._recognizer = None


class PdfPages(AbstractContextManager):
    """A PDF's pages drawn as images for OCR (pypdfium2), one at a time, opened on first use."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._pdf: Any = None

    def image(self, index: int) -> Image:
        """Page ``index`` (0-based) in grey at ``DPI``, smaller if it would be huge."""
        import pypdfium2

        if self._pdf is None:
            self._pdf = pypdfium2.PdfDocument(str(self.path))
        page = self._pdf[index]
        try:
            width, height = page.get_size()
            scale = DPI / 72
            pixels = width * scale * height * scale
            if pixels > MAX_PIXELS:
                scale *= (MAX_PIXELS / pixels) ** 0.5
            bitmap = page.render(scale=scale, grayscale=True)
            image = bitmap.to_pil().copy()
            image.info["dpi"] = (72 * scale, 72 * scale)
            bitmap.close()
            return image
        finally:
            page.close()

    def __exit__(self, *exc: object) -> None:
        if self._pdf is not None:
            self._pdf.close()
            self._pdf = None


def _dpi(image: Image) -> int:
    """The image's resolution when it says (a scan usually does), else the usual 300."""
    dpi = image.info.get("dpi")
    try:
        value = round(float(dpi[0])) if dpi else DPI
    except (TypeError, ValueError, IndexError):
        value = DPI
    return value if 70 <= value <= 1200 else DPI


def place_lines(ocr: OcrResult, passages: Iterable[Passage]) -> None:
    """Turn the OCR'd lines' offsets in their page's text into offsets in the document's.

    Passages never span two pages, so a page's text starts where its first passage does.
    """
    if not ocr.lines:
        return
    starts: dict[int | None, int] = {}
    for passage in passages:
        starts.setdefault(passage.page, passage.start)
    ocr.lines = [
        dataclasses.replace(ln, start=ln.start + starts[ln.page], end=ln.end + starts[ln.page])
        for ln in ocr.lines
        if ln.page in starts
    ]
