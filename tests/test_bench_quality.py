"""The quality suite: generators, scorers, and small end-to-end runs (scripted and demo)."""

import json
import re
from collections import Counter

import pytest

from rlm_desktop.bench.quality import run_quality
from rlm_desktop.bench.tasks import (
    GENERATORS,
    LABELS,
    aggregation,
    needle,
    pairs,
    score_exact,
    score_number,
    score_pairs,
)


@pytest.mark.parametrize("kind", sorted(GENERATORS))
def test_generators_are_deterministic_per_seed(kind):
    first, again, other = (GENERATORS[kind](s, 4000) for s in (3, 3, 4))
    assert (first.question, first.answer, first.documents) == (
        again.question,
        again.answer,
        again.documents,
    )
    assert (first.question, first.documents) != (other.question, other.documents)


def test_the_needle_is_really_at_the_reported_depth():
    task = needle(5, 20_000)
    lines = task.documents[0][1].split("\n")
    line = lines[task.facts["line"] - 1]
    assert line == f"The special magic number for {task.facts['key']} is {task.answer}."
    assert abs((task.facts["line"] - 1) / len(lines) - task.facts["depth"]) < 0.01
    assert sum(task.facts["key"] + " is" in x for x in lines) == 1  # decoys use other keys
    assert len(task.documents[0][1]) >= 20_000 * 4


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
    task = aggregation(7, 10_000)
    rows = [line.split(" || ") for line in task.documents[0][1].splitlines()]
    recount = Counter(_label_by_rules(text) for _, _, text in rows)
    assert recount == Counter(task.facts["counts"])
    assert task.answer == str(recount[task.facts["label"]])
    assert set(task.facts["counts"]) <= set(LABELS)


def test_pairs_agree_with_a_second_method():
    task = pairs(2, 6_000)
    users: dict[str, set[str]] = {}
    for line in task.documents[0][1].splitlines():
        _, user, text = line.split(" || ")
        users.setdefault(user, set()).add(_label_by_rules(text))
    both = sorted(u for u, s in users.items() if "location" in s and "person" in s)
    expected = {(a, b) for i, a in enumerate(both) for b in both[i + 1 :]}
    found = set(re.findall(r"\((\d+), (\d+)\)", task.answer))
    assert found == expected


def test_scorers_match_hand_worked_examples():
    assert score_number(10)("There are 10 of them.") == 1.0
    assert score_number(10)("about 12") == pytest.approx(0.5625)  # 0.75 ** 2
    assert score_number(10)("none") == 0.0
    assert score_exact("Varn")("It is varn.") == 1.0 and score_exact("Varn")("Merrow") == 0.0
    f1 = score_pairs({("1", "2"), ("1", "3")})
    assert f1("(1, 2)") == pytest.approx(2 / 3)  # precision 1, recall 1/2
    assert f1("(2, 1), (1, 3), (4, 5)") == pytest.approx(0.8)  # precision 2/3, recall 1


def test_a_scripted_run_writes_the_table_json_and_report(tmp_path):
    rows = run_quality(lengths=[4000], methods=["rlm", "direct"], out=tmp_path)
    by_method = {m: [r.score for r in rows if r.method == m] for m in ("rlm", "direct")}
    assert min(by_method["rlm"]) >= 0.75 and len(by_method["rlm"]) == len(GENERATORS)
    data = json.loads((tmp_path / "results.json").read_text())
    assert {s["method"] for s in data["summary"]} == {"rlm", "direct"}
    report = (tmp_path / "report.html").read_text()
    assert report.count("<svg") == 2 and "Score against length" in report
    multihop = next(r for r in rows if r.task == "multihop" and r.method == "rlm")
    assert multihop.citation_precision == 1.0 and multihop.citation_recall == 1.0


@pytest.mark.slow
def test_the_demo_model_completes_a_tiny_bench_run(tmp_path):
    rows = run_quality(
        model="demo", kinds=["needle"], lengths=[1500], methods=["retrieval", "rlm"], out=tmp_path
    )
    assert [r.method for r in rows] == ["retrieval", "rlm"]
    assert all(0.0 <= r.score <= 1.0 and r.calls >= 1 for r in rows)
    assert (tmp_path / "report.html").exists()
