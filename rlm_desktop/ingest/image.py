"""Image files (PNG, JPEG, TIFF with any number of pages), read by OCR frame by frame."""

from __future__ import annotations

import logging
import warnings
from pathlib import Path

from rlm_desktop.ingest.extraction import (
    Block,
    Extraction,
    ExtractionError,
    IngestLimits,
    ReadHooks,
)
from rlm_desktop.ingest.scanned import MAX_PIXELS, PageOcr

log = logging.getLogger(__name__)


def extract_image(
    path: Path, limits: IngestLimits | None = None, hooks: ReadHooks | None = None
) -> Extraction:
    """Read an image's text by OCR, one block per frame (a multi-page TIFF has several).

    An image is skipped, with the reason and the command that changes it, when OCR is off
    or not installed; a frame larger than ``MAX_PIXELS`` is passed over with a warning.
    """
    with PageOcr(limits or IngestLimits(), hooks or ReadHooks()) as ocr:
        if ocr.why_not is not None:
            raise ExtractionError(f"an image, not read: {ocr.why_not}", status="skipped")
        from PIL import Image, ImageOps, ImageSequence

        try:
            with warnings.catch_warnings():
                # Huge frames are refused below, one by one, before any is decoded.
                warnings.simplefilter("ignore", Image.DecompressionBombWarning)
                opened = Image.open(path)
        except Image.DecompressionBombError as exc:
            raise ExtractionError(f"too large to OCR: {exc}") from exc
        except OSError as exc:  # Pillow's UnidentifiedImageError is an OSError too
            raise ExtractionError(f"not a readable image: {exc}") from exc
        with opened:
            count = getattr(opened, "n_frames", 1)
            blocks: list[Block] = []
            notes: list[str] = []
            for index, frame in enumerate(ImageSequence.Iterator(opened)):
                number = index + 1
                width, height = frame.size
                if width * height > MAX_PIXELS:
                    notes.append(
                        f"page {number} is too large to OCR ({width:,} x {height:,} pixels)"
                    )
                    blocks.append(Block("\n", page=number))
                    continue
                try:
                    page = ImageOps.exif_transpose(frame).convert("L")
                except (OSError, ValueError) as exc:  # a truncated or damaged frame
                    notes.append(f"page {number} could not be decoded ({exc})")
                    blocks.append(Block("\n", page=number))
                    continue
                page.info["dpi"] = frame.info.get("dpi")
                blocks.append(ocr.read(page, number, count))
    return Extraction(
        kind="image",
        title=path.name,
        blocks=blocks,
        pages=count,
        warnings=notes + ocr.failures,
        ocr=ocr.result,
    )
