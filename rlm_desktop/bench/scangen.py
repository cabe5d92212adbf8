"""Scans of known text, for benchmarks and tests (needs Pillow, part of the ``ocr`` extra).

Lines of text are drawn on an A4 page image (Pillow's built-in font, so every machine draws
the same), optionally with mild noise and a slight rotation as a scanner leaves them, and
saved as an image-only PDF (no text layer, like a scan) or as image files.
"""

from __future__ import annotations

import difflib
import random
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from PIL.Image import Image

A4_INCHES = (8.27, 11.69)
_MARGIN_INCHES = 0.9
_VOCABULARY = (
    "invoice contract payment shipping budget office report meeting quarter revenue customer "
    "service warehouse delivery account balance interest loan bank credit pension schedule "
    "engineer analyst review approve signed agreement clause party tenant landlord property "
    "insurance claim damage repair notice period termination renewal annual monthly the of "
    "and to in for on with by at from that this was were will has have not are be"
)


def known_lines(count: int, seed: int = 1, width: int = 72) -> list[str]:
    """``count`` lines of business-like words, numbers and capitals, about ``width`` wide."""
    rng = random.Random(seed)
    vocabulary = _VOCABULARY.split()
    lines = []
    for _ in range(count):
        words: list[str] = []
        while len(" ".join(words)) < width - 10:
            word = rng.choice(vocabulary)
            if rng.random() < 0.08:
                word = str(rng.randrange(1, 99_999))
            elif rng.random() < 0.1:
                word = word.capitalize()
            words.append(word)
        lines.append(" ".join(words) + ("." if rng.random() < 0.3 else ""))
    return lines


def draw_page(
    lines: Sequence[str],
    dpi: int = 300,
    points: float = 11,
    noise: float = 0.0,
    angle: float = 0.0,
    seed: int = 1,
) -> Image:
    """An A4 page image (grey) with ``lines`` drawn from the top-left margin down.

    ``noise`` is the share of pixels flipped to black or white; ``angle`` a rotation in
    degrees, as a sheet laid slightly askew on a scanner.
    """
    import numpy as np
    from PIL import Image as PILImage
    from PIL import ImageDraw, ImageFont

    width, height = (round(inches * dpi) for inches in A4_INCHES)
    page = PILImage.new("L", (width, height), 255)
    pixels = round(points * dpi / 72)
    font = ImageFont.load_default(size=pixels)
    draw = ImageDraw.Draw(page)
    y = round(_MARGIN_INCHES * dpi)
    for line in lines:
        draw.text((round(_MARGIN_INCHES * dpi), y), line, fill=0, font=font)
        y += round(pixels * 1.5)
    if angle:
        page = page.rotate(angle, resample=PILImage.Resampling.BICUBIC, fillcolor=255)
    if noise:
        rng = np.random.default_rng(seed)
        values = np.array(page)
        flipped = rng.random(values.shape) < noise
        values[flipped] = rng.choice(np.array([0, 255], dtype=np.uint8), size=int(flipped.sum()))
        page = PILImage.fromarray(values)
    return page


def write_scanned_pdf(path: Path, pages: Sequence[Image], dpi: int = 300) -> None:
    """Save page images as a PDF of pictures only: no text layer, as a scanner writes."""
    first, *rest = pages
    first.save(path, "PDF", resolution=dpi, save_all=True, append_images=rest)


def write_scanned_images(path: Path, pages: Sequence[Image], dpi: int = 300) -> None:
    """Save page images as one image file (a TIFF keeps them all as its pages)."""
    first, *rest = pages
    first.save(path, dpi=(dpi, dpi), save_all=bool(rest), append_images=rest)


def word_accuracy(expected: str, found: str) -> float:
    """The share of the expected words found, in order and spelled exactly (punctuation too)."""
    want, got = expected.split(), found.split()
    if not want:
        return 1.0
    matcher = difflib.SequenceMatcher(a=want, b=got, autojunk=False)
    return sum(block.size for block in matcher.get_matching_blocks()) / len(want)
