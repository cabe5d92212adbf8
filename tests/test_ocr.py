"""OCR: scanned PDFs and images become searchable and citable text, page-true, line by line.

The tests that read pages need the ``ocr`` extra (the README's setup commands install it);
without it they are skipped, and the tests of what the app says instead still run.
"""

from __future__ import annotations

import json
import threading
from pathlib import Path

import pytest

from rlm_desktop.export.content import location
from rlm_desktop.ingest import pipeline
from rlm_desktop.ingest.extraction import IngestLimits, ReadCancelled, ReadHooks
from rlm_desktop.ingest.ocr import INSTALL_COMMAND, unavailable
from rlm_desktop.ingest.scanned import garbled
from rlm_desktop.records import Span
from rlm_desktop.rlm.citations import Citation
from rlm_desktop.store.documents import OcrLine, lines_covering, ocr_page_label, split_page_label
from tests.conftest import passages_tile

needs_ocr = pytest.mark.skipif(
    unavailable("eng") is not None,
    reason=f"the OCR extra is not installed ({unavailable('eng')})",
)

LEASE = [
    ["MEMORANDUM OF LEASE", "", "The tenant shall pay a monthly rent of 1,450 euros."],
    [
        "SECTION 7: TERMINATION",
        "",
        "Either party may end this lease with a notice period of",
        "three months, given in writing to the other party.",
    ],
]
RECEIPT = ["RECEIPT 4471", "", "Paid in full: 312.50 euros for roof repair."]


def _scan(path: Path, pages: list[list[str]], **kwargs) -> Path:
    from rlm_desktop.bench.scangen import draw_page, write_scanned_images, write_scanned_pdf

    images = [draw_page(lines, points=14, **kwargs) for lines in pages]
    if path.suffix == ".pdf":
        write_scanned_pdf(path, images)
    else:
        write_scanned_images(path, images)
    return path


@pytest.fixture
def scans(tmp_path):
    folder = tmp_path / "scans"
    folder.mkdir()
    _scan(folder / "lease-scan.pdf", LEASE, noise=0.001, angle=0.4)
    return folder


# ---------------------------------------------------------------- no engine needed


def test_a_text_layer_of_unmapped_glyphs_is_garbage_and_real_text_is_not():
    assert garbled("\ufffd\ufffd\x01\x02\ue000\ue001 ab")
    assert not garbled("Quarterly report, page 3: revenue up 7 %")
    assert not garbled("Résumé — naïve café, Ελληνικά, 日本語")
    assert not garbled("   \n  ")  # empty is "no text layer", not garbage


def test_the_ocr_mark_lives_in_the_page_label_and_citations_say_it():
    assert ocr_page_label(None) == "OCR" and ocr_page_label("iv") == "iv, OCR"
    assert split_page_label("OCR") == (None, True)
    assert split_page_label("iv, OCR") == ("iv", True)
    assert split_page_label("iv") == ("iv", False) and split_page_label(None) == (None, False)

    def cited(page_label):
        span = Span("/d/scan.pdf", "scan.pdf", 3, page_label, 10, 12, 0, 5)
        return location(Citation(1, "quote", "read", span))

    assert cited("OCR") == "page 3 (OCR), lines 10-12"
    assert cited("iv, OCR") == "page 3 (printed iv, OCR), lines 10-12"
    assert cited("iv") == "page 3 (printed iv), lines 10-12"


def test_the_lines_a_passage_covers_are_found_by_offsets_or_by_its_words():
    def line(start, end):
        return OcrLine(1, start, end, 0.1, start / 100, 0.9, start / 100 + 0.01, 0.9)

    page = [
        (line(0, 20), "SECTION 7: TERMINATION"),
        (line(22, 70), "Either party may end this lease with a notice"),
        (line(71, 110), "period of three months, given in writing."),
    ]
    assert [ln.start for ln in lines_covering(page, start=30, end=80)] == [22, 71]
    quote = "may end this lease with a notice period of three"
    assert [ln.start for ln in lines_covering(page, snippet=quote)] == [22, 71]
    assert [ln.start for ln in lines_covering(page, snippet="section 7:")] == [0]
    assert lines_covering(page, snippet="not on this page at all") == []


def test_without_the_extra_scans_say_how_to_enable_ocr_and_images_are_skipped(
    library, tmp_path, monkeypatch
):
    from rlm_desktop.bench.pdfgen import write_text_pdf

    missing = f"OCR is not installed (tesserocr missing): `{INSTALL_COMMAND}`"
    for module in ("scanned", "pipeline"):
        monkeypatch.setattr(f"rlm_desktop.ingest.{module}.unavailable", lambda _langs: missing)
    folder = tmp_path / "docs"
    folder.mkdir()
    write_text_pdf(folder / "mixed.pdf", ["typed page", None])
    (folder / "photo.png").write_bytes(b"\x89PNG\r\n\x1a\n" + bytes(64))
    # One file at a time: read in this process, where the extra is "missing".
    files = [folder / "mixed.pdf", folder / "photo.png"]
    reports = [pipeline.ingest(library, [path]) for path in files]
    outcomes = {Path(o.path).name: o for report in reports for o in report.files}
    assert outcomes["mixed.pdf"].warnings == [
        f"page 2 has no text layer (scanned image?); it was not OCR'd: {missing}"
    ]
    assert outcomes["photo.png"].status == "skipped"
    assert outcomes["photo.png"].reason == f"an image, not read: {missing}"
    assert library.document_by_path(str(folder / "mixed.pdf")).ocr_pending == 1


# ---------------------------------------------------------------- with the engine


@needs_ocr
def test_a_scanned_pdf_is_read_page_by_page_with_each_line_boxed(scans):
    from rlm_desktop.bench.scangen import word_accuracy
    from rlm_desktop.ingest.pdf import extract_pdf

    pages_read = []
    hooks = ReadHooks(page_read=lambda page, pages: pages_read.append((page, pages)))
    extraction = extract_pdf(scans / "lease-scan.pdf", IngestLimits(), hooks)
    blocks = list(extraction.blocks)
    assert pages_read == [(1, 2), (2, 2)]
    assert [(b.page, b.page_label) for b in blocks] == [(1, "OCR"), (2, "OCR")]
    assert extraction.warnings == []
    for block, lines in zip(blocks, LEASE, strict=True):
        assert word_accuracy("\n".join(lines), block.text) >= 0.95
    ocr = extraction.ocr
    assert ocr.pages == 2 and ocr.pending == 0 and ocr.confidence > 0.8
    assert ocr.note.startswith("OCR: 2 pages, mean confidence ")
    second = [ln for ln in ocr.lines if ln.page == 2]
    notice = next(ln for ln in second if "notice period" in blocks[1].text[ln.start : ln.end])
    # The line's box is where draw_page put it: the third row of text, left margin.
    assert 0.09 < notice.left < 0.13 and notice.right > 0.5
    assert [ln.top for ln in second] == sorted(ln.top for ln in second)


@needs_ocr
def test_a_scan_ingests_ok_with_an_ocr_note_and_search_finds_its_page(library, scans):
    report = pipeline.ingest(library, [scans])
    (outcome,) = report.files
    assert (outcome.status, outcome.warnings) == ("added", [])
    assert outcome.notes and outcome.notes[0].startswith("OCR: 2 pages")
    (doc,) = library.documents()
    assert (doc.status, doc.kind, doc.pages, doc.ocr_pages) == ("ok", "pdf", 2, 2)
    assert doc.ocr_note == outcome.notes[0]
    assert passages_tile(library, doc.id)
    (hit, *_) = library.search('"notice period"')
    assert (hit.page, hit.page_label) == (2, "OCR")
    lines = library.ocr_page(doc.path, 2)
    assert any("notice period" in text for _line, text in lines)
    text = library.document_text(doc.id)
    assert all(text[ln.start : ln.end] == line_text for ln, line_text in lines)
    boxed = library.ocr_highlight(doc.path, 2, snippet="a notice period of three months")
    assert [text[ln.start : ln.end] for ln in boxed] == [
        "Either party may end this lease with a notice period of",
        "three months, given in writing to the other party.",
    ]
    assert library.ocr_highlight(doc.path, 1, snippet="nothing like it") == []

    again = pipeline.rescan(library)  # an unchanged scan is not read again
    assert [o.status for o in again.files] == ["unchanged"]


@needs_ocr
def test_images_and_multi_page_tiffs_ingest_the_same_way(library, tmp_path):
    folder = tmp_path / "images"
    folder.mkdir()
    _scan(folder / "receipt.png", [RECEIPT])
    _scan(folder / "receipt.jpg", [RECEIPT])
    _scan(folder / "lease.tiff", LEASE)
    report = pipeline.ingest(library, [folder], workers=1)
    assert {Path(o.path).name: o.status for o in report.files} == {
        "receipt.png": "added",
        "receipt.jpg": "added",
        "lease.tiff": "added",
    }
    docs = {Path(d.path).name: d for d in library.documents()}
    assert {d.kind for d in docs.values()} == {"image"}
    assert (docs["lease.tiff"].pages, docs["lease.tiff"].ocr_pages) == (2, 2)
    hits = library.search('"roof repair"')
    assert {Path(h.path).name for h in hits} == {"receipt.png", "receipt.jpg"}
    (tiff,) = [h for h in library.search("termination") if h.path.endswith(".tiff")]
    assert (tiff.page, tiff.page_label) == (2, "OCR")


@needs_ocr
def test_the_ocr_setting_turns_it_off_or_forces_it_and_a_rescan_catches_up(library, tmp_path):
    from rlm_desktop.bench.pdfgen import write_text_pdf

    folder = tmp_path / "docs"
    folder.mkdir()
    path = folder / "mixed.pdf"
    write_text_pdf(path, ["typed page one", None])
    off = pipeline.ingest(library, [folder], limits=IngestLimits(ocr="off"))
    assert "OCR is off (`rlm-desktop config ocr auto` turns it on)" in off.files[0].warnings[0]
    assert library.document_by_path(str(path)).ocr_pending == 1

    auto = pipeline.rescan(library, limits=IngestLimits(ocr="auto"))  # OCR is on now
    assert [o.status for o in auto.files] == ["updated"]
    doc = library.document_by_path(str(path))
    assert (doc.status, doc.ocr_pages, doc.ocr_pending) == ("ok", 1, 0)  # a blank page
    assert pipeline.rescan(library).files[0].status == "unchanged"

    forced = pipeline.rescan(library, limits=IngestLimits(ocr="force"))
    assert [o.status for o in forced.files] == ["updated"]
    doc = library.document_by_path(str(path))
    assert doc.ocr_pages == 2
    assert "typed page one" in library.document_text(doc.id)  # read from the image


@needs_ocr
def test_cancel_stops_between_pages_and_keeps_the_older_version(library, scans):
    pipeline.ingest(library, [scans], limits=IngestLimits(ocr="off"))
    before = library.documents()
    path = scans / "lease-scan.pdf"
    path.write_bytes(path.read_bytes() + b"\n")  # changed: it will be read again
    cancel = threading.Event()
    events = []

    def progress(event):
        events.append(event)
        if event.status == "reading":
            cancel.set()  # after the first page

    report = pipeline.ingest(library, [scans], on_progress=progress, cancel=cancel)
    assert report.cancelled
    assert [(o.status, o.reason) for o in report.files] == [
        ("skipped", "cancelled while it was read")
    ]
    assert [(e.page, e.pages) for e in events if e.status == "reading"] == [(1, 2)]
    assert library.documents() == before

    with pytest.raises(ReadCancelled):
        from rlm_desktop.ingest.pdf import extract_pdf

        extract_pdf(path, IngestLimits(), ReadHooks(cancelled=lambda: True))


@needs_ocr
def test_worker_processes_report_each_page_they_read(library, tmp_path):
    folder = tmp_path / "scans"
    folder.mkdir()
    _scan(folder / "a.pdf", LEASE)
    _scan(folder / "b.pdf", [RECEIPT])
    events = []
    report = pipeline.ingest(library, [folder], on_progress=events.append, workers=2)
    assert sorted(o.status for o in report.files) == ["added", "added"]
    pages = {(Path(e.path).name, e.page, e.pages) for e in events if e.status == "reading"}
    assert pages == {("a.pdf", 1, 2), ("a.pdf", 2, 2), ("b.pdf", 1, 1)}


@needs_ocr
def test_ask_cites_a_scanned_page_as_read_with_its_ocr_page(library, scans, tmp_path):
    from rlm_desktop.rlm.engine import RLM

    pipeline.ingest(library, [scans])
    script = tmp_path / "script.json"
    root = [
        "```repl\nhits = context.grep('notice period')\nprint(hits[0].text)\n```",
        "```repl\nFINAL('Three months notice ' + cite(hits[0].text.strip()))\n```",
    ]
    script.write_text(json.dumps({"root": root, "sub": []}))
    result = RLM(f"replay:{script}").completion("How can the lease end?", library.folder)
    (citation,) = result.citations
    assert citation.status == "read"
    assert (citation.page, citation.page_label) == (2, "OCR")
    assert location(citation).startswith("page 2 (OCR), lines ")


@needs_ocr
def test_the_viewer_boxes_the_cited_line_on_the_scanned_page(qtbot, tmp_path, scans):
    from PySide6.QtCore import Qt, QUrl

    from rlm_desktop.gui.window import MainWindow

    window = MainWindow(tmp_path / "lib", first_launch=False)
    qtbot.addWidget(window)
    window.resize(1024, 700)
    window.show()
    try:
        window.ingest([str(scans)])
        table = window.library_panel
        qtbot.waitUntil(lambda: len(table.documents.documents) == 1, timeout=30_000)
        qtbot.waitUntil(lambda: not table.progress.isVisible(), timeout=30_000)
        ocr_column = table.documents.index(0, 4)
        assert table.documents.headerData(4, Qt.Orientation.Horizontal) == "OCR"
        assert ocr_column.data().endswith("%") and not table.table.isColumnHidden(4)
        script = tmp_path / "script.json"
        root = [
            "```repl\nhits = context.grep('notice period')\nprint(hits[0].text)\n```",
            "```repl\nFINAL('Three months ' + cite(hits[0].text.strip()))\n```",
        ]
        script.write_text(json.dumps({"root": root, "sub": []}))
        window.conversation.model_box.setEditText(f"replay:{script}")
        window.conversation.question.setPlainText("How can the lease end?")
        window.conversation.ask()
        qtbot.waitUntil(lambda: window.conversation.last_result is not None, timeout=60_000)
        assert "page 2 (OCR)" in window.conversation.answer.toPlainText()
        source = window.evidence.source
        window.conversation.answer.open_link(QUrl("cite:1"))
        qtbot.waitUntil(lambda: source.currentWidget() is source.scan_view, timeout=10_000)
        view = source.scan_view
        assert "Page 2, read by OCR" in view.caption.text()
        (box,) = view.boxes
        assert box.page == 2 and 0.1 < box.top < 0.2  # the third row of the second page
        qtbot.waitUntil(lambda: bool(view.box_rects()), timeout=5_000)
    finally:
        window.close()


@needs_ocr
@pytest.mark.slow
def test_the_ocr_benchmark_prints_its_two_rows_side_by_side():
    from rlm_desktop.bench.ocr_bench import run_ocr_benchmarks

    rows = run_ocr_benchmarks(quick=True)
    assert [r.name for r in rows] == ["OCR seconds per page", "OCR word accuracy"]
    speed, accuracy = rows
    assert speed.value > 0 and speed.baseline > 0 and speed.unit == "s"
    assert accuracy.met and accuracy.value >= 0.95


@needs_ocr
def test_an_ocr_engine_that_cannot_start_leaves_the_pages_pending_not_the_file_failed(
    scans, monkeypatch
):
    from rlm_desktop.ingest.pdf import extract_pdf

    def broken(_languages):
        raise OSError("libtesseract.so: cannot open shared object file")

    monkeypatch.setattr("rlm_desktop.ingest.scanned.Recognizer", broken)
    extraction = extract_pdf(scans / "lease-scan.pdf")
    assert [b.text for b in extraction.blocks] == ["\n", "\n"]
    assert extraction.ocr.pending == 2 and extraction.ocr.pages == 0
    assert any("OCR could not start (libtesseract.so" in w for w in extraction.warnings)


def test_files_stored_before_ocr_existed_are_marked_to_be_read_again(tmp_path):
    from rlm_desktop.ingest.extraction import EXTRACTOR_VERSION
    from rlm_desktop.records import Passage
    from rlm_desktop.store import DocumentMeta, Library

    folder = tmp_path / "lib"
    with Library(folder) as lib:
        note = "page 2 has no text layer (scanned image?); it was not OCR'd"
        scan = DocumentMeta("/d/scan.pdf", "pdf", 1, 1, None, "scan", EXTRACTOR_VERSION)
        scan.warnings = [note]
        lib.write_document(scan, [Passage(0, "typed\n", 0, 6, 1, 1, 1)])
        photo = DocumentMeta("/d/photo.PNG", "unknown", 1, 1, None, "", EXTRACTOR_VERSION)
        lib.record_unreadable(photo, "skipped", "not a document: a PNG image")
        text = DocumentMeta("/d/notes.txt", "text", 1, 1, None, "notes", EXTRACTOR_VERSION)
        lib.write_document(text, [Passage(0, "hello\n", 0, 6, 1, 1)])
        # Back to the schema before OCR, with the marks a v1 ingest leaves.
        for statement in (
            "DROP TABLE ocr_lines",
            "ALTER TABLE documents DROP COLUMN ocr_pages",
            "ALTER TABLE documents DROP COLUMN ocr_confidence",
            "ALTER TABLE documents DROP COLUMN ocr_pending",
            "DELETE FROM _sqlite_migrations WHERE name = '006_ocr'",
        ):
            lib.db.execute(statement)
    with Library(folder) as upgraded:
        pending = {d.path: d.ocr_pending for d in upgraded.documents()}
    assert pending == {"/d/scan.pdf": 1, "/d/photo.PNG": 1, "/d/notes.txt": 0}
