"""Word extraction: line n is paragraph (or table row) n; headers and footers once; failures."""

from __future__ import annotations

import pickle
import zipfile
from pathlib import Path

import docx
import pytest
from docx.enum.section import WD_SECTION
from docx.oxml import parse_xml
from docx.oxml.ns import nsdecls

from rlm_desktop.ingest.extraction import ExtractionError
from rlm_desktop.ingest.word import extract_word

DATA = Path(__file__).parent / "data"


def _lines(path: Path) -> list[str]:
    """The document text as lines (without the empty string after the final newline)."""
    blocks = list(extract_word(path).blocks)
    assert len(blocks) == 1 and blocks[0].page is None and blocks[0].page_label is None
    assert blocks[0].text.endswith("\n")
    return blocks[0].text.split("\n")[:-1]


def _body_count(path: Path) -> int:
    """Body paragraphs plus the rows of top-level tables, as python-docx counts them."""
    document = docx.Document(str(path))
    return len(document.paragraphs) + sum(len(t.rows) for t in document.tables)


def test_simple_document_gives_one_line_per_paragraph():
    extraction = extract_word(DATA / "test.docx")
    assert (extraction.kind, extraction.pages, extraction.encoding) == ("docx", None, None)
    assert extraction.title == "test.docx"  # the core title is empty
    assert extraction.warnings == []
    assert _lines(DATA / "test.docx") == ["python-docx was here!", "python-docx was here too!"]


def test_empty_tables_still_give_one_line_per_row():
    path = DATA / "tbl-having-tables.docx"
    lines = _lines(path)
    # A 2x2 table, a paragraph, a 3x3 table, a paragraph, a 2x4 table, a paragraph.
    assert lines == [
        *[" | "] * 2,
        "",
        *[" |  | "] * 3,
        "",
        *[" |  |  | "] * 2,
        "",
    ]
    assert len(lines) == _body_count(path) == 10


def test_paragraphs_and_tables_keep_document_order_and_nested_tables_flatten():
    path = DATA / "blk-paras-and-tables.docx"
    lines = _lines(path)
    assert lines[:7] == [
        " | ",
        " | ",
        "Lorem ipsum dolor sit amet, consectetur adipiscing elit.",
        # One cell: a paragraph, a nested 2-row table, a paragraph.
        "Text before Table Between Text after",
        "Donec semper facilisis metus finibus malesuada.",
        "",
        "",
    ]
    assert len(lines[:7]) == _body_count(path)
    # The header and footer are tables: each row is one line, after the body.
    assert lines[7:] == ["Left-side | Right-side", "Copyright | Page-number"]


def test_headers_and_footers_appear_once_after_the_body():
    path = DATA / "hdr-header-footer.docx"
    lines = _lines(path)
    assert lines == [
        "section with header",
        "",
        "section without header of its own.",
        "Header for section-1",
        "Footer for section 1",
    ]
    assert _body_count(path) == 3


def _rich_document(path: Path) -> None:
    document = docx.Document()
    document.core_properties.title = "  Quarterly\nreport  "
    document.add_paragraph("Intro")
    paragraph = document.add_paragraph("Line one\nstill paragraph one")  # a w:br
    paragraph.add_run("\tafter a tab")
    table = document.add_table(rows=3, cols=3)
    for r, row in enumerate(table.rows):
        for c, cell in enumerate(row.cells):
            cell.text = f"r{r}c{c}"
    table.cell(1, 0).merge(table.cell(1, 1)).text = "wide"  # across two columns
    table.cell(1, 2).merge(table.cell(2, 2)).text = "tall"  # down two rows
    nested = table.cell(2, 0).add_table(rows=2, cols=1)
    nested.cell(0, 0).text = "inner A"
    nested.cell(1, 0).text = "inner B"
    document.add_paragraph("")
    w = nsdecls("w")
    body = document.element.body
    section_properties = body[-1]  # new block content goes before it
    # A block content control, an inline one and tracked changes: text Word shows.
    section_properties.addprevious(
        parse_xml(
            f"<w:sdt {w}><w:sdtContent><w:p><w:r><w:t>In a content control</w:t></w:r>"
            "</w:p></w:sdtContent></w:sdt>"
        )
    )
    section_properties.addprevious(
        parse_xml(
            f"<w:p {w}><w:r><w:t xml:space='preserve'>Signed by </w:t></w:r>"
            "<w:sdt><w:sdtContent><w:r><w:t>Ada</w:t></w:r></w:sdtContent></w:sdt>"
            "<w:ins w:id='1' w:author='x'><w:r><w:t xml:space='preserve'> Lovelace</w:t>"
            "</w:r></w:ins><w:del w:id='2' w:author='x'><w:r><w:delText> Byron</w:delText>"
            "</w:r></w:del></w:p>"
        )
    )
    document.add_paragraph("Last\u2028paragraph")
    document.sections[0].header.paragraphs[0].text = "ACME Confidential"
    document.sections[0].footer.paragraphs[0].text = "Page footer"
    second = document.add_section(WD_SECTION.NEW_PAGE)
    second.header.is_linked_to_previous = False
    second.header.paragraphs[0].text = "ACME Confidential"  # the same text: listed once
    second.header.add_paragraph("Appendix")
    second.first_page_header.paragraphs[0].text = "Cover header"
    document.save(str(path))


def test_generated_document_lines_match_paragraphs_and_rows(tmp_path):
    path = tmp_path / "report.docx"
    _rich_document(path)
    extraction = extract_word(path)
    assert extraction.title == "Quarterly report"
    assert _lines(path) == [
        "Intro",
        "Line one still paragraph one\tafter a tab",
        "r0c0 | r0c1 | r0c2",
        "wide | tall",
        "r2c0 inner A inner B | r2c1 | tall",
        "",
        "In a content control",
        "Signed by Ada Lovelace",
        "Last paragraph",
        "",  # the paragraph holding the first section's properties
        # Section 1: header, first-page header (python-docx wrote it there, as section 2's
        # is linked to it), footer; section 2: its own header, minus the repeated line.
        "ACME Confidential",
        "Cover header",
        "Page footer",
        "Appendix",
    ]


def test_document_without_content_has_no_blocks_and_says_so(tmp_path):
    path = tmp_path / "empty.docx"
    docx.Document().save(str(path))
    extraction = extract_word(path)
    assert list(extraction.blocks) == []
    assert extraction.warnings == ["document has no text"]


def test_truncated_and_fake_word_files_fail_clearly(tmp_path):
    data = (DATA / "hdr-header-footer.docx").read_bytes()
    cut = tmp_path / "cut.docx"
    cut.write_bytes(data[: len(data) // 2])
    with pytest.raises(ExtractionError, match=r"^corrupt or truncated Word file: \S"):
        extract_word(cut)
    text = tmp_path / "notes.docx"
    text.write_text("plain words\n")
    with pytest.raises(ExtractionError, match=r"^corrupt or truncated Word file: not a valid zip"):
        extract_word(text)
    other_zip = tmp_path / "archive.docx"
    with zipfile.ZipFile(other_zip, "w") as archive:
        archive.writestr("readme.txt", "not a Word document")
    with pytest.raises(ExtractionError, match=r"^corrupt or truncated Word file: \S"):
        extract_word(other_zip)


def test_password_protected_word_file_fails_with_that_reason(tmp_path):
    protected = tmp_path / "secret.docx"  # encrypted .docx files are OLE compound files
    protected.write_bytes(b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1" + bytes(4096))
    with pytest.raises(ExtractionError) as failure:
        extract_word(protected)
    assert failure.value.message == (
        "password-protected or legacy-format Word file: save it as an unprotected .docx"
    )


def test_extraction_crosses_process_boundaries():
    extraction = extract_word(DATA / "blk-paras-and-tables.docx")
    assert list(pickle.loads(pickle.dumps(extraction)).blocks) == list(extraction.blocks)
