"""The provenance rows of ``bench sandbox``: the corpus runs, its ground truth is sound, and
the scoring counts what it says. Timings are never asserted."""

from __future__ import annotations

import json
import random
import re
from pathlib import Path

import pytest

from rlm_desktop.bench import provenance_bench as pb
from rlm_desktop.bench.sandbox_bench import make_library


@pytest.fixture(scope="module")
def tiny_library(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One small generated log plus the hard documents (repeated lines, a duplicate...)."""
    folder = tmp_path_factory.mktemp("provenance")
    return make_library(
        folder, 1, lambda _msg: None, per_file=100_000, extra=pb.write_hard_documents
    )


def test_the_corpus_runs_in_real_repls_and_gives_sane_rows(tiny_library):
    logged: list[str] = []
    run = pb.run_cells(tiny_library, cells=20, session=10, log=logged.append)
    assert run.skipped == 0  # every cell printed what its ground truth says
    total = run.total(run.ours)
    assert total.cells == 20 and total.printed > 0 and total.attributed > 0
    recall, wrong = pb.provenance_rows(run, "a tiny library")
    assert "provenance recall" in recall.name and "provenance wrong" in wrong.name
    for row in (recall, wrong):
        assert 0.0 <= row.value <= 1.0 and 0.0 <= row.baseline <= 1.0
        assert row.ratio >= 0 and row.goal and isinstance(row.met, bool)
    assert "by pattern:" in recall.detail and "by pattern:" in wrong.detail
    assert any(name in recall.detail for name in run.ours)
    json.dumps([recall.__dict__, wrong.__dict__])  # finite numbers: the rows go to speed.json
    assert all(line.startswith(("provenance:", "    ")) for line in logged)


def test_ground_truth_pieces_are_verbatim_in_what_each_pattern_prints(tiny_library):
    truth = pb._Truth(tiny_library)
    cells = pb.make_cells(truth, 60, seed=3)
    patterns = pb._Generator(truth, random.Random(0)).patterns()
    assert len({c.pattern for c in cells}) == len(patterns) >= 15
    for cell in cells:
        compile(cell.code, "<cell>", "exec")
        printed = pb._merge(cell.printed)
        for start, end in cell.pieces:
            assert 0 <= start < end <= len(truth.text)
            assert truth.doc_at(start) is not None and truth.doc_at(start) == truth.doc_at(end - 1)
            assert pb._overlap(printed, start, end) == end - start  # a piece is printed text


def test_escaped_pieces_are_the_runs_repr_and_json_keep():
    line = "a\tb 'quoted' and \"double\" C:\\dir café\xa0x"
    shown_repr, shown_json = repr(line), json.dumps(line)
    for keep, shown in ((pb._repr_keep(line), shown_repr), (pb._json_keep, shown_json)):
        runs = pb._split(line, 0, len(line), keep)
        assert runs and all(line[s:e] in shown for s, e in runs)
        kept = sum(e - s for s, e in runs)
        assert kept < len(line)  # the tab, a quote, the backslash... are escaped
    repr_runs = [line[s:e] for s, e in pb._split(line, 0, len(line), pb._repr_keep(line))]
    assert "dir café" in repr_runs and "\xa0" not in "".join(repr_runs)
    json_runs = [line[s:e] for s, e in pb._split(line, 0, len(line), pb._json_keep)]
    assert all(re.fullmatch(r"[ -~]*", run) for run in json_runs) and "dir caf" in json_runs


def test_scoring_counts_recall_and_wrong_characters():
    text = "x" * 10 + "0123456789abcdefghij\n" + "y" * 40
    cell = pb.Cell("demo", "", pieces=[(10, 30)], printed=[(10, 30)])
    exact = pb.score(cell, [pb.Attribution(10, 31, True)], text)  # with the line's newline
    assert (exact.printed, exact.recalled, exact.wrong) == (20, 20, 0)
    assert exact.recall == 1.0 and exact.wrong_share == 0.0
    shifted = pb.score(cell, [pb.Attribution(15, 45, True, ambiguous=True)], text)
    assert shifted.recalled == 15 and shifted.wrong == 14 and shifted.wrong_ambiguous == 14
    invalid = pb.score(cell, [pb.Attribution(10, 30, False)], text)  # wrong lines or document
    assert invalid.recalled == 0 and invalid.wrong == 20
    nothing = pb.score(cell, [], text)
    assert nothing.recall == 0.0 and nothing.wrong_share == 0.0
    short = pb.score(pb.Cell("demo", "", [(10, 21)], [(10, 21)]), [], text)
    assert short.printed == 0  # under 12 characters: not counted


def test_the_time_row_traces_a_mixed_output(tiny_library):
    from rlm_desktop.sandbox.host import Sandbox

    locator = Sandbox(library=tiny_library).locator
    output, places = pb.mixed_output(locator, 20_000)
    assert len(output) == 20_000 and places
    assert all(str.__getitem__(locator, slice(s, e)) in output for s, e in places[:-1])
    row = pb.bench_trace_time(tiny_library, "a tiny library", repeat=1)
    assert "provenance time" in row.name and row.value > 0 and row.baseline > 0
    assert "memory-mapped from the snapshot" in row.detail
