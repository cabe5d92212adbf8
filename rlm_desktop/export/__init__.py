"""Exports of answers with their cited snippets: Markdown, HTML, Word; PDF via the GUI layer."""

from __future__ import annotations

from pathlib import Path

from rlm_desktop.errors import UsageError
from rlm_desktop.export.model import FORMATS, ExportRun
from rlm_desktop.export.writers import to_docx, to_html, to_markdown


def export_runs(runs: list[ExportRun], fmt: str, path: Path, trajectory: bool = False) -> Path:
    """Write runs to ``path`` in a format (md, html, docx, pdf); the library is only read."""
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
    else:
        from rlm_desktop.gui.pdf_export import html_to_pdf

        html_to_pdf(to_html(runs, trajectory), path)
    return path


__all__ = ["FORMATS", "ExportRun", "export_runs"]
