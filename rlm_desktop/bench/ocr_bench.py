"""``rlm-desktop bench ocr`` (and two rows of ``bench speed``): OCR speed and word accuracy
on generated scans of known text, beside Tesseract alone on the clean page images."""

from __future__ import annotations

import tempfile
import time
from collections.abc import Callable
from pathlib import Path

from rlm_desktop.bench.report import BenchResult
from rlm_desktop.bench.scangen import draw_page, known_lines, word_accuracy, write_scanned_pdf
from rlm_desktop.ingest import pipeline
from rlm_desktop.ingest.ocr import Recognizer, unavailable
from rlm_desktop.store import Library

_LINES_PER_PAGE = 40  # a full A4 page of 10-point text
_POINTS = 10
_NOISE = 0.002  # mild: one pixel in 500 flipped
_ANGLE = 0.6  # degrees askew
SECONDS_GOAL = 3.0
ACCURACY_GOAL = 0.95


def run_ocr_benchmarks(
    quick: bool = False, log: Callable[[str], None] = lambda _msg: None
) -> list[BenchResult]:
    """OCR seconds per page and word accuracy; no rows (and a note) without the OCR extra."""
    reason = unavailable("eng")
    if reason is not None:
        log(f"OCR rows left out: {reason}")
        return []
    files, pages = (2, 1) if quick else (2, 4)
    with tempfile.TemporaryDirectory(prefix="rlm-bench-ocr-") as tmp:
        return _measure(Path(tmp), files, pages, log)


def _measure(work: Path, files: int, pages: int, log: Callable[[str], None]) -> list[BenchResult]:
    texts = [
        ["\n".join(known_lines(_LINES_PER_PAGE, seed=f * 100 + p)) for p in range(pages)]
        for f in range(files)
    ]
    folder = work / "scans"
    folder.mkdir()
    for f, file_pages in enumerate(texts):
        images = [
            draw_page(text.split("\n"), points=_POINTS, noise=_NOISE, angle=_ANGLE, seed=p)
            for p, text in enumerate(file_pages)
        ]
        write_scanned_pdf(folder / f"scan-{f}.pdf", images)
    total = files * pages
    log(f"scanned corpus: {files} PDFs x {pages} A4 pages at 300 dpi, {_LINES_PER_PAGE} lines each")

    bare_seconds, bare_accuracy = _bare_tesseract([t for file in texts for t in file])
    started = time.perf_counter()
    with Library(work / "lib") as library:
        report = pipeline.ingest(library, [folder])
        elapsed = time.perf_counter() - started
        documents = {Path(d.path).name: d for d in library.documents()}
        found = {name: library.document_text(d.id) for name, d in documents.items()}
    if report.counts()["failed"] or len(found) != files:
        raise RuntimeError(f"the scanned corpus did not ingest: {report.to_json()}")
    accuracy = (
        sum(word_accuracy("\n".join(texts[f]), found[f"scan-{f}.pdf"]) for f in range(files))
        / files
    )
    confidence = sum(d.ocr_confidence or 0 for d in documents.values()) / files
    per_page = elapsed / total
    return [
        BenchResult(
            name="OCR seconds per page",
            value=per_page,
            baseline=bare_seconds,
            ratio=bare_seconds / per_page,
            goal=f"<= {SECONDS_GOAL:g} s per 300-dpi A4 page",
            met=per_page <= SECONDS_GOAL,
            unit="s",
            detail=f"{total} pages ingested (render + OCR + chunk + write, one worker per "
            f"core) in {elapsed:,.1f} s; baseline = Tesseract alone on the clean page images "
            "in memory, one core",
            size=f"{files} scanned PDFs of {total // files} A4 pages at 300 dpi",
        ),
        BenchResult(
            name="OCR word accuracy",
            value=accuracy,
            baseline=bare_accuracy,
            ratio=accuracy / bare_accuracy if bare_accuracy else 0.0,
            goal=f">= {ACCURACY_GOAL:g} of words exact",
            met=accuracy >= ACCURACY_GOAL,
            unit="",
            detail=f"scans with mild noise ({_NOISE:.1%} of pixels) and {_ANGLE:g} degrees of "
            f"rotation, through the PDF; mean OCR confidence {confidence:.0%}; baseline = "
            "the clean page images",
            size=f"{total} scanned pages of {_LINES_PER_PAGE} lines",
        ),
    ]


def _bare_tesseract(texts: list[str]) -> tuple[float, float]:
    """Seconds per page and word accuracy of the engine alone on clean, straight pages."""
    seconds = 0.0
    accuracy = 0.0
    with Recognizer("eng") as engine:
        for number, text in enumerate(texts, 1):
            image = draw_page(text.split("\n"), points=_POINTS)
            started = time.perf_counter()
            found = engine.read(image, number)
            seconds += time.perf_counter() - started
            accuracy += word_accuracy(text, found.text)
    return seconds / len(texts), accuracy / len(texts)
