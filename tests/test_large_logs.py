"""Libraries of big logs: compact storage, logs that grow, and libraries from before it."""

import itertools
import json
import sqlite3
import threading

import pytest
from sqlite_utils import Database

from rlm_desktop.ingest import pipeline
from rlm_desktop.store import Library
from rlm_desktop.store.schema import migrations


def _lines(first: int, count: int) -> str:
    return "".join(
        f"2026-03-01T10:{n // 60 % 60:02d}:{n % 60:02d} INFO worker-{n % 7} served request "
        f"{n} in {n % 90} ms\n"
        for n in range(first, first + count)
    )


@pytest.fixture
def streamed(monkeypatch):
    """Logs over 64 KB are streamed (as logs over 16 MB are), so small ones stand in."""
    monkeypatch.setattr(pipeline, "STREAM_BYTES", 64 * 1024)


def _fts_ok(library: Library) -> None:
    library.db.execute("INSERT INTO passages_fts(passages_fts) VALUES ('integrity-check')")


def test_a_grown_log_is_read_from_where_its_stored_text_ends(
    library, tmp_path, streamed, monkeypatch
):
    log = tmp_path / "service.log"
    log.write_text(_lines(0, 20_000))
    pipeline.ingest(library, [log])
    before = library.document_by_path(str(log))
    first_ids = [p.id for p in library.passages(before.id)]
    with open(log, "a") as handle:
        handle.write(_lines(20_000, 3_000) + "2026-03-01T11:00:00 ERROR quota exceeded zanzibar\n")
    read_from = []
    real_tail = pipeline.tail_blocks

    def tail(path, start, encoding, warnings):
        read_from.append(start)
        return real_tail(path, start, encoding, warnings)

    def no_whole_read(path):
        raise AssertionError("the whole log was read again")

    monkeypatch.setattr(pipeline, "tail_blocks", tail)
    monkeypatch.setattr(pipeline, "file_sha256", no_whole_read)
    report = pipeline.rescan(library)
    assert [o.status for o in report.files] == ["updated"]
    assert read_from == [before.size]
    after = library.document_by_path(str(log))
    assert after.id == before.id and after.size == log.stat().st_size
    assert library.document_text(after.id) == log.read_text()
    assert (after.chars, after.lines) == (len(log.read_text()), 23_001)
    passages = list(library.passages(after.id))
    assert [p.id for p in passages[: len(first_ids)]] == first_ids  # the old ones untouched
    assert [p.ordinal for p in passages] == list(range(len(passages)))
    assert all(a.end == b.start for a, b in itertools.pairwise(passages))
    hit = library.search("zanzibar")[0]
    assert (hit.span.line_start, hit.span.line_end) == (23_001, 23_001)
    _fts_ok(library)
    monkeypatch.undo()
    assert pipeline.rescan(library).counts()["unchanged"] == 1


def test_a_cancel_while_a_grown_log_is_read_keeps_it_as_it_was(
    library, tmp_path, streamed, monkeypatch
):
    log = tmp_path / "service.log"
    log.write_text(_lines(0, 5_000))
    pipeline.ingest(library, [log])
    before = library.document_by_path(str(log))
    old_text = log.read_text()
    with open(log, "a") as handle:
        handle.write(_lines(5_000, 50_000))
    cancel = threading.Event()
    real_tail = pipeline.tail_blocks

    def tail_then_cancel(*args):
        for n, block in enumerate(real_tail(*args)):
            if n == 1:
                cancel.set()
            yield block

    monkeypatch.setattr(pipeline, "tail_blocks", tail_then_cancel)
    monkeypatch.setattr("rlm_desktop.ingest.text.READ_BYTES", 64 * 1024)
    report = pipeline.rescan(library, cancel=cancel)
    assert report.cancelled
    assert [(o.status, o.reason) for o in report.files] == [
        ("skipped", "cancelled while it was read")
    ]
    after = library.document_by_path(str(log))
    assert (after.id, after.size, after.chars) == (before.id, before.size, before.chars)
    assert library.document_text(after.id) == old_text
    assert library.db.execute("SELECT count(*) FROM documents").fetchone()[0] == 1
    _fts_ok(library)
    monkeypatch.undo()
    assert [o.status for o in pipeline.rescan(library).files] == ["updated"]
    assert library.document_text(after.id) == log.read_text()


def test_a_log_changed_before_its_end_is_read_again_whole(library, tmp_path, streamed):
    log = tmp_path / "service.log"
    log.write_text(_lines(0, 20_000))
    pipeline.ingest(library, [log])
    log.write_text("rotated\n" + _lines(0, 21_000))
    assert [o.status for o in pipeline.rescan(library).files] == ["updated"]
    doc = library.document_by_path(str(log))
    assert library.document_text(doc.id) == log.read_text()
    assert library.search("rotated")[0].span.line_start == 1
    _fts_ok(library)


def test_an_appended_log_that_is_then_removed_leaves_an_empty_index(library, tmp_path, streamed):
    log = tmp_path / "service.log"
    log.write_text(_lines(0, 5_000))
    pipeline.ingest(library, [log])
    with open(log, "a") as handle:
        handle.write(_lines(5_000, 5_000))
    pipeline.rescan(library)
    pipeline.remove(library, [log])
    assert library.search("served") == []
    _fts_ok(library)


def test_a_library_written_before_packed_passages_is_upgraded_and_keeps_working(tmp_path):
    folder = tmp_path / "lib"
    folder.mkdir()
    old = Database(sqlite3.connect(folder / "library.db", isolation_level=None))
    migrations.apply(old, stop_before="009_packed_passages")
    text = _lines(0, 300)
    old.execute(
        "INSERT INTO documents (id, path, kind, size, mtime_ns, title, chars, lines, status, "
        "extractor_version, ingested_at) VALUES (1, '/old.log', 'text', ?, 0, 'old.log', ?, "
        "300, 'ok', 3, '')",
        [len(text), len(text)],
    )
    old.execute(
        'INSERT INTO passages (doc_id, ordinal, line_start, line_end, start, "end", text) '
        "VALUES (1, 0, 1, 300, 0, ?, ?)",
        [len(text), text],
    )
    old.conn.close()
    with Library(folder) as library:
        assert library.document_text(1) == text
        assert library.search("worker")[0].doc_id == 1
        fresh = tmp_path / "new.log"
        fresh.write_text("a brand new kettle\n")
        pipeline.ingest(library, [fresh])
        assert library.search("kettle")[0].span.path == str(fresh)
        library.remove_documents([1])
        assert library.search("worker") == []
        _fts_ok(library)


def test_a_big_log_is_stored_smaller_than_its_text(library, tmp_path, streamed):
    log = tmp_path / "service.log"
    log.write_text(_lines(0, 60_000))
    pipeline.ingest(library, [log])
    library.db.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    assert library.path.stat().st_size < 1.3 * log.stat().st_size


def test_a_line_is_shown_with_its_neighbours_without_reading_the_rest(
    library, tmp_path, streamed, monkeypatch
):
    log = tmp_path / "service.log"
    log.write_text(_lines(0, 30_000))
    pipeline.ingest(library, [log])
    doc = library.document_by_path(str(log))
    expected = log.read_text().splitlines(keepends=True)
    text, first = library.lines_around(doc.id, 12_345, 3, 2)
    assert (first, text) == (12_342, "".join(expected[12_341:12_347]))
    assert library.lines_around(doc.id, 2, 5, 0) == ("".join(expected[:2]), 1)
    assert library.lines_around(doc.id, 30_000, 1, 9)[0] == "".join(expected[-2:])

    def no_whole_text(doc_id):
        raise AssertionError("the whole document was read")

    monkeypatch.setattr(type(library), "document_text", no_whole_text)
    hit = library.search('"request 20000"')[0]
    around, offset, first_line = library.text_around(hit.doc_id, hit.span.start, hit.span.end)
    assert len(around) < 300_000 and "request 20000 " in around
    assert first_line == 1 + log.read_text()[:offset].count("\n")


def test_the_show_command_prints_a_line_and_its_neighbours(tmp_path, streamed):
    from click.testing import CliRunner

    from rlm_desktop.cli import cli

    log = tmp_path / "service.log"
    log.write_text(_lines(0, 5_000))
    lib = str(tmp_path / "lib")
    runner = CliRunner()
    assert runner.invoke(cli, ["ingest", str(log), "--library", lib]).exit_code == 0
    args = ["show", str(log), "--library", lib, "--line"]
    shown = runner.invoke(cli, [*args, "4000", "--around", "1"])
    assert shown.exit_code == 0, shown.output
    assert ">4000" in shown.output and "request 3999 " in shown.output
    data = runner.invoke(cli, [*args, "4000", "--around", "0", "--json"])
    assert json.loads(data.output)["lines"] == [_lines(3999, 1).rstrip("\n")]
    missing = runner.invoke(cli, ["show", str(tmp_path / "no.log"), *args[2:], "1"])
    assert missing.exit_code != 0 and "no text in the library" in missing.output
