"""Hostile or pathological inputs are read in bounded memory and time, or refused with a
reason, and a refusal or a failed write leaves the library as it was."""

import gzip
import json
import os
import subprocess
import sys
import threading
import zipfile
from functools import partial
from pathlib import Path

import pytest

from rlm_desktop.bench.bombs import write_word_file
from rlm_desktop.ingest import extract, pipeline
from rlm_desktop.ingest.chunking import chunk_blocks
from rlm_desktop.ingest.extraction import EXTRACTOR_VERSION, Block, ExtractionError, IngestLimits
from rlm_desktop.ingest.word import extract_word
from rlm_desktop.settings import Settings, save_settings
from rlm_desktop.store import Library
from rlm_desktop.store.library import DocumentMeta
from tests.conftest import SAMPLES

MB = 1024 * 1024
# What one ingest may add to the peak memory of the process: reading any of the inputs
# below whole would take several times this.
GROWTH_LIMIT_MB = 64
# The library may grow by this much after a refusal or a failed write (a few pages).
DISK_SLACK = 2 * MB

# The ingest runs in a child under a hard address-space limit, and reports how far its
# peak memory grew beyond what the imports cost.
_CHILD = """
import json, resource, sys
resource.setrlimit(resource.RLIMIT_AS, (1 << 30, 1 << 30))
from rlm_desktop.ingest import pipeline
from rlm_desktop.store import Library
before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
with Library(sys.argv[1]) as lib:
    report = pipeline.ingest(lib, sys.argv[2:])
peak = max(resource.getrusage(who).ru_maxrss
           for who in (resource.RUSAGE_SELF, resource.RUSAGE_CHILDREN))
print(json.dumps({"growth_mb": (peak - before) / 1024, "files": report.to_json()["files"]}))
"""


def _repeated(total_mb: int):
    """Paragraphs of one sentence over and over: about 200 times compressible."""
    paragraph = "All work and no play makes Jack a dull boy. " * 20
    count = total_mb * MB // (len(paragraph) + 30)
    return (paragraph for _ in range(count))


def _varied(total_mb: int):
    """Paragraphs that compress like real prose (a few times, not hundreds)."""
    line = "Invoice {:07d} for account {:06d} is due on day {}"
    count = total_mb * MB // 110
    return (line.format(i, i * 7919 % 100_003, i % 28) for i in range(count))


def _ingest_in_child(library_dir: Path, *paths: Path) -> dict:
    done = subprocess.run(
        [sys.executable, "-c", _CHILD, str(library_dir), *map(str, paths)],
        capture_output=True,
        text=True,
        timeout=300,
        check=True,
    )
    return json.loads(done.stdout.splitlines()[-1])


def _statuses(report):
    return {os.path.basename(o.path): o.status for o in report.files}


def _on_disk(library_dir: Path) -> int:
    """Bytes the library takes: the database and its write-ahead log."""
    files = (library_dir / "library.db", library_dir / "library.db-wal")
    return sum(f.stat().st_size for f in files if f.exists())


def _searchable(library_dir: Path) -> list[tuple[str, int]]:
    with Library(library_dir) as lib:
        return [(d.path, d.chars) for d in lib.documents(include_unreadable=False)]


@pytest.fixture
def seeded(tmp_path):
    """A library holding one sample document, closed (so its files are at rest)."""
    folder = tmp_path / "library"
    with Library(folder) as lib:
        pipeline.ingest(lib, [SAMPLES / "OpenSSH_2k.log"])
    return folder


# ------------------------------------------------------------------ Word compression bombs


def test_a_word_compression_bomb_is_refused_at_once_and_leaves_the_library_as_it_was(
    tmp_path, seeded
):
    bomb = write_word_file(tmp_path / "bomb.docx", _repeated(300))
    assert bomb.stat().st_size < 2 * MB  # 300 MB of XML inside
    before_docs, before_bytes = _searchable(seeded), _on_disk(seeded)
    result = _ingest_in_child(seeded, bomb)
    [outcome] = result["files"]
    assert outcome["status"] == "failed"
    assert outcome["reason"] == (
        "word/document.xml expands more than 100 times (limit 100x): "
        "refused as a possible compression bomb"
    )
    assert result["growth_mb"] < GROWTH_LIMIT_MB
    assert _searchable(seeded) == before_docs
    assert _on_disk(seeded) < before_bytes + DISK_SLACK
    with Library(seeded) as lib:
        recorded = lib.document_by_path(str(bomb))
        assert (recorded.status, recorded.error) == ("failed", outcome["reason"])


@pytest.mark.parametrize(
    ("limits", "parts", "extra", "compression", "reason"),
    [
        (
            IngestLimits(docx_max_part_mb=1),
            partial(_varied, 2),
            (),
            zipfile.ZIP_DEFLATED,
            "word/document.xml expands to more than 1 MB (limit 1 MB): "
            "refused as a possible compression bomb",
        ),
        (
            IngestLimits(),
            partial(_repeated, 20),
            (),
            zipfile.ZIP_DEFLATED,
            "word/document.xml expands more than 100 times (limit 100x): "
            "refused as a possible compression bomb",
        ),
        (
            # Parts each under the limit may not add up past it either.
            IngestLimits(docx_max_part_mb=2, docx_max_ratio=10_000),
            partial(_repeated, 1),
            [(f"customXml/item{i}.xml", "<a/>" * (MB // 3)) for i in range(4)],
            zipfile.ZIP_DEFLATED,
            "its parts expand to more than 2 MB in all "
            "(limit: the file's own size plus 2 MB): refused as a possible compression bomb",
        ),
        (
            # zipfile would unpack a bzip2 member in one unbounded step.
            IngestLimits(),
            partial(iter, ["a short document"]),
            (),
            zipfile.ZIP_BZIP2,
            "[Content_Types].xml uses a compression method Word does not write (12): "
            "refused as a possible compression bomb",
        ),
    ],
    ids=["part-size", "ratio", "all-parts", "bzip2"],
)
def test_word_files_past_a_limit_are_refused_with_the_limit_named(
    tmp_path, limits, parts, extra, compression, reason
):
    path = write_word_file(tmp_path / "doc.docx", parts(), compression=compression, extra=extra)
    with pytest.raises(ExtractionError) as refused:
        extract_word(path, limits)
    assert refused.value.message == reason
    assert refused.value.status == "failed"


def test_the_word_limits_come_from_the_settings(tmp_path, library):
    ledger = write_word_file(tmp_path / "ledger.docx", _varied(2))
    assert _statuses(pipeline.ingest(library, [ledger])) == {"ledger.docx": "added"}
    save_settings(Settings(docx_max_part_mb=1))
    copy = tmp_path / "copy.docx"
    copy.write_bytes(ledger.read_bytes())
    [outcome] = pipeline.ingest(library, [copy]).files
    assert outcome.status == "failed"
    assert outcome.reason.startswith("word/document.xml expands to more than 1 MB (limit 1 MB)")


# ------------------------------------------------------------------ compressed logs


def _gzip_log(path: Path, total_mb: int, *, lines: bool) -> tuple[int, int]:
    """A gzip file of ``total_mb`` of text, repeated log lines or one line with no break;
    returns its size and number of lines once decompressed."""
    if lines:
        block = "".join(
            f"2024-05-01 12:00:{i % 60:02d} INFO worker-{i % 8} served /api/item/{i} in 12 ms\n"
            for i in range(300)
        ).encode()
    else:
        block = b"x" * MB
    repeats = total_mb * MB // len(block)
    with gzip.open(path, "wb", compresslevel=6) as out:
        for _ in range(repeats):
            out.write(block)
    return repeats * len(block), repeats * block.count(b"\n") if lines else 1


@pytest.mark.parametrize(
    ("total_mb", "lines"),
    [
        (120, False),
        pytest.param(300, False, marks=pytest.mark.slow),
        pytest.param(300, True, marks=pytest.mark.slow),
    ],
    ids=["120MB-one-line", "300MB-one-line", "300MB-log-lines"],
)
def test_a_gzip_log_is_streamed_in_bounded_memory_however_small_it_is(tmp_path, total_mb, lines):
    log = tmp_path / "service.log.gz"
    size, line_count = _gzip_log(log, total_mb, lines=lines)
    assert log.stat().st_size < 16 * MB  # small enough that it used to be read whole
    result = _ingest_in_child(tmp_path / "library", log)
    assert [f["status"] for f in result["files"]] == ["added"]
    assert result["growth_mb"] < GROWTH_LIMIT_MB
    with Library(tmp_path / "library") as lib:
        doc = lib.document_by_path(str(log))
        assert (doc.chars, doc.lines) == (size, line_count)


def test_a_cancel_stops_a_compressed_log_mid_file_and_keeps_none_of_it(
    tmp_path, seeded, monkeypatch
):
    log = tmp_path / "service.log.gz"
    _gzip_log(log, 40, lines=False)
    cancel = threading.Event()
    real_chunks = pipeline.chunk_blocks

    def cancel_midway(blocks, *args, **kwargs):
        for n, passage in enumerate(real_chunks(blocks, *args, **kwargs)):
            if n == 500:  # about 8 MB in
                cancel.set()
            yield passage

    monkeypatch.setattr(pipeline, "chunk_blocks", cancel_midway)
    monkeypatch.setattr("rlm_desktop.store.library._COMMIT_CHARS", MB)  # commits to undo
    before_docs, before_bytes = _searchable(seeded), _on_disk(seeded)
    with Library(seeded) as lib:
        report = pipeline.ingest(lib, [log], cancel=cancel)
    assert report.cancelled
    assert [(o.status, o.reason) for o in report.files] == [
        ("skipped", "cancelled while it was read")
    ]
    assert _searchable(seeded) == before_docs
    assert _on_disk(seeded) < before_bytes + DISK_SLACK


# ------------------------------------------------------------------ files that are not documents


def test_a_huge_sparse_log_is_skipped_without_being_hashed(tmp_path, library, monkeypatch):
    sparse = tmp_path / "huge.log"
    with open(sparse, "wb") as f:
        f.truncate(2 * 1024 * MB)  # 2 GB of NUL bytes, almost no disk
    hashed = []

    def spy(path):
        hashed.append(Path(path).name)
        return real(path)

    real = extract.file_sha256
    monkeypatch.setattr(extract, "file_sha256", spy)
    monkeypatch.setattr(pipeline, "file_sha256", spy)
    report = pipeline.ingest(library, [sparse])
    assert hashed == []
    assert [(o.status, o.reason) for o in report.files] == [
        ("skipped", "binary file (not text): skipped")
    ]


def test_pipes_and_devices_named_on_the_command_line_are_reported_as_skipped(tmp_path):
    pipe = tmp_path / "pipe.log"
    os.mkfifo(pipe)
    folder = tmp_path / "folder"
    folder.mkdir()
    os.mkfifo(folder / "inner-pipe.log")
    (folder / "note.log").write_text("a regular file beside a pipe\n")
    command = ["ingest", str(pipe), "/dev/zero", str(folder), "--json"]
    done = subprocess.run(
        [sys.executable, "-m", "rlm_desktop", *command, "--library", str(tmp_path / "library")],
        capture_output=True,
        text=True,
        timeout=60,  # reading the pipe would wait here for ever
        check=True,
    )
    files = {f["path"]: (f["status"], f["reason"]) for f in json.loads(done.stdout)["files"]}
    assert files == {
        str(pipe.resolve()): ("skipped", "not a regular file: a named pipe (FIFO)"),
        "/dev/zero": ("skipped", "not a regular file: a character device"),
        str((folder / "note.log").resolve()): ("added", ""),
    }


# ------------------------------------------------------------------ space given back


def _meta(path: str) -> DocumentMeta:
    return DocumentMeta(path, "text", 0, 0, None, "big.log", EXTRACTOR_VERSION)


def _text_blocks(total_mb: int, then_fail: bool = False):
    line = "GET /api/orders/{} 200 served by node-{} in {} ms\n"
    for i in range(total_mb):
        yield Block("".join(line.format(i * 20_000 + j, j % 9, j % 97) for j in range(20_000)))
    if then_fail:
        raise OSError("the drive was unplugged")


@pytest.mark.parametrize(
    ("kept_mb", "failed_mb"),
    [(0, 16), (16, 3)],
    ids=["most-of-the-library", "a-small-part-of-it"],
)
def test_a_failed_write_gives_its_space_back(seeded, tmp_path, monkeypatch, kept_mb, failed_mb):
    if kept_mb:
        kept = tmp_path / "kept.log"
        kept.write_text("".join(b.text for b in _text_blocks(kept_mb)))
        with Library(seeded) as lib:
            pipeline.ingest(lib, [kept])
    monkeypatch.setattr("rlm_desktop.store.library._COMMIT_CHARS", MB)  # many commits
    before_docs, before_bytes = _searchable(seeded), _on_disk(seeded)
    with Library(seeded) as lib:
        failing = chunk_blocks(_text_blocks(failed_mb, then_fail=True))
        with pytest.raises(OSError, match="unplugged"):
            lib.write_document(_meta("/logs/big.log"), failing)
        assert _on_disk(seeded) < before_bytes + DISK_SLACK  # while the library is open
    assert _searchable(seeded) == before_docs


def test_an_interrupted_write_gives_its_space_back_on_the_next_ingest(seeded):
    before_bytes = _on_disk(seeded)
    with Library(seeded) as lib:
        # What a kill -9 in the middle of a write leaves: a provisional document.
        lib.db.execute(
            "INSERT INTO documents (id, path, kind, size, mtime_ns, title, status, "
            "extractor_version, ingested_at) VALUES (999, '/logs/big.log', 'text', 0, 0, "
            "'big.log', 'ingesting', 1, '')"
        )
        with lib.db.atomic():
            lib.db.conn.executemany(
                'INSERT INTO passages (doc_id, ordinal, line_start, line_end, start, "end", '
                "text) VALUES (999, ?, 1, 1, ?, ?, ?)",
                [(p.ordinal, p.start, p.end, p.text) for p in chunk_blocks(_text_blocks(12))],
            )
    assert _on_disk(seeded) > before_bytes + 8 * MB
    with Library(seeded) as lib:
        pipeline.ingest(lib, [SAMPLES / "OpenSSH_2k.log"])
    assert _on_disk(seeded) < before_bytes + DISK_SLACK


def test_removing_a_document_gives_its_space_back(seeded, tmp_path):
    big = tmp_path / "big.log"
    big.write_text("".join(b.text for b in _text_blocks(16)))
    before_bytes = _on_disk(seeded)
    with Library(seeded) as lib:
        pipeline.ingest(lib, [big])
    assert _on_disk(seeded) > before_bytes + 8 * MB  # its text is stored compressed
    with Library(seeded) as lib:
        pipeline.remove(lib, [big])
    assert _on_disk(seeded) < before_bytes + DISK_SLACK


def test_an_older_library_is_converted_once_and_keeps_its_documents(seeded):
    with Library(seeded) as lib:
        # The shape libraries had before migration 004.
        lib.db.execute("PRAGMA auto_vacuum = NONE")
        lib.db.execute("VACUUM")
        lib.db.execute("DELETE FROM _sqlite_migrations WHERE name = '004_incremental_vacuum'")
        assert lib.db.execute("PRAGMA auto_vacuum").fetchone()[0] == 0
    before = _searchable(seeded)
    with Library(seeded) as lib:
        assert lib.db.execute("PRAGMA auto_vacuum").fetchone()[0] == 2  # incremental
        assert lib.search('"authentication failure"', k=1)
    assert _searchable(seeded) == before
