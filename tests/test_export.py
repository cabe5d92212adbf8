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
from rlm_desktop.export import ExportRun
from rlm_desktop.export.writers import to_html, to_markdown
from rlm_desktop.ingest import pipeline
from rlm_desktop.records import Span
from rlm_desktop.rlm.citations import Citation
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
        " + ' and ' + cite('words that nobody ever wrote down'))"
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
    assert "lines 2-2" in text and "✗ not found" in text and "UNVERIFIED" not in text
    assert "What colour is the key?" in text
    assert "Models: root replay:" in text and "mode rlm; budget: iterations 12" in text
    assert "protocol paper; " in text


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
    assert "Thevaultkeyisblue." in squeezed and "notfound" in squeezed
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


# ---------------------------------------------------------------------- statuses and outcomes
#
# A run built by hand (no model): one citation of each status, two with a support verdict,
# passages read by the root and by a sub-call, and a fallback outcome with its note.

NOTE = (
    "answered by the built-in search-then-read strategy because the model wrote no "
    "runnable code in 3 replies"
)
STATUS_WORDS = {
    "read": "✓ read",
    "in-library": "○ in library, not read",
    "not-found": "✗ not found",
    "too-short": "– too short",
}


def four_citations() -> list[dict]:
    """One citation record of each status, as runs save them."""
    pdf = Span("/docs/report.pdf", "report.pdf", 3, "iii", 1, 1, 30, 52)
    log = Span("/docs/web.log", "web.log", None, None, 2, 2, 11, 32)
    return [
        Citation(1, "The vault key is blue.", "read", pdf, "supports").to_json(),
        Citation(2, "WARN disk almost full", "in-library", log, "does not support").to_json(),
        Citation(3, "words nobody wrote", "not-found").to_json(),
        Citation(4, "yes", "too-short").to_json(),
    ]


def four_status_run(**changes) -> dict:
    """A saved run's record (``Library.save_run``) with every status and a fallback note."""
    explored = [
        {
            **Span("/docs/report.pdf", "report.pdf", 3, "iii", 1, 2, 0, 80).to_json(),
            "via": "printed",
            "reader": "root",
            "depth": 0,
            "occurrences": 1,
        },
        {
            **Span("/docs/web.log", "web.log", None, None, 7, 7, 300, 340).to_json(),
            "via": "subcall",
            "reader": "sub-call",
            "depth": 1,
            "occurrences": 3,
        },
    ]
    record = {
        "conversation": "c-statuses",
        "question": "What colour is the key?",
        "answer": "The key is blue [1]; the log warns [2]; also [3] and [4].",
        "stop_reason": "final",
        "fallback": 1,
        "outcome": "fallback",
        "note": NOTE,
        "mode": "rlm",
        "models": {"root": "replay:x.json", "sub": "replay:x.json"},
        "citations": four_citations(),
        "explored": explored,
        "usage": {
            "total": {"calls": 3, "prompt_tokens": 900, "completion_tokens": 60},
            "subcalls": 1,
            "seconds": 1.5,
        },
        "settings": {"budget": {"max_iterations": 12}},
        "events": [],
    }
    return {**record, **changes}


@pytest.fixture
def saved_statuses(tmp_path):
    """A library holding the hand-built run."""
    with Library(tmp_path / "lib") as library:
        library.save_run(four_status_run())
    return tmp_path / "lib"


def _check_statuses(text):
    for words in STATUS_WORDS.values():
        assert words in text
    assert "· supports" in text and "· does not support" in text and "· not checked" not in text
    assert NOTE in text
    # The note introduces the answer; the old fallback and stop lines are gone.
    assert text.index(NOTE) < text.index("The key is blue")
    assert "fallback strategy" not in text and "Stopped by" not in text
    assert "report.pdf" in text and "page 3" in text and "printed iii" in text
    assert "web.log" in text and "lines 2-2" in text


def test_markdown_shows_each_status_and_the_note(saved_statuses, tmp_path):
    text = _export(saved_statuses, "md", tmp_path / "s.md").read_text()
    _check_statuses(text)
    assert f"_{NOTE}_" in text
    assert (
        "**✓ read** · supports" in text and "**○ in library, not read** · does not support" in text
    )


def test_html_shows_each_status_coloured_and_the_note(saved_statuses, tmp_path):
    page = _export(saved_statuses, "html", tmp_path / "s.html").read_text()
    parser = _Text()
    parser.feed(page)
    _check_statuses("".join(parser.parts))
    for status, words in STATUS_WORDS.items():
        assert f"<span class='status status-{status}'>{words}</span>" in page
    assert f"<p class='note'>{NOTE}</p>" in page
    assert "✓" not in page.replace("<span class='status status-read'>✓ read</span>", "")


def test_word_shows_each_status_and_the_note(saved_statuses, tmp_path):
    document = docx.Document(str(_export(saved_statuses, "docx", tmp_path / "s.docx")))
    _check_statuses("\n".join(p.text for p in document.paragraphs))
    colours = {
        str(run.font.color.rgb)
        for p in document.paragraphs
        for run in p.runs
        if run.text in STATUS_WORDS.values()
    }
    assert len(colours) == 4  # each status has its own colour


def test_pdf_shows_each_status_and_the_note(saved_statuses, tmp_path):
    reader = PdfReader(str(_export(saved_statuses, "pdf", tmp_path / "s.pdf")))
    squeezed = re.sub(r"\s+", "", "\n".join(page.extract_text() for page in reader.pages))
    for words in ("read", "inlibrary,notread", "notfound", "tooshort", "doesnotsupport"):
        assert words in squeezed
    assert re.sub(r"\s+", "", NOTE) in squeezed


def test_runs_saved_before_statuses_and_outcomes_still_export():
    old = four_status_run(
        citations=[
            {**four_citations()[0], "status": None, "support": None},  # read by the v1 check
            {"n": 3, "snippet": "words nobody wrote", "verified": False},
        ],
        stop_reason="max_iterations",
        fallback=False,
    )
    del old["outcome"], old["note"]
    run = ExportRun.from_saved({**old, "id": 1, "created_at": "2026-01-01 10:00"})
    assert (run.outcome, run.note) == ("best-effort", "a best-effort answer")
    text = to_markdown([run])
    assert "**○ in library, not read**" in text and "**✗ not found**" in text
    assert "_a best-effort answer_" in text and "stop reason: max_iterations" in text
    assert "✓" not in text  # a v1 "verified" quote was never proven read


def test_a_plain_answer_has_no_note():
    run = ExportRun.from_saved(
        {**four_status_run(outcome="answer", note="", fallback=0), "id": 2, "created_at": "x"}
    )
    assert run.note == ""
    page = to_html([run])
    assert "class='note'" not in page and "stop reason" not in page
