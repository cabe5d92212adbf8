"""End to end: the real demo GGUF through llama.cpp, and a scripted run on 10M tokens."""

import json
import random
import shutil

import pytest
from click.testing import CliRunner

from rlm_desktop import RLM
from rlm_desktop.bench.ingest_bench import make_big_log
from rlm_desktop.cli import cli
from rlm_desktop.ingest import pipeline
from rlm_desktop.rlm.budget import Budget
from rlm_desktop.store import Library
from tests.conftest import SAMPLES


@pytest.mark.slow
def test_the_demo_model_completes_a_run_within_its_budget(tmp_path):
    shutil.copytree(SAMPLES, tmp_path / "docs")
    runner = CliRunner()
    result = runner.invoke(
        cli,
        [
            "ask",
            "Which user names appear in invalid user attempts?",
            "--library",
            str(tmp_path / "lib"),
            "--docs",
            str(tmp_path / "docs"),
            "--model",
            "demo",
            "--max-iterations",
            "2",
            "--max-subcalls",
            "4",
            "--timeout",
            "240",
            "--json",
        ],
    )
    assert result.exit_code == 0, result.output
    data = json.loads(result.output[result.output.index("{") :])
    assert data["answer"].strip()
    assert data["stop_reason"] in ("final", "max_iterations", "error")
    assert data["usage"]["subcalls"] <= 4
    assert data["usage"]["total"]["calls"] >= 2
    assert all(
        set(c)
        >= {"n", "path", "page", "line_start", "line_end", "start", "end", "snippet", "verified"}
        for c in data["citations"]
    )
    assert data["models"]["root"] == "demo" and data["run_id"] == 1
    listed = json.loads(
        runner.invoke(cli, ["history", "--library", str(tmp_path / "lib"), "--json"]).output
    )
    assert listed[0]["question"].startswith("Which user names")


@pytest.mark.slow
def test_a_scripted_strategy_finds_a_needle_in_ten_million_tokens(tmp_path):
    docs = tmp_path / "docs"
    docs.mkdir()
    rng = random.Random(11)
    for i in range(10):
        make_big_log(docs / f"node-{i}.log", 4 * 1024 * 1024, seed=i)
    target = docs / f"node-{rng.randrange(10)}.log"
    lines = target.read_text().splitlines(keepends=True)
    depth = rng.randrange(len(lines))
    needle = "2026-11-02 11:04:05 INFO vault: the special magic number for KEY-7Q is 7261935\n"
    lines.insert(depth, needle)
    target.write_text("".join(lines))
    with Library(tmp_path / "lib") as lib:
        pipeline.ingest(lib, [docs])
        assert sum(d.chars for d in lib.documents()) > 40_000_000  # ~10M tokens
    script = tmp_path / "needle.json"
    script.write_text(
        json.dumps(
            {
                "root": [
                    "```repl\nhits = context.grep(r'special magic number for KEY-7Q')\n"
                    "print(len(hits), hits[0].document, hits[0].line)\nprint(hits[0].text)\n```",
                    "```repl\nimport re\nnumber = re.search(r'is (\\d+)', hits[0].text).group(1)\n"
                    "FINAL(number + ' ' + cite(hits[0].text))\n```",
                ],
                "sub": [],
            }
        )
    )
    rlm = RLM(f"replay:{script}", budget=Budget(max_iterations=3))
    result = rlm.completion("What is the special magic number for KEY-7Q?", tmp_path / "lib")
    assert result.answer == "7261935 [1]"
    (citation,) = result.citations
    assert citation.verified and citation.path == str(target)
    assert citation.line_start == depth + 1
    assert any(e["path"] == str(target) and e["line_start"] == depth + 1 for e in result.explored)
