"""Word .docx files: body paragraphs and table rows in order, then headers and footers once."""

from __future__ import annotations

import zipfile
from pathlib import Path

import docx
from docx.document import Document as DocxDocument
from docx.table import Table
from docx.text.paragraph import Paragraph

from rlm_desktop.ingest.model import Block, Extraction, ExtractionError, clean_text

_OLE_MAGIC = b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1"
_LINE_BREAKS = str.maketrans({"\r": " ", "\n": " ", "\v": " "})


def extract_word(path: Path) -> Extraction:
    """Extract a .docx; line n of the text is the n-th paragraph or table row."""
    with open(path, "rb") as handle:
        if handle.read(8) == _OLE_MAGIC:
            raise ExtractionError(
                "password-protected or legacy-format Word file: save it as an unprotected .docx"
            )
    try:
        document = docx.Document(str(path))
        lines = [*_body_lines(document), *_header_footer_lines(document)]
        title = (document.core_properties.title or "").strip()
    except (zipfile.BadZipFile, KeyError, ValueError, OSError, EOFError) as exc:
        raise ExtractionError(f"corrupt or truncated Word file: {exc}") from exc
    except Exception as exc:  # python-docx and lxml raise many types on damaged files
        raise ExtractionError(f"corrupt or truncated Word file: {type(exc).__name__}") from exc
    extraction = Extraction(kind="docx", title=title or path.name, blocks=[])
    if lines:
        extraction.blocks = [Block(clean_text("\n".join(lines) + "\n"))]
    else:
        extraction.warnings.append("document has no text")
    return extraction


def _one_line(text: str) -> str:
    return text.translate(_LINE_BREAKS)


def _body_lines(document: DocxDocument) -> list[str]:
    lines: list[str] = []
    for item in document.iter_inner_content():
        if isinstance(item, Paragraph):
            lines.append(_one_line(item.text))
        elif isinstance(item, Table):
            lines.extend(_table_rows(item))
    return lines


def _table_rows(table: Table) -> list[str]:
    rows = []
    for row in table.rows:
        cells, seen = [], set()
        for cell in row.cells:
            if cell._tc in seen:  # a merged cell is repeated for each grid column
                continue
            seen.add(cell._tc)
            cells.append(_cell_text(cell))
        rows.append(" | ".join(cells))
    return rows


def _cell_text(cell) -> str:
    parts = []
    for item in cell.iter_inner_content():
        if isinstance(item, Paragraph):
            parts.append(item.text)
        elif isinstance(item, Table):
            parts.extend(_table_rows(item))
    return _one_line(" ".join(p for p in parts if p))


def _header_footer_lines(document: DocxDocument) -> list[str]:
    lines: list[str] = []
    seen: set[str] = set()
    for section in document.sections:
        for part in (
            section.header,
            section.first_page_header,
            section.even_page_header,
            section.footer,
            section.first_page_footer,
            section.even_page_footer,
        ):
            if part.is_linked_to_previous:
                continue
            for paragraph in part.paragraphs:
                text = _one_line(paragraph.text).strip()
                if text and text not in seen:
                    seen.add(text)
                    lines.append(text)
    return lines
