import json
import shutil
import subprocess
import sys

import pytest
from click.testing import CliRunner

from rlm_desktop.cli import cli
from rlm_desktop.settings import Settings, save_settings, settings_path
from rlm_desktop.store import Library
from tests.conftest import SAMPLES

SEARCH_KEYS = {"path", "page", "line_start", "line_end", "start", "end", "score", "snippet"}


@pytest.fixture
def run(tmp_path):
    runner = CliRunner()

    def invoke(*args: str):
        return runner.invoke(cli, [*args], catch_exceptions=False)

    return invoke


@pytest.fixture
def ingested(run, tmp_path):
    corpus = tmp_path / "docs"
    shutil.copytree(SAMPLES, corpus)
    (corpus / "broken.pdf").write_text("not a pdf")
    lib = str(tmp_path / "lib")
    result = run("ingest", str(corpus), "--library", lib, "--json")
    assert result.exit_code == 0, result.output
    return lib, corpus, json.loads(result.output)


def test_ingest_json_reports_counts_and_every_file(ingested):
    _, corpus, data = ingested
    for key in ("added", "updated", "unchanged", "removed", "failed"):
        assert isinstance(data[key], int)
    assert data["failed"] == 1 and data["added"] == len(list(corpus.iterdir())) - 1
    by_name = {f["path"].rsplit("/", 1)[-1]: f for f in data["files"]}
    assert by_name["broken.pdf"]["status"] == "failed"
    assert "not a PDF" in by_name["broken.pdf"]["reason"]
    assert by_name["Apache_2k.log"] == {
        "path": str(corpus / "Apache_2k.log"),
        "status": "added",
        "reason": "",
        "warnings": [],
        "notes": [],
    }


def test_ingest_text_summary_names_failures(run, ingested):
    lib, corpus, _ = ingested
    result = run("ingest", str(corpus), "--library", lib)
    assert result.exit_code == 0
    assert "0 added" in result.output and "unchanged" in result.output
    assert "broken.pdf" not in result.output  # unchanged: nothing new to report
    (corpus / "broken.pdf").write_text("still not a pdf, but changed")
    result = run("ingest", str(corpus), "--library", lib)
    assert "failed" in result.output and "broken.pdf: not a PDF" in result.output


def test_search_json_gives_locations(run, ingested):
    lib, corpus, _ = ingested
    result = run("search", "jk2_init", "--library", lib, "-k", "3", "--json")
    hits = json.loads(result.output)
    assert len(hits) == 3
    assert all(set(h) >= SEARCH_KEYS and h["page"] is None for h in hits)
    with open(corpus / "Apache_2k.log", encoding="utf-8") as handle:
        text = handle.read()  # as stored: every \r\n and stray \r read as a plain newline
    for hit in hits:
        assert hit["path"] == str(corpus / "Apache_2k.log")
        excerpt = text[hit["start"] : hit["end"]]
        assert "jk2_init" in excerpt
        assert excerpt.count("\n") == hit["line_end"] - hit["line_start"] + 1
        assert text.count("\n", 0, hit["start"]) + 1 == hit["line_start"]


def test_search_in_a_pdf_reports_the_page(run, ingested):
    lib, _, _ = ingested
    hits = json.loads(run("search", "multi-column", "--library", lib, "--json").output)
    pdf_hits = [h for h in hits if h["path"].endswith(".pdf")]
    assert pdf_hits and all(isinstance(h["page"], int) and h["page"] >= 1 for h in pdf_hits)


def test_search_text_output_is_readable(run, ingested):
    lib, _, _ = ingested
    result = run("search", '"authentication failure"', "--library", lib, "-k", "2")
    assert result.exit_code == 0
    assert "OpenSSH_2k.log" in result.output and "lines " in result.output
    assert "authentication failure" in result.output


def test_docs_lists_status_pages_and_errors(run, ingested):
    lib, _, _ = ingested
    docs = json.loads(run("docs", "--library", lib, "--json").output)
    by_name = {d["path"].rsplit("/", 1)[-1]: d for d in docs}
    assert by_name["pdflatex-4-pages.pdf"]["pages"] == 4
    assert by_name["broken.pdf"]["status"] == "failed"
    text = run("docs", "--library", lib).output
    assert "pdflatex-4-pages.pdf" in text and "not a PDF" in text


def test_usage_errors_exit_2_and_unwritable_library_exits_1(run, tmp_path):
    missing = run("ingest", str(tmp_path / "missing"), "--library", str(tmp_path / "lib"))
    assert missing.exit_code == 2 and "no such file or folder" in missing.output
    blocker = tmp_path / "file"
    blocker.write_text("x")
    broken = run("docs", "--library", str(blocker / "lib"))
    assert broken.exit_code == 1
    assert "cannot open the library" in broken.output
    assert len(broken.output.strip().splitlines()) == 1
    empty_query = run("search", "!!!", "--library", str(tmp_path / "lib"))
    assert empty_query.exit_code == 2


def test_ask_follows_the_saved_settings_and_an_option_overrides_them_once(run, tmp_path):
    script = tmp_path / "script.json"
    root = ["```repl\nx = 1\n```", "FINAL(best guess)"]
    script.write_text(json.dumps({"root": root, "sub": []}))
    model = f"replay:{script}"
    save_settings(Settings(model=model, mode="no-subcalls", max_iterations=1, max_depth=2))
    saved = settings_path().read_text()
    (tmp_path / "notes.txt").write_text("nothing to see here\n")
    lib = str(tmp_path / "lib")
    assert run("ingest", str(tmp_path / "notes.txt"), "--library", lib).exit_code == 0

    first = json.loads(run("ask", "Anything?", "--library", lib, "--json").stdout)
    assert (first["answer"], first["stop_reason"]) == ("best guess", "max_iterations")
    assert first["mode"] == "no-subcalls" and first["models"]["root"] == model

    again = run("ask", "Anything?", "--library", lib, "--json", "--max-iterations", "2")
    second = json.loads(again.stdout)
    assert (second["answer"], second["stop_reason"]) == ("best guess", "final")
    assert settings_path().read_text() == saved  # the option changed this run only

    with Library(lib) as library:
        runs = library.pick_runs([first["run_id"], second["run_id"]])
    budgets = [r["settings"]["budget"] for r in runs]
    assert [b["max_iterations"] for b in budgets] == [1, 2]
    assert [b["max_depth"] for b in budgets] == [2, 2]


def test_repl_takes_its_cell_timeout_from_the_settings(run, tmp_path):
    save_settings(Settings(cell_timeout_s=1))
    cell = tmp_path / "slow.py"
    cell.write_text("import time\ntime.sleep(3)\nprint('finished')\n")
    args = ("repl", "--library", str(tmp_path / "lib"), "--exec", str(cell), "--json")
    stopped = run(*args)
    assert stopped.exit_code == 1 and json.loads(stopped.stdout)["error"] == "timeout"
    finished = run(*args, "--timeout", "30")
    assert finished.exit_code == 0 and json.loads(finished.stdout)["stdout"] == "finished\n"


def test_models_lists_recent_files_and_says_why_one_cannot_be_read(run, tmp_path):
    broken = tmp_path / "broken.gguf"
    broken.write_text("not a model")
    save_settings(Settings(recent_models=[str(broken), "openai:gpt-4o-mini"]))
    listed = json.loads(run("models", "--json").stdout)["models"]
    assert [m["spec"] for m in listed] == ["demo", str(broken)]  # local files only
    assert listed[1]["status"] == "unreadable" and listed[1]["message"]
    text = run("models").stdout
    assert f"{broken} (unreadable)" in text


def test_library_defaults_to_the_data_dir_override(run, isolated_home, tmp_path):
    (tmp_path / "one.log").write_text("hello data dir\n")
    assert run("ingest", str(tmp_path / "one.log")).exit_code == 0
    assert (isolated_home / "library" / "library.db").exists()


@pytest.mark.slow
def test_the_installed_console_script_runs_the_demo(tmp_path):
    exe = shutil.which("rlm-desktop") or str(
        __import__("pathlib").Path(sys.executable).parent / "rlm-desktop"
    )
    result = subprocess.run(
        [exe, "demo", "--library", str(tmp_path / "lib")],
        capture_output=True,
        text=True,
        timeout=600,  # a real demo question: about a minute, several on a busy machine
    )
    assert result.returncode == 0, result.stderr
    assert "added" in result.stdout
    assert "OpenSSH_2k.log" in result.stdout


@pytest.mark.slow
def test_the_quick_speed_suite_runs_and_writes_json(tmp_path):
    result = CliRunner().invoke(
        cli, ["bench", "speed", "--quick", "--json", "--out", str(tmp_path)], catch_exceptions=False
    )
    assert result.exit_code == 0
    names = [r["name"] for r in json.loads((tmp_path / "speed.json").read_text())]
    assert any("pdf ingest" in n for n in names) and any("locate" in n for n in names)
    assert any("batched vs sequential, 8" in n for n in names)
    assert any("prefix" in n or "root loop" in n for n in names)
    for row in ("root reuse with sub-calls", "map_chunks occupancy", "orchestration overhead"):
        assert any(row in n for n in names), row
    assert any("warm first turn" in n for n in names)


# ---------------------------------------------------------------------- statuses and outcomes


def test_ask_prints_each_citation_status_and_the_note(capsys):
    from rlm_desktop.cli.ask import show_result
    from rlm_desktop.rlm.citations import Citation
    from rlm_desktop.rlm.engine import RLMResult
    from tests.test_export import NOTE, STATUS_WORDS, four_status_run

    run = four_status_run(stop_reason="max_iterations")
    result = RLMResult(
        answer=run["answer"],
        citations=[Citation.from_json(c) for c in run["citations"]],
        explored=run["explored"],
        usage=run["usage"],
        stop_reason=run["stop_reason"],
        fallback=True,
        best_effort=False,
        mode="rlm",
        models=run["models"],
        conversation="c-statuses",
        run_id=7,
        outcome="fallback",
        note=NOTE,
    )
    show_result(result)
    text = capsys.readouterr().out
    assert text.startswith(NOTE)  # the note introduces the answer
    for words in STATUS_WORDS.values():
        assert words in text
    assert "[1] ✓ read · supports  /docs/report.pdf, page 3 (printed iii), lines 1-1" in text
    assert "[2] ○ in library, not read · does not support  /docs/web.log, lines 2-2" in text
    assert "[3] ✗ not found\n" in text and "[4] – too short\n" in text
    assert "not checked" not in text and "UNVERIFIED" not in text
    assert "stop reason: max_iterations" in text  # secondary, in the closing line
    assert "fallback strategy" not in text and "stopped by" not in text


def test_history_lists_statuses_and_the_note(run, tmp_path):
    from tests.test_export import NOTE, four_status_run

    lib = tmp_path / "lib"
    with Library(lib) as library:
        library.save_run(four_status_run())
        old = four_status_run(stop_reason="max_iterations", fallback=0)
        del old["outcome"], old["note"]  # saved before runs recorded their outcome
        old["citations"] = [{"n": 1, "snippet": "an old unverified quote", "verified": False}]
        library.save_run(old)
    text = run("history", "--library", str(lib)).stdout
    assert (
        "fallback; citations: 1 ✓ read · 1 ○ in library, not read · 1 ✗ not found · "
        "1 – too short" in text
    )
    assert NOTE in text
    assert "best-effort; citations: 1 ✗ not found" in text and "a best-effort answer" in text
    assert "verified" not in text


def test_ask_json_keeps_each_citations_status_and_support(run, tmp_path):
    from rlm_desktop.records import CITATION_STATUSES

    (tmp_path / "notes.txt").write_text("The vault key is blue and kept in the second drawer.\n")
    lib = str(tmp_path / "lib")
    assert run("ingest", str(tmp_path / "notes.txt"), "--library", lib).exit_code == 0
    script = tmp_path / "script.json"
    code = (
        "print(context.grep('vault key')[0].text)\n"
        "FINAL('Blue ' + cite('The vault key is blue and kept in the second drawer.')"
        " + ' ' + cite('a sentence that is written nowhere at all') + ' ' + cite('blue'))"
    )
    script.write_text(json.dumps({"root": [f"```repl\n{code}\n```"], "sub": []}))
    args = ("ask", "Where is the key?", "--library", lib, "--model", f"replay:{script}")
    data = json.loads(run(*args, "--json").stdout)
    assert {"outcome", "note"} <= set(data)
    for c in data["citations"]:
        assert {"status", "verified", "support", "path", "page", "line_start"} <= set(c)
        assert c["status"] in CITATION_STATUSES
    statuses = [c["status"] for c in data["citations"]]
    assert statuses[1:] == ["not-found", "too-short"]
    text = run(*args).stdout
    for status in statuses:
        assert " ".join(CITATION_STATUSES[status][:2]) in text


def test_ask_check_support_asks_the_sub_model_once_per_citation(run, tmp_path):
    (tmp_path / "notes.txt").write_text("The vault key is blue and kept in the second drawer.\n")
    lib = str(tmp_path / "lib")
    assert run("ingest", str(tmp_path / "notes.txt"), "--library", lib).exit_code == 0
    script = tmp_path / "script.json"
    code = (
        "print(context.grep('vault key')[0].text)\n"
        "FINAL('The key is blue ' + cite('The vault key is blue and kept in the second drawer.'))"
    )
    script.write_text(json.dumps({"root": [f"```repl\n{code}\n```"] * 2, "sub": ["Yes"]}))
    args = ("ask", "Where is the key?", "--library", lib, "--model", f"replay:{script}", "--json")
    (checked,) = json.loads(run(*args, "--check-support").stdout)["citations"]
    assert (checked["status"], checked["support"]) == ("read", "supports")
    (unchecked,) = json.loads(run(*args).stdout)["citations"]
    assert unchecked["support"] == "not checked"
