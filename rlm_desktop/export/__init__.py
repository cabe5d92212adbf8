"""Exports of answers with their cited snippets: Markdown, HTML, Word, and PDF.

PDF pages are drawn by a renderer the caller passes in (the window's Qt PDF writer), so this
layer stays free of Qt and every import of PySide6 is in ``gui``.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from rlm_desktop.errors import UsageError
from rlm_desktop.export.content import FORMATS, ExportRun
from rlm_desktop.export.writers import to_docx, to_html, to_markdown

PdfRenderer = Callable[[str, Path], None]  # (the HTML export, the PDF file to write)


def export_runs(
    runs: list[ExportRun],
    fmt: str,
    path: Path,
    trajectory: bool = False,
    pdf_renderer: PdfRenderer | None = None,
) -> Path:
    """Write runs to ``path`` in a format (md, html, docx, pdf); the library is only read.

    PDF needs ``pdf_renderer``, which turns the HTML export into pages.
    """
    if fmt not in FORMATS:
        raise UsageError(f"unknown format {fmt!r}: use one of {', '.join(FORMATS)}")
    if not runs:
        raise UsageError("there is nothing to export: no saved runs were selected")
    path = Path(path)
    if fmt == "md":
        path.write_text(to_markdown(runs, trajectory), encoding="utf-8")
    elif fmt == "html":
        path.write_text(to_html(runs, trajectory), encoding="utf-8")
    elif fmt == "docx":
        to_docx(runs, path, trajectory)
    elif pdf_renderer is None:
        raise UsageError("a PDF export needs a renderer: use the window or `rlm-desktop export`")
    else:
        pdf_renderer(to_html(runs, trajectory), path)
    return path


__all__ = ["FORMATS", "ExportRun", "PdfRenderer", "export_runs"]
