"""``rlm-desktop bench ingest``: our ingestion beside simple baselines, on generated data."""

from __future__ import annotations

import json
import random
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

from pypdf import PdfReader

from rlm_desktop.bench.pdfgen import write_text_pdf
from rlm_desktop.bench.report import BenchResult
from rlm_desktop.ingest import pipeline
from rlm_desktop.store import Library

_WORDS = [
    "library",
    "passage",
    "evidence",
    "ledger",
    "invoice",
    "contract",
    "clause",
    "server",
    "request",
    "timeout",
    "warning",
    "error",
    "kernel",
    "module",
    "network",
    "packet",
    "session",
    "user",
    "account",
    "audit",
    "report",
    "quarterly",
    "revenue",
    "margin",
    "forecast",
    "delivery",
    "supplier",
    "warehouse",
    "shipment",
    "customer",
]

_LOG_TEMPLATES = (
    "{ts} INFO  dfs.DataNode: Receiving block blk_{n} src: /10.0.{a}.{b}:50010",
    "{ts} WARN  sshd[{n}]: Failed password for invalid user admin{a} from 10.1.{a}.{b}",
    "{ts} ERROR httpd: mod_jk child workerEnv in error state {a}",
    "{ts} INFO  kernel: [ {n}.{b}] eth0: link up, 1000Mbps, full-duplex",
)


def _sentence(rng: random.Random, words: int = 12) -> str:
    return " ".join(rng.choice(_WORDS) for _ in range(words)).capitalize() + "."


def make_pdf_corpus(folder: Path, files: int, pages: int, seed: int = 1) -> list[Path]:
    """Write ``files`` PDFs of ``pages`` text pages each (about 3,000 characters a page)."""
    rng = random.Random(seed)
    folder.mkdir(parents=True, exist_ok=True)
    paths = []
    for i in range(files):
        body = ["\n".join(_sentence(rng) for _ in range(40)) for _ in range(pages)]
        path = folder / f"report-{i:04d}.pdf"
        write_text_pdf(path, body, title=f"Report {i}")
        paths.append(path)
    return paths


def make_small_corpus(folder: Path, files: int, seed: int = 2) -> None:
    """Write ``files`` small logs and notes spread over a few sub-folders."""
    rng = random.Random(seed)
    for i in range(files):
        sub = folder / f"team-{i % 10}"
        sub.mkdir(parents=True, exist_ok=True)
        lines = "\n".join(_log_line(rng, i * 100 + j) for j in range(40))
        (sub / f"service-{i:04d}.log").write_text(lines + "\n", encoding="utf-8")


def _log_line(rng: random.Random, n: int) -> str:
    ts = f"2026-11-{1 + n % 28:02d} {n % 24:02d}:{n % 60:02d}:{(n * 7) % 60:02d}"
    template = rng.choice(_LOG_TEMPLATES)
    return template.format(ts=ts, n=n, a=rng.randrange(256), b=rng.randrange(256))


def make_big_log(path: Path, size_bytes: int, seed: int = 3) -> int:
    """Write a log of about ``size_bytes`` (varied lines, written in large slabs)."""
    rng = random.Random(seed)
    slab = "\n".join(_log_line(rng, n) for n in range(20_000)) + "\n"
    slab_bytes = slab.encode()
    written = 0
    with open(path, "wb") as handle:
        serial = 0
        while written < size_bytes:
            # A varying prefix keeps slabs from being identical text.
            prefix = f"# segment {serial}\n".encode()
            handle.write(prefix + slab_bytes)
            written += len(prefix) + len(slab_bytes)
            serial += 1
    return written


def _bare_pypdf(paths: list[Path]) -> float:
    started = time.perf_counter()
    for path in paths:
        for page in PdfReader(path).pages:
            page.extract_text()
    return time.perf_counter() - started


def _timed_ingest(library_dir: Path, folder: Path) -> float:
    started = time.perf_counter()
    with Library(library_dir) as library:
        report = pipeline.ingest(library, [folder])
    elapsed = time.perf_counter() - started
    if report.counts()["failed"]:
        raise RuntimeError(f"benchmark corpus failed to ingest: {report.to_json()}")
    return elapsed


def bench_pdf(work: Path, quick: bool, log: Callable[[str], None]) -> BenchResult:
    """(a) Ingesting PDFs versus bare pypdf extraction of the same files."""
    files, pages = (4, 5) if quick else (40, 25)
    paths = make_pdf_corpus(work / "pdfs", files, pages)
    log(f"PDF corpus: {files} files x {pages} pages")
    bare = _bare_pypdf(paths)
    ours = _timed_ingest(work / "lib-pdf", work / "pdfs")
    return BenchResult(
        name="pdf ingest vs bare pypdf",
        value=ours,
        baseline=bare,
        ratio=bare / ours,
        goal="ours <= 1.25x bare (ratio >= 0.8)",
        met=ours <= 1.25 * bare,
        detail=f"{files * pages} pages; ours = hash + extract + chunk + SQLite/FTS5 write",
    )


def bench_rescan(work: Path, quick: bool, log: Callable[[str], None]) -> BenchResult:
    """(b) Rescanning an unchanged corpus versus its first ingest."""
    files = 100 if quick else 1000
    make_small_corpus(work / "small", files)
    log(f"small-file corpus: {files} files")
    first = _timed_ingest(work / "lib-small", work / "small")
    again = _timed_ingest(work / "lib-small", work / "small")
    return BenchResult(
        name="rescan unchanged vs first ingest",
        value=again,
        baseline=first,
        ratio=first / again,
        goal="rescan >= 20x faster",
        met=first / again >= 20,
        detail=f"{files} files",
    )


def bench_big_log_memory(work: Path, quick: bool, log: Callable[[str], None]) -> BenchResult:
    """(c) Peak memory of ``rlm-desktop ingest`` on one huge generated log."""
    target = (64 if quick else 1024) * 1024 * 1024
    path = work / "huge" / "big.log"
    path.parent.mkdir()
    size = make_big_log(path, target)
    log(f"big log: {size / 2**20:,.0f} MB; ingesting in a child process")
    # The child reports its own peak RSS: the measurement covers exactly the ingest command.
    code = (
        "import json, resource, sys\n"
        "from rlm_desktop.ingest import pipeline\n"
        "from rlm_desktop.store import Library\n"
        "with Library(sys.argv[1]) as lib:\n"
        "    report = pipeline.ingest(lib, [sys.argv[2]])\n"
        "peak_kb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss\n"
        "print(json.dumps({'peak_kb': peak_kb, 'counts': report.counts()}))\n"
    )
    started = time.perf_counter()
    result = subprocess.run(
        [sys.executable, "-c", code, str(work / "lib-huge"), str(path)],
        capture_output=True,
        text=True,
        check=True,
    )
    elapsed = time.perf_counter() - started
    data = json.loads(result.stdout.strip().splitlines()[-1])
    if data["counts"]["added"] != 1:
        raise RuntimeError(f"the big log was not ingested: {data}")
    peak_mb = data["peak_kb"] / 1024
    size_mb = size / 2**20
    return BenchResult(
        name="peak memory ingesting a huge log",
        value=peak_mb,
        baseline=size_mb,
        ratio=size_mb / peak_mb,
        goal="peak < 300 MB",
        met=peak_mb < 300,
        unit="MB",
        detail=f"{size_mb:,.0f} MB log ingested in {elapsed:,.0f} s "
        f"({size_mb / elapsed:,.1f} MB/s); baseline = file size",
    )


def run_ingest_benchmarks(
    quick: bool = False, log: Callable[[str], None] = lambda _msg: None
) -> list[BenchResult]:
    """Run the three ingestion benchmarks in one temporary folder."""
    with tempfile.TemporaryDirectory(prefix="rlm-bench-") as tmp:
        work = Path(tmp)
        return [
            bench_pdf(work, quick, log),
            bench_rescan(work, quick, log),
            bench_big_log_memory(work, quick, log),
        ]
