"""Exports round-trip: every citation's snippet, document and place survive in each format."""

import hashlib
import json
import re
from html.parser import HTMLParser

import docx
import pytest
from click.testing import CliRunner
from pypdf import PdfReader

from rlm_desktop import RLM
from rlm_desktop.bench.pdfgen import write_text_pdf
from rlm_desktop.cli import cli
from rlm_desktop.ingest import pipeline
from rlm_desktop.store import Library

HOSTILE = '2026-11-01 12:00:00 WARN <script>alert("x")</script> | col1 | col2 \x1b[31mred'
RTL = "שלום עולם — הודעת מערכת"
LONG = "long line " * 120


class _Text(HTMLParser):
    def __init__(self):
        super().__init__()
        self.parts = []

    def handle_data(self, data):
        self.parts.append(data)


@pytest.fixture(scope="module")
def library_with_a_run(tmp_path_factory):
    folder = tmp_path_factory.mktemp("export")
    docs = folder / "docs"
    docs.mkdir()
    (docs / "web.log").write_text(f"first line\n{HOSTILE}\n{RTL}\n{LONG.strip()}\n")
    write_text_pdf(docs / "report.pdf", ["Intro page.", "Second page.", "The vault key is blue."])
    with Library(folder / "lib") as lib:
        pipeline.ingest(lib, [docs])
    script = folder / "script.json"
    code = (
        "FINAL('The key is blue ' + cite('The vault key is blue.') + ', the log warns '"
        f" + cite({HOSTILE!r}) + ' ' + cite({RTL!r}) + ' ' + cite({LONG.strip()!r})"
        " + ' and ' + cite('words nobody wrote'))"
    )
    script.write_text(json.dumps({"root": [f"```repl\n{code}\n```"], "sub": []}))
    result = RLM(f"replay:{script}").completion("What colour is the key?", folder / "lib")
    assert [c.verified for c in result.citations] == [True, True, True, True, False]
    return folder / "lib", result


def _export(lib, fmt, path, *extra):
    result = CliRunner().invoke(
        cli, ["export", "--last", "--format", fmt, "-o", str(path), "--library", str(lib), *extra]
    )
    assert result.exit_code == 0, result.output
    return path


def _check_text(text, result):
    for c in result.citations:
        assert c.snippet.replace("\x1b", "\\x1b") in text  # control characters made visible
    assert "report.pdf" in text and "page 3" in text and "web.log" in text
    assert "lines 2-2" in text and "UNVERIFIED" in text
    assert "What colour is the key?" in text
    assert "Models: root replay:" in text and "mode rlm; budget: iterations 12" in text


def test_markdown_keeps_hostile_snippets_intact(library_with_a_run, tmp_path):
    lib, result = library_with_a_run
    text = _export(lib, "md", tmp_path / "a.md").read_text()
    _check_text(text, result)
    assert "](#run-1-cite-1)" in text  # markers link to their entries
    assert "\x1b" not in text


def test_html_escapes_and_links(library_with_a_run, tmp_path):
    lib, result = library_with_a_run
    page = _export(lib, "html", tmp_path / "a.html").read_text()
    assert "<script>alert" not in page and "&lt;script&gt;" in page
    assert "href='#run-1-cite-2'" in page and "id='run-1-cite-2'" in page
    assert "dir='auto'" in page
    parser = _Text()
    parser.feed(page)
    _check_text("".join(parser.parts), result)


def test_word_export_round_trips(library_with_a_run, tmp_path):
    lib, result = library_with_a_run
    document = docx.Document(str(_export(lib, "docx", tmp_path / "a.docx")))
    _check_text("\n".join(p.text for p in document.paragraphs), result)


def test_pdf_export_round_trips(library_with_a_run, tmp_path):
    lib, _result = library_with_a_run
    reader = PdfReader(str(_export(lib, "pdf", tmp_path / "a.pdf")))
    text = "\n".join(page.extract_text() for page in reader.pages)
    # pypdf puts spaces where glyphs are positioned apart (quotes, wrapped lines): compare
    # without whitespace.
    squeezed = re.sub(r"\s+", "", text)
    assert 'WARN<script>alert("x")</script>|col1|col2' in squeezed
    assert "Thevaultkeyisblue." in squeezed and "UNVERIFIED" in squeezed
    assert "report.pdf" in squeezed and "page3" in squeezed
    assert squeezed.count("longline") >= 120  # a very long snippet is shown in full, wrapped


def test_the_trajectory_appendix_and_the_whole_history(library_with_a_run, tmp_path):
    lib, _result = library_with_a_run
    text = _export(lib, "md", tmp_path / "t.md", "--trajectory").read_text()
    assert "Appendix: trajectory" in text and "FINAL('The key is blue '" in text
    everything = CliRunner().invoke(
        cli,
        [
            "export",
            "--all",
            "--format",
            "html",
            "-o",
            str(tmp_path / "all.html"),
            "--library",
            str(lib),
        ],
    )
    assert everything.exit_code == 0 and "wrote 1 answer" in everything.output


def test_exporting_changes_nothing_and_leaks_no_key(library_with_a_run, tmp_path, monkeypatch):
    lib, _ = library_with_a_run
    monkeypatch.setenv("OPENAI_API_KEY", "sk-export-secret")
    before = hashlib.sha256((lib / "library.db").read_bytes()).hexdigest()
    for fmt in ("md", "html", "docx"):
        data = _export(lib, fmt, tmp_path / f"x.{fmt}").read_bytes()
        assert b"sk-export-secret" not in data
    assert hashlib.sha256((lib / "library.db").read_bytes()).hexdigest() == before


def test_export_needs_exactly_one_selection(library_with_a_run, tmp_path):
    lib, _ = library_with_a_run
    result = CliRunner().invoke(
        cli, ["export", "--format", "md", "-o", str(tmp_path / "x.md"), "--library", str(lib)]
    )
    assert result.exit_code == 2 and "RUN_ID" in result.output
