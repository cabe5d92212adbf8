"""Word .docx files: body paragraphs and table rows in order, then headers and footers once.

Line n of the extracted text is the n-th body paragraph or table row, so a citation of
"line n" points at "paragraph n". The XML is walked directly (rather than through
python-docx's ``Paragraph.text``) so that text inside content controls, tracked insertions
and simple fields is kept, and a malformed vertical merge cannot fail the whole document.
"""

from __future__ import annotations

import logging
import zipfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any, BinaryIO

import docx
from docx.oxml.ns import qn

from rlm_desktop.ingest.extraction import (
    Block,
    Extraction,
    ExtractionError,
    IngestLimits,
    clean_text,
)
from rlm_desktop.ingest.unzip import check_expansion

log = logging.getLogger(__name__)

_OLE_MAGIC = b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1"
# Everything str.splitlines() would break on becomes a space: one paragraph, one line.
_LINE_BREAKS = str.maketrans(dict.fromkeys("\r\n\v\f\x1c\x1d\x1e\x85\u2028\u2029", " "))

_P, _TBL, _TR, _TC, _R = qn("w:p"), qn("w:tbl"), qn("w:tr"), qn("w:tc"), qn("w:r")
_SDT, _SDT_CONTENT = qn("w:sdt"), qn("w:sdtContent")
# Wrappers whose children are read as if they stood in the wrapper's place.
_BLOCK_WRAPPERS = {qn("w:customXml")}
_INLINE_WRAPPERS = {
    qn(f"w:{tag}")
    for tag in ("hyperlink", "ins", "moveTo", "fldSimple", "smartTag", "customXml", "dir", "bdo")
}
_RUN_TEXT = {
    qn("w:t"): None,  # the element's own text
    qn("w:tab"): "\t",
    qn("w:ptab"): "\t",
    qn("w:br"): " ",
    qn("w:cr"): " ",
    qn("w:noBreakHyphen"): "-",
}


def extract_word(path: Path, limits: IngestLimits | None = None) -> Extraction:
    """Extract a .docx; line n of the text is the n-th paragraph or table row."""
    try:
        with open(path, "rb") as handle:
            lines, title = _read_package(handle, path, limits or IngestLimits())
    except OSError as exc:
        raise ExtractionError(f"cannot read: {exc.strerror or exc}") from exc
    extraction = Extraction(kind="docx", title=clean_text(title) or path.name, blocks=[])
    if lines:
        extraction.blocks = [Block(clean_text("\n".join(lines) + "\n"))]
    else:
        extraction.warnings.append("document has no text")
    return extraction


def _read_package(handle: BinaryIO, path: Path, limits: IngestLimits) -> tuple[list[str], str]:
    """The document's lines and title. Every part is first unpacked through a counting
    stream (see ``unzip``), so a compression bomb is refused before python-docx reads any
    part whole; one handle serves the check and the parse, so both see the same bytes."""
    if handle.read(8) == _OLE_MAGIC:
        raise ExtractionError(
            "password-protected or legacy-format Word file: save it as an unprotected .docx"
        )
    if not zipfile.is_zipfile(handle):
        raise ExtractionError("corrupt or truncated Word file: not a valid zip package")
    try:
        check_expansion(handle, limits)
        handle.seek(0)
        document = docx.Document(handle)
        body = document.element.body
        lines = list(_block_lines(body)) if body is not None else []
        lines.extend(_header_footer_lines(document))
        title = " ".join((document.core_properties.title or "").split())
    except (ExtractionError, MemoryError):
        raise
    except (zipfile.BadZipFile, zipfile.LargeZipFile, KeyError, ValueError, EOFError) as exc:
        raise ExtractionError(f"corrupt or truncated Word file: {_short(exc)}") from exc
    except Exception as exc:  # python-docx, lxml and zipfile raise many types on damaged files
        log.debug("python-docx failed on %s", path, exc_info=True)
        raise ExtractionError(f"corrupt or truncated Word file: {_short(exc)}") from exc
    return lines, title


def _short(exc: BaseException) -> str:
    text = str(exc).strip().strip("\"'").splitlines()
    return (text[0] if text else type(exc).__name__)[:200]


def _block_lines(container: Any) -> Iterator[str]:
    """One line per paragraph and per table row directly inside a block container."""
    for child in container:
        if child.tag == _P:
            yield _paragraph_text(child)
        elif child.tag == _TBL:
            yield from _table_rows(child)
        elif child.tag == _SDT:
            for content in child.iterchildren(_SDT_CONTENT):
                yield from _block_lines(content)
        elif child.tag in _BLOCK_WRAPPERS:
            yield from _block_lines(child)


def _paragraph_text(p: Any) -> str:
    return "".join(_inline_text(p)).translate(_LINE_BREAKS)


def _inline_text(element: Any) -> Iterator[str]:
    """The text of runs in a paragraph, in order; deleted (tracked) text is left out."""
    for child in element:
        if child.tag == _R:
            for item in child:
                if item.tag in _RUN_TEXT:
                    yield _RUN_TEXT[item.tag] or item.text or ""
        elif child.tag in _INLINE_WRAPPERS:
            yield from _inline_text(child)
        elif child.tag == _SDT:
            for content in child.iterchildren(_SDT_CONTENT):
                yield from _inline_text(content)


def _children(element: Any, tag: str) -> Iterator[Any]:
    """Children with ``tag``, looking through content controls and custom-XML wrappers."""
    for child in element:
        if child.tag == tag:
            yield child
        elif child.tag == _SDT:
            for content in child.iterchildren(_SDT_CONTENT):
                yield from _children(content, tag)
        elif child.tag in _BLOCK_WRAPPERS:
            yield from _children(child, tag)


def _table_rows(tbl: Any) -> Iterator[str]:
    """Each row as one line of its cells joined by " | "; a merged cell counts once per row.

    A cell merged across columns is one ``w:tc``; a cell continued from the row above
    (vertical merge) repeats the text of the cell it continues, as python-docx reports it.
    """
    above: dict[int, str] = {}
    for tr in _children(tbl, _TR):
        column = _int_val(tr.find(f"{qn('w:trPr')}/{qn('w:gridBefore')}"), 0)
        cells: list[str] = []
        current: dict[int, str] = {}
        for tc in _children(tr, _TC):
            props = tc.find(qn("w:tcPr"))
            span = _int_val(props.find(qn("w:gridSpan")) if props is not None else None, 1)
            merge = props.find(qn("w:vMerge")) if props is not None else None
            if merge is not None and merge.get(qn("w:val"), "continue") == "continue":
                text = above.get(column, "")
            else:
                text = _cell_text(tc)
            current[column] = text
            cells.append(text)
            column += max(span, 1)
        above = current
        yield " | ".join(cells)


def _cell_text(tc: Any) -> str:
    """A cell's paragraphs (and nested tables' rows) flattened into one line."""
    return " ".join(line for line in _block_lines(tc) if line)


def _int_val(element: Any, default: int) -> int:
    if element is None:
        return default
    try:
        return int(element.get(qn("w:val"), default))
    except ValueError:
        return default


def _header_footer_lines(document: Any) -> list[str]:
    """Distinct non-empty lines of every section's own headers and footers."""
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
            if part.is_linked_to_previous:  # no definition of its own
                continue
            for line in _block_lines(part.part.element):
                text = line.strip()
                if text and text not in seen:
                    seen.add(text)
                    lines.append(text)
    return lines
