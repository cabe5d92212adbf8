"""PDF extraction: one block per physical page, clear failures, pypdf kept off the console."""

from __future__ import annotations

import logging
import pickle
from pathlib import Path

import pypdf
import pytest
from pypdf import PdfReader, PdfWriter

from rlm_desktop.bench.pdfgen import write_text_pdf
from rlm_desktop.ingest.extraction import ExtractionError, IngestLimits
from rlm_desktop.ingest.pdf import extract_pdf

DATA = Path(__file__).parent / "data"
FOUR_PAGES = DATA / "pdflatex-4-pages.pdf"
NO_OCR = IngestLimits(ocr="off")  # v1's behaviour (tests/test_ocr.py covers OCR)
OCR_OFF = "OCR is off (`rlm-desktop config ocr auto` turns it on)"


def _write(writer: PdfWriter, path: Path) -> Path:
    with open(path, "wb") as handle:
        writer.write(handle)
    return path


def test_each_physical_page_is_one_block_with_its_number_and_label():
    extraction = extract_pdf(FOUR_PAGES)
    blocks = list(extraction.blocks)
    assert (extraction.kind, extraction.pages, extraction.encoding) == ("pdf", 4, None)
    assert extraction.title == "pdflatex-4-pages.pdf"  # the file has no /Title
    assert extraction.warnings == []
    assert [b.page for b in blocks] == [1, 2, 3, 4]
    # pypdf reports labels even though this file defines none: keep them.
    assert [b.page_label for b in blocks] == ["1", "2", "3", "4"]
    # Page 2 starts mid-sentence and ends with its printed page number.
    assert blocks[1].text.startswith("information. Really? Is there no information? Is there a")
    assert blocks[1].text.endswith("A blind text like this gives\n2\n\n")
    assert not any(b.text.startswith("information. Really?") for b in blocks if b.page != 2)
    for number, block in enumerate(blocks, 1):
        assert block.text.endswith(f"\n{number}\n\n")


def test_blocks_end_with_a_blank_line_or_are_empty_pages(tmp_path):
    path = tmp_path / "mixed.pdf"
    write_text_pdf(path, ["first page\nsecond line", None, "last\n"])
    blocks = list(extract_pdf(path).blocks)
    assert [b.text for b in blocks] == ["first page\nsecond line\n\n", "\n", "last\n\n"]
    for block in [*blocks, *extract_pdf(FOUR_PAGES).blocks]:
        assert block.text == "\n" or block.text.endswith("\n\n")


def test_title_comes_from_the_metadata(tmp_path):
    path = tmp_path / "report.pdf"
    write_text_pdf(path, ["body"], title="Annual report (draft) – 2024")
    assert extract_pdf(path).title == "Annual report (draft) – 2024"


def test_page_labels_defined_by_the_pdf_are_kept(tmp_path):
    source = tmp_path / "plain.pdf"
    write_text_pdf(source, ["preface", "contents", "chapter one", "chapter two"])
    writer = PdfWriter(clone_from=PdfReader(source))
    writer.set_page_label(0, 1, style="/r")
    writer.set_page_label(2, 3, style="/D")
    blocks = list(extract_pdf(_write(writer, tmp_path / "labelled.pdf")).blocks)
    assert [(b.page, b.page_label) for b in blocks] == [(1, "i"), (2, "ii"), (3, "1"), (4, "2")]
    assert blocks[2].text == "chapter one\n\n"


def test_password_protected_pdf_fails_with_that_reason():
    with pytest.raises(ExtractionError) as failure:
        extract_pdf(DATA / "libreoffice-writer-password.pdf")
    assert failure.value.message == (
        "password-protected PDF: it cannot be read without its password"
    )
    assert failure.value.status == "failed"


def test_pdf_encrypted_with_an_empty_password_is_read(tmp_path):
    writer = PdfWriter(clone_from=PdfReader(FOUR_PAGES))
    writer.encrypt(user_password="", owner_password="owner", algorithm="AES-128")
    path = _write(writer, tmp_path / "no-printing.pdf")
    assert PdfReader(path).is_encrypted
    blocks = list(extract_pdf(path).blocks)
    assert len(blocks) == 4
    assert blocks[1].text.startswith("information. Really? Is there no information?")


def test_truncated_pdf_fails_clearly(tmp_path):
    data = FOUR_PAGES.read_bytes()
    cut = tmp_path / "cut.pdf"
    cut.write_bytes(data[: len(data) // 2])
    with pytest.raises(ExtractionError, match=r"^corrupt or truncated PDF: \S"):
        extract_pdf(cut)


def test_other_files_named_pdf_fail_clearly(tmp_path):
    fake = tmp_path / "notes.pdf"
    fake.write_text("just some words, not a PDF at all\n")
    with pytest.raises(ExtractionError, match=r"^not a PDF file \(no %PDF header\)$"):
        extract_pdf(fake)
    with pytest.raises(ExtractionError, match=r"^cannot read"):
        extract_pdf(tmp_path / "missing.pdf")


def test_pages_without_text_are_named_in_one_warning(tmp_path, capsys, caplog):
    path = tmp_path / "scan.pdf"
    write_text_pdf(path, ["hello", None, "world", None])
    with caplog.at_level(logging.DEBUG):
        extraction = extract_pdf(path, NO_OCR)
    assert extraction.warnings == [
        f"pages 2, 4 have no text layer (scanned images?); they were not OCR'd: {OCR_OFF}"
    ]
    assert extraction.ocr.pending == 2
    assert [b.text for b in extraction.blocks] == ["hello\n\n", "\n", "world\n\n", "\n"]
    assert [b.page for b in extraction.blocks] == [1, 2, 3, 4]
    assert capsys.readouterr() == ("", "")

    write_text_pdf(path, ["a", None, None, None, "b", "  \n  ", None])
    assert extract_pdf(path, NO_OCR).warnings == [
        f"pages 2-4, 6-7 have no text layer (scanned images?); they were not OCR'd: {OCR_OFF}"
    ]
    write_text_pdf(path, ["a", None])
    assert extract_pdf(path, NO_OCR).warnings == [
        f"page 2 has no text layer (scanned image?); it was not OCR'd: {OCR_OFF}"
    ]


def test_pypdf_warnings_become_document_warnings_not_console_output(tmp_path, capsys, caplog):
    path = tmp_path / "bad-xref.pdf"
    write_text_pdf(path, ["alpha", "beta"])
    data = path.read_bytes()
    cut = data.rindex(b"startxref\n")
    path.write_bytes(data[:cut] + b"startxref\n12\n%%EOF\n")  # points at the wrong offset
    pypdf_logger = logging.getLogger("pypdf")
    before = (pypdf_logger.propagate, list(pypdf_logger.handlers), pypdf_logger.level)
    with caplog.at_level(logging.DEBUG):
        extraction = extract_pdf(path)
    assert [b.text for b in extraction.blocks] == ["alpha\n\n", "beta\n\n"]
    assert any("startxref" in w for w in extraction.warnings)
    assert not [r for r in caplog.records if r.name.startswith("pypdf")]
    assert capsys.readouterr() == ("", "")
    assert (pypdf_logger.propagate, list(pypdf_logger.handlers), pypdf_logger.level) == before


def test_a_failing_page_is_reported_and_the_others_kept(tmp_path, monkeypatch, capsys):
    path = tmp_path / "three.pdf"
    write_text_pdf(path, ["one", "two", "three"])
    real = pypdf.PageObject.extract_text
    noisy = logging.getLogger("pypdf._page")

    def flaky(self, *args, **kwargs):
        for i in range(15):  # 30 distinct messages over the pages, each logged twice
            noisy.warning("odd operator %d on %s", i, real(self).strip())
            noisy.warning("odd operator %d on %s", i, real(self).strip())
        if real(self).strip() == "two":
            raise KeyError("/Font")
        return real(self, *args, **kwargs)

    monkeypatch.setattr(pypdf.PageObject, "extract_text", flaky)
    extraction = extract_pdf(path, NO_OCR)
    assert [b.text for b in extraction.blocks] == ["one\n\n", "\n", "three\n\n"]
    assert extraction.warnings[0] == "page 2: text could not be extracted ('/Font')"
    assert extraction.warnings[1:3] == ["odd operator 0 on one", "odd operator 1 on one"]
    # 1 page failure + 45 distinct pypdf messages: 20 kept, 26 counted.
    assert len(extraction.warnings) == 21
    assert extraction.warnings[-1] == "... and 26 more warnings"
    assert capsys.readouterr() == ("", "")


def test_extraction_crosses_process_boundaries():
    extraction = extract_pdf(FOUR_PAGES)
    copy = pickle.loads(pickle.dumps(extraction))
    assert list(copy.blocks) == list(extraction.blocks)


def test_generated_pdf_reads_back_exactly_and_without_warnings(tmp_path, caplog):
    lines = ["Plain line", r"Parens (a) and \backslash\ and ) (", "Latin-1: café, naïve, £5 ±"]
    path = tmp_path / "generated.pdf"
    write_text_pdf(path, ["\n".join(lines), None, ""], title="Généré")
    with caplog.at_level(logging.DEBUG, logger="pypdf"):
        reader = PdfReader(path, strict=True)
        texts = [page.extract_text() for page in reader.pages]
    assert texts == ["\n".join(lines), "", ""]
    assert reader.metadata.title == "Généré"
    assert not caplog.records


def test_passages_cut_from_a_pdf_stay_within_the_page_they_came_from():
    from rlm_desktop.ingest.chunking import chunk_blocks

    extraction = extract_pdf(DATA / "pdflatex-4-pages.pdf")
    passages = list(chunk_blocks(extraction.blocks))
    assert {p.page for p in passages} == {1, 2, 3, 4}
    for passage in passages:
        assert passage.text in extraction.blocks[passage.page - 1].text
