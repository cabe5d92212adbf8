import logging

import docx
import pytest

from rlm_desktop.bench.pdfgen import write_text_pdf
from rlm_desktop.ingest.chunking import chunk_blocks
from rlm_desktop.ingest.model import ExtractionError
from rlm_desktop.ingest.pdf import extract_pdf
from rlm_desktop.ingest.word import extract_word
from tests.conftest import DATA, SAMPLES


def test_pdf_pages_keep_their_numbers_and_labels():
    extraction = extract_pdf(DATA / "pdflatex-4-pages.pdf")
    assert extraction.pages == 4 and len(extraction.blocks) == 4
    assert [b.page for b in extraction.blocks] == [1, 2, 3, 4]
    assert [b.page_label for b in extraction.blocks] == ["1", "2", "3", "4"]
    assert extraction.blocks[1].text.startswith("information. Really? Is there no information?")
    assert all(b.text.endswith("\n\n") for b in extraction.blocks)
    passages = list(chunk_blocks(extraction.blocks))
    assert {p.page for p in passages} == {1, 2, 3, 4}
    for passage in passages:
        assert passage.text in extraction.blocks[passage.page - 1].text


def test_password_protected_pdf_fails_with_that_reason():
    with pytest.raises(ExtractionError, match="password-protected PDF"):
        extract_pdf(DATA / "libreoffice-writer-password.pdf")


def test_empty_password_pdf_is_read(tmp_path):
    from pypdf import PdfReader, PdfWriter

    writer = PdfWriter(clone_from=PdfReader(DATA / "pdflatex-4-pages.pdf"))
    writer.encrypt(user_password="", owner_password="owner", algorithm="AES-128")
    path = tmp_path / "locked-but-open.pdf"
    with open(path, "wb") as handle:
        writer.write(handle)
    assert "Is there no information?" in extract_pdf(path).blocks[1].text


def test_truncated_and_fake_pdfs_fail_clearly(tmp_path):
    data = (DATA / "pdflatex-4-pages.pdf").read_bytes()
    cut = tmp_path / "cut.pdf"
    cut.write_bytes(data[: len(data) // 2])
    with pytest.raises(ExtractionError, match="corrupt or truncated PDF"):
        extract_pdf(cut)
    fake = tmp_path / "fake.pdf"
    fake.write_text("just some words")
    with pytest.raises(ExtractionError, match="not a PDF"):
        extract_pdf(fake)


def test_pages_without_text_are_named_in_one_warning(tmp_path, capsys, caplog):
    path = tmp_path / "scan.pdf"
    write_text_pdf(path, ["hello", None, "world", None, None])
    with caplog.at_level(logging.WARNING):
        extraction = extract_pdf(path)
    assert extraction.warnings == [
        "pages 2, 4-5 have no text layer (scanned images?); they were not OCR'd"
    ]
    assert [b.text for b in extraction.blocks] == ["hello\n\n", "\n", "world\n\n", "\n", "\n"]
    captured = capsys.readouterr()
    assert captured.err == "" and captured.out == ""


def test_word_paragraphs_tables_and_headers_become_lines_in_order(tmp_path):
    document = docx.Document()
    document.add_paragraph("Quarterly report")
    document.add_paragraph("Line one\nstill paragraph one")
    table = document.add_table(rows=2, cols=3)
    for r, row in enumerate(table.rows):
        for c, cell in enumerate(row.cells):
            cell.text = f"r{r}c{c}"
    merged = table.cell(1, 0).merge(table.cell(1, 1))
    merged.text = "merged"
    document.add_paragraph("After the table")
    document.sections[0].header.paragraphs[0].text = "ACME Confidential"
    document.sections[0].footer.paragraphs[0].text = "Page footer"
    document.core_properties.title = "Q3 Report"
    path = tmp_path / "report.docx"
    document.save(path)
    extraction = extract_word(path)
    assert extraction.title == "Q3 Report"
    lines = extraction.blocks[0].text.split("\n")
    assert lines[:6] == [
        "Quarterly report",
        "Line one still paragraph one",
        "r0c0 | r0c1 | r0c2",
        "merged | r1c2",
        "After the table",
        "ACME Confidential",
    ]
    assert lines[6:] == ["Page footer", ""]


def test_word_headers_and_footers_appear_once():
    text = extract_word(DATA / "hdr-header-footer.docx").blocks[0].text
    assert text.count("Header for section-1") == 1
    assert text.count("Footer for section 1") == 1


def test_sample_word_file_reads_its_paragraphs():
    text = extract_word(SAMPLES / "blk-paras-and-tables.docx").blocks[0].text
    assert "Lorem ipsum dolor sit amet, consectetur adipiscing elit.\n" in text


def test_corrupt_and_protected_word_files_fail_clearly(tmp_path):
    data = (DATA / "hdr-header-footer.docx").read_bytes()
    cut = tmp_path / "cut.docx"
    cut.write_bytes(data[: len(data) // 2])
    with pytest.raises(ExtractionError, match="corrupt or truncated Word file"):
        extract_word(cut)
    protected = tmp_path / "secret.docx"
    protected.write_bytes(b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1" + bytes(512))
    with pytest.raises(ExtractionError, match="password-protected"):
        extract_word(protected)
