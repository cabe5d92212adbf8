"""A library served as a large ``context``: the snapshot is streamed to disk, the REPL maps it,
and helpers, provenance and memory limits work as they do for a small one."""

from __future__ import annotations

import random
import shutil

import numpy as np
import pytest

from rlm_desktop.ingest import pipeline
from rlm_desktop.sandbox import mapped, snapshot
from rlm_desktop.sandbox.context import Context
from rlm_desktop.sandbox.host import Sandbox, SandboxLimits
from rlm_desktop.sandbox.large import LargeContext
from rlm_desktop.sandbox.limits import is_large
from rlm_desktop.sandbox.locate import GramIndex, Hints, K, _codes, _hashes, build_table
from rlm_desktop.store import Library
from rlm_desktop.store.reader import LibraryReader
from tests.conftest import SAMPLES

_LINE = ["boot ok", "disk é full", "用户 登录 失败", "heartbeat 🙂", "naïve retry", "timeout"]


@pytest.fixture(scope="module")
def library_dir(tmp_path_factory):
    folder = tmp_path_factory.mktemp("large-lib")
    docs = folder / "docs"
    shutil.copytree(SAMPLES, docs)
    rng = random.Random(4)
    lines = [f"{n:06d} node-{rng.randint(1, 9)} {rng.choice(_LINE)}" for n in range(6000)]
    lines[4321] = "004321 node-7 the needle: 中文 checksum mismatch"
    (docs / "nodes.log").write_text("\n".join(lines) + "\n", encoding="utf-8")
    with Library(folder / "lib") as lib:
        pipeline.ingest(lib, [docs])
    return folder / "lib"


@pytest.fixture(scope="module")
def both(library_dir):
    db = library_dir / "library.db"
    snapshot.ensure(db)
    return Context.from_library(db), LargeContext.from_library(db)


def test_the_streamed_snapshot_is_the_text_build_gives(library_dir):
    db = library_dir / "library.db"
    found = snapshot.ensure(db)
    with LibraryReader.open(db) as library:
        text, meta = snapshot.build(library)
    assert found.text_path.read_text(encoding="utf-8") == text
    assert found.documents == meta and found.chars == len(text)
    assert np.load(found.index_path).shape == build_table(text).shape


def test_the_one_prompt_baseline_reads_only_the_head_it_sends(library_dir):
    with LibraryReader.open(library_dir / "library.db") as library:
        whole, _ = snapshot.build(library)
        for cut in (10, 5_000, len(whole) // 2):
            text, size = snapshot.head(library, None, cut)
            assert text == whole[:cut] and size >= cut
        assert snapshot.head(library, None, len(whole) + 10) == (whole, len(whole))


def test_helpers_answer_alike_on_both_kinds(both):
    small, large = both
    assert len(large) == len(small) and large == str(small)
    assert [d.start for d in large.documents] == [d.start for d in small.documents]
    for pattern in ["needle", "失败", r"heartbeat \S+", "^0000\\d\\d node-3"]:
        assert [(m.start, m.span) for m in large.grep(pattern)] == [
            (m.start, m.span) for m in small.grep(pattern)
        ]
    assert [r.span for r in large.search("checksum mismatch")] == [
        r.span for r in small.search("checksum mismatch")
    ]
    rng = random.Random(2)
    for _ in range(50):
        a = rng.randrange(len(small) - 200)
        b = a + rng.randint(1, 200)
        assert large.location(a, b) == small.location(a, b)
    assert list(large.chunks(5000)) == small.chunks(5000)
    assert list(large.by_document()) == small.by_document()
    needle = "004321 node-7 the needle: 中文 checksum mismatch"
    assert large.locate(needle) == small.locate(needle)


@pytest.mark.parametrize("window", [997, 1 << 24])
def test_grep_finds_the_same_lines_in_ascii_and_other_blocks(both, monkeypatch, window):
    monkeypatch.setattr(mapped, "SCAN_BYTES", window)  # small: many blocks are pure ASCII
    small, large = both
    for pattern in ["NEEDLE", "heartbeat|TIMEOUT|sshd", "Failed password", "失败", "e"]:
        assert [m.span for m in large.grep(pattern, max_results=5000)] == [
            m.span for m in small.grep(pattern, max_results=5000)
        ], pattern


def test_provenance_traces_alike_on_both_kinds(both):
    small, large = both
    hit = small.grep("needle")[0]
    output = f"found: {hit.text}\n" + small[hit.start - 300 : hit.start]
    assert [loc for loc, _ in large.trace(output)] == [loc for loc, _ in small.trace(output)]
    assert any(loc.span.line_start <= 4322 <= loc.span.line_end for loc, _ in large.trace(output))


def test_a_sparse_index_is_the_dense_one_sampled():
    rng = random.Random(8)
    text = "".join(rng.choice(_LINE) + "\n" for _ in range(3000))
    for step in (16, 32):  # 32 >= K: only the sampled grams' characters are read
        table = build_table(text, step)
        expected = _hashes(_codes(text), step)
        assert sorted(table[0].tolist()) == sorted(expected.tolist())
        assert sorted(table[1].tolist()) == list(range(0, len(text) - K + 1, step))


def test_a_coarse_index_still_finds_long_runs_and_handed_out_lines():
    rng = random.Random(9)
    text = "".join(f"{n} {rng.choice(_LINE)} {rng.random()}\n" for n in range(3000))
    index = GramIndex(text, None, step=64)
    piece = text[20_000:20_300]
    assert index.find(piece) == (20_000, 20_300)
    line_start = text.index("\n", 30_000) + 1
    line_end = text.index("\n", line_start)
    line = text[line_start:line_end]
    runs = index.runs(f"look: {line}\n", Hints([(line_start, line_end)]))
    assert [(r.starts, r.occurrences) for r in runs] == [((line_start,), 1)]


def test_the_threshold_setting():
    assert is_large(10, -1) and not is_large(10, 1)
    assert is_large(3 << 20, 2) and not is_large(3 << 20, 4)


@pytest.fixture(scope="module")
def box(library_dir):
    limits = SandboxLimits(timeout_s=30, memory_mb=1024, large_context_mb=-1)
    with Sandbox(library=library_dir, limits=limits) as sandbox:
        yield sandbox


def test_a_forced_large_library_runs_cells(box, both):
    small, _ = both
    assert box.large_context and box.memory_mb > 1024
    result = box.execute(
        "print(len(context), isinstance(context, str))\n"
        "print(context[:12])\n"
        "hits = context.grep('needle')\n"
        "print(len(hits), hits[0].line)\n"
        "print(sum(1 for line in context.splitlines() if 'heartbeat' in line))\n"
        "print(context.count('\\n'), context.find('中文'))"
    )
    assert result.error is None, result.stderr
    assert result.stdout.splitlines() == [
        f"{len(small)} False",
        str(small)[:12],
        "1 4322",
        str(sum(1 for line in small.splitlines() if "heartbeat" in line)),
        f"{small.count(chr(10))} {small.find('中文')}",
    ]


def test_printing_a_grep_line_is_traced_to_its_place(box):
    result = box.execute("print(context.grep('needle')[0].text)")
    assert [(e.span.document, e.span.line_start) for e in result.explored] == [("nodes.log", 4322)]


def test_copying_the_whole_text_is_refused_with_the_lazy_way(box):
    result = box.execute("text = str(context)")
    assert result.error == "exception"
    assert "LargeContextError" in result.message and "splitlines" in result.message
    assert box.execute("print(len(context.lower.__name__))").error == "exception"


def test_a_cell_asking_for_too_much_memory_gets_a_clear_error_and_the_next_runs(box):
    box.execute("kept = 1")
    result = box.execute("blob = bytearray(64 * 1024**3)")
    assert result.error == "memory"
    assert f"{box.memory_mb:,} MB" in result.message and "pieces" in result.message
    after = box.execute("print(kept, len(context) > 0)")
    assert after.stdout == "1 True\n"


def test_the_model_is_told_which_kind_of_context_it_has():
    from rlm_desktop.rlm.engine import _overview

    assert "mapped from disk" in _overview(None, "some text", 9, large=True)
    assert "context.splitlines()" in _overview(None, "some text", 9, large=True)
    assert _overview(None, "some text", 9).startswith("a str of 9 characters")
