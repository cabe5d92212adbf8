import os
import shutil
import sqlite3
import subprocess
import sys
import threading
import time

import pytest

from rlm_desktop.errors import UsageError
from rlm_desktop.ingest import pipeline
from rlm_desktop.store import Library
from tests.conftest import SAMPLES, passages_tile


def _statuses(report):
    return {os.path.basename(o.path): o.status for o in report.files}


@pytest.fixture
def corpus(tmp_path):
    folder = tmp_path / "corpus"
    shutil.copytree(SAMPLES, folder)
    return folder


def test_ingesting_the_samples_makes_every_document_searchable(library, corpus):
    report = pipeline.ingest(library, [corpus])
    counts = report.counts()
    assert counts["failed"] == 0 and counts["skipped"] == 0
    assert counts["added"] == len(list(corpus.iterdir()))
    kinds = {doc.title if doc.kind != "text" else doc.path: doc.kind for doc in library.documents()}
    assert sorted(set(kinds.values())) == ["docx", "pdf", "text"]
    for doc in library.documents():
        assert doc.status in ("ok", "warnings")
        assert doc.chars == len(library.document_text(doc.id)) > 0
        assert passages_tile(library, doc.id)
    hits = library.search('"authentication failure"', k=3)
    assert hits and all(h.path.endswith("OpenSSH_2k.log") for h in hits)


def test_a_second_ingest_changes_nothing(library, corpus):
    pipeline.ingest(library, [corpus])
    before = [(d.id, d.sha256, d.chars, d.ingested_at) for d in library.documents()]
    report = pipeline.ingest(library, [corpus])
    assert set(_statuses(report).values()) == {"unchanged"}
    assert [(d.id, d.sha256, d.chars, d.ingested_at) for d in library.documents()] == before


def test_changed_files_are_replaced_and_vanished_files_removed(library, tmp_path):
    folder = tmp_path / "logs"
    folder.mkdir()
    (folder / "a.log").write_text("kettle boiled over at noon\n")
    (folder / "b.log").write_text("the cat sat on the mat\n")
    pipeline.ingest(library, [folder])
    (folder / "a.log").write_text("the teapot cracked at dawn\n")
    later = (folder / "a.log").stat().st_mtime_ns + 5_000_000_000
    os.utime(folder / "a.log", ns=(later, later))
    (folder / "b.log").unlink()
    (folder / "c.log").write_text("a new file appears\n")
    report = pipeline.ingest(library, [folder])
    assert _statuses(report) == {"a.log": "updated", "b.log": "removed", "c.log": "added"}
    assert library.search("kettle") == []
    assert library.search("teapot")[0].path == str(folder / "a.log")
    assert library.search("cat") == []
    assert len(library.documents()) == 2


def test_a_touched_but_identical_file_is_unchanged(library, tmp_path):
    path = tmp_path / "same.log"
    path.write_text("steady content\n")
    pipeline.ingest(library, [path])
    os.utime(path, ns=(1_700_000_000_000_000_000, 1_700_000_000_000_000_000))
    report = pipeline.ingest(library, [path])
    assert _statuses(report) == {"same.log": "unchanged"}
    assert library.document_by_path(str(path)).mtime_ns == 1_700_000_000_000_000_000


def test_bad_files_never_stop_the_batch(library, tmp_path):
    folder = tmp_path / "mixed"
    folder.mkdir()
    (folder / "good.log").write_text("all systems nominal\n")
    (folder / "empty.log").write_bytes(b"")
    (folder / "binary.log").write_bytes(bytes(range(256)) * 10)
    (folder / "fake.pdf").write_text("I am not a PDF")
    half = (SAMPLES / "pdflatex-4-pages.pdf").read_bytes()
    (folder / "truncated.pdf").write_bytes(half[: len(half) // 3])
    (folder / "broken.docx").write_bytes(b"PK\x03\x04 not really a zip")
    (folder / "legacy.doc").write_bytes(b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1" + bytes(64))
    report = pipeline.ingest(library, [folder])
    statuses = _statuses(report)
    assert statuses == {
        "good.log": "added",
        "empty.log": "skipped",
        "binary.log": "skipped",
        "fake.pdf": "failed",
        "truncated.pdf": "failed",
        "broken.docx": "failed",
        "legacy.doc": "skipped",
    }
    reasons = {os.path.basename(o.path): o.reason for o in report.files}
    assert "not a PDF" in reasons["fake.pdf"]
    assert "corrupt or truncated" in reasons["broken.docx"]
    assert "empty" in reasons["empty.log"]
    recorded = {os.path.basename(d.path): (d.status, d.error) for d in library.documents()}
    assert recorded["fake.pdf"][0] == "failed" and "not a PDF" in recorded["fake.pdf"][1]
    assert library.search("nominal")[0].path.endswith("good.log")


def test_hidden_entries_are_skipped_and_link_loops_are_safe(library, tmp_path):
    folder = tmp_path / "tree"
    (folder / "sub").mkdir(parents=True)
    (folder / ".git").mkdir()
    (folder / ".git" / "config").write_text("secret-ish\n")
    (folder / ".hidden.log").write_text("hidden\n")
    (folder / "sub" / "seen.log").write_text("visible\n")
    (folder / "sub" / "loop").symlink_to(folder, target_is_directory=True)
    report = pipeline.ingest(library, [folder])
    assert _statuses(report) == {"seen.log": "added"}
    explicit = pipeline.ingest(library, [folder / ".hidden.log"])
    assert _statuses(explicit) == {".hidden.log": "added"}


def test_missing_path_is_a_usage_error(library, tmp_path):
    with pytest.raises(UsageError, match="no such file or folder"):
        pipeline.ingest(library, [tmp_path / "nope"])


def test_large_text_files_are_streamed_exactly(library, tmp_path, monkeypatch):
    monkeypatch.setattr(pipeline, "STREAM_BYTES", 100_000)
    monkeypatch.setattr("rlm_desktop.store.library._COMMIT_CHARS", 200_000)
    path = tmp_path / "huge.log"
    content = "".join(f"{i:07d} GET /api/item/{i % 97} 200 {i % 13}ms\n" for i in range(60_000))
    path.write_text(content)
    report = pipeline.ingest(library, [path])
    assert _statuses(report) == {"huge.log": "added"}
    doc = library.document_by_path(str(path))
    assert library.document_text(doc.id) == content
    assert doc.lines == 60_000
    assert passages_tile(library, doc.id)


def test_several_files_are_extracted_in_worker_processes(library, corpus, monkeypatch):
    seen = []
    real_pool = pipeline.ProcessPoolExecutor

    def spy(*args, **kwargs):
        seen.append(kwargs.get("max_workers"))
        return real_pool(*args, **kwargs)

    monkeypatch.setattr(pipeline, "ProcessPoolExecutor", spy)
    report = pipeline.ingest(library, [corpus], workers=2)
    assert seen == [2]
    assert report.counts()["added"] == len(list(corpus.iterdir()))


def test_cancel_stops_between_files_and_a_rerun_finishes(library, tmp_path):
    folder = tmp_path / "many"
    folder.mkdir()
    for i in range(6):
        (folder / f"f{i}.log").write_text(f"file number {i}\n")
    cancel = threading.Event()
    report = pipeline.ingest(library, [folder], on_progress=lambda _e: cancel.set(), cancel=cancel)
    counts = report.counts()
    assert report.cancelled
    assert counts["added"] >= 1 and counts["skipped"] >= 1
    assert all(
        o.reason == "cancelled before it was read" for o in report.files if o.status == "skipped"
    )
    again = pipeline.ingest(library, [folder])
    assert again.counts()["added"] == counts["skipped"]
    assert len(library.documents()) == 6


def test_remove_and_rescan(library, corpus, tmp_path):
    pipeline.ingest(library, [corpus])
    (corpus / "Apache_2k.log").unlink()
    (corpus / "late.log").write_text("added after the first ingest\n")
    report = pipeline.rescan(library)
    assert _statuses(report)["Apache_2k.log"] == "removed"
    assert _statuses(report)["late.log"] == "added"
    removed = pipeline.remove(library, [corpus])
    assert removed.counts()["removed"] == len(list(corpus.iterdir()))
    assert library.documents() == [] and library.sources() == []


_KILL_SCRIPT = """
import sys
from rlm_desktop.ingest import pipeline
from rlm_desktop.store import Library, library
library._COMMIT_CHARS = 500_000  # commit often, so the kill lands between commits
with Library(sys.argv[1]) as lib:
    pipeline.ingest(lib, [sys.argv[2]])
"""


def test_kill_9_mid_ingest_leaves_a_consistent_library_that_the_next_run_completes(tmp_path):
    folder = tmp_path / "big"
    folder.mkdir()
    content = "".join(f"{i:08d} INFO request {i} served in {i % 50} ms\n" for i in range(700_000))
    (folder / "a-huge.log").write_text(content)
    for i in range(5):
        (folder / f"small-{i}.log").write_text(f"small file {i}\n")
    lib_dir = tmp_path / "lib"
    child = subprocess.Popen([sys.executable, "-c", _KILL_SCRIPT, str(lib_dir), str(folder)])
    deadline = time.monotonic() + 60
    killed_while_writing = False
    while time.monotonic() < deadline and child.poll() is None:
        try:
            with sqlite3.connect(lib_dir / "library.db", timeout=0.1) as conn:
                rows = conn.execute("SELECT count(*) FROM passages").fetchone()[0]
        except sqlite3.Error:
            rows = 0
        if rows > 500:  # about a quarter of the log's passages
            child.kill()
            killed_while_writing = True
            break
        time.sleep(0.02)
    child.wait()
    assert killed_while_writing, "the ingest finished before it could be interrupted"
    with Library(lib_dir) as lib:
        assert lib.db.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
        assert all(d.path != str(folder / "a-huge.log") for d in lib.documents())
        report = pipeline.ingest(lib, [folder])
        assert report.counts()["failed"] == 0
        doc = lib.document_by_path(str(folder / "a-huge.log"))
        assert lib.document_text(doc.id) == content
        assert len(lib.documents()) == 6
        leftovers = lib.db.execute("SELECT count(*) FROM documents WHERE status='ingesting'")
        assert leftovers.fetchone()[0] == 0


def test_a_worker_killed_mid_batch_loses_no_file(library, tmp_path):
    import multiprocessing
    import signal

    folder = tmp_path / "batch"
    folder.mkdir()
    for i in range(12):
        (folder / f"doc-{i:02d}.log").write_text(f"entry {i}\n" * 2000)
    killed = []

    def kill_a_worker(_event):
        workers = multiprocessing.active_children()
        if not killed and workers:
            os.kill(workers[0].pid, signal.SIGKILL)
            killed.append(workers[0].pid)

    report = pipeline.ingest(library, [folder], on_progress=kill_a_worker, workers=2)
    assert killed
    assert report.counts()["added"] == 12, [
        f for f in report.to_json()["files"] if f["status"] != "added"
    ]
    assert len(library.documents()) == 12
    assert all(passages_tile(library, d.id) for d in library.documents())


def test_a_rescan_keeps_documents_of_a_folder_that_is_gone_as_a_whole(library, tmp_path):
    drive = tmp_path / "usb-drive"
    drive.mkdir()
    (drive / "notes.txt").write_text("offsite backup schedule\n")
    pipeline.ingest(library, [drive])
    shutil.rmtree(drive)  # like an unplugged drive
    report = pipeline.rescan(library)
    assert report.counts()["removed"] == 0
    assert library.search("backup")[0].path == str(drive / "notes.txt")


def test_files_read_by_an_older_extractor_are_read_again(library, tmp_path):
    path = tmp_path / "old.log"
    path.write_text("read by an older version\n")
    pipeline.ingest(library, [path])
    library.db.execute("UPDATE documents SET extractor_version = extractor_version - 1")
    assert _statuses(pipeline.ingest(library, [path])) == {"old.log": "updated"}
    assert _statuses(pipeline.ingest(library, [path])) == {"old.log": "unchanged"}
