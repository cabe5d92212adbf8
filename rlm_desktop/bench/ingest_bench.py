"""``rlm-desktop bench ingest``: our ingestion beside simple baselines, on generated data."""

from __future__ import annotations

import random
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

from pypdf import PdfReader

from rlm_desktop.bench.bombs import ingest_in_child, make_gz_bomb, make_word_bomb
from rlm_desktop.bench.pdfgen import write_text_pdf
from rlm_desktop.bench.report import BenchResult, judged
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


def make_big_log(path: Path, size_bytes: int, seed: int = 3, unique: bool = False) -> int:
    """Write a log of about ``size_bytes`` (varied lines, written in large slabs). With
    ``unique``, every line is new (slower to write), as in a real log: repeated slabs would
    make every line occur several times, which no real log does."""
    rng = random.Random(seed)
    if unique:
        return _write_unique_log(path, size_bytes, rng, seed)
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


def _write_unique_log(path: Path, size_bytes: int, rng: random.Random, seed: int) -> int:
    written = 0
    n = seed * 10_000_000  # each file's own serial numbers
    with open(path, "w", encoding="utf-8") as handle:
        while written < size_bytes:
            block = "\n".join(_log_line(rng, n + j) for j in range(10_000)) + "\n"
            handle.write(block)
            written += len(block)
            n += 10_000
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
        goal="ours <= 1.25x bare (ratio >= 0.8), on 1,000 pages",
        # A few pages are dominated by fixed costs (opening the store): judged at full scale.
        met=judged(ours <= 1.25 * bare, not quick),
        detail="ours = hash + extract + chunk + SQLite/FTS5 write",
        size=f"{files} PDFs x {pages} pages ({files * pages:,} pages)",
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
        goal="rescan >= 20x faster, on 1,000 files",
        met=judged(first / again >= 20, not quick),
        size=f"{files:,} small files",
    )


def bench_big_log_memory(
    work: Path, quick: bool, log: Callable[[str], None]
) -> tuple[BenchResult, Path, float]:
    """(c) Peak memory of ingesting one huge generated log; also returns it and its MB/s."""
    target = (64 if quick else 1024) * 1024 * 1024
    path = work / "huge" / "big.log"
    path.parent.mkdir()
    size = make_big_log(path, target)
    log(f"big log: {size / 2**20:,.0f} MB; ingesting in a child process")
    done = ingest_in_child(work / "lib-huge", path)
    if done.status != "added":
        raise RuntimeError(f"the big log was not ingested: {done}")
    size_mb = size / 2**20
    rate = size_mb / done.seconds
    result = BenchResult(
        name="peak memory ingesting a huge log",
        value=done.peak_mb,
        baseline=size_mb,
        ratio=size_mb / done.peak_mb,
        goal="peak < 300 MB, for a 1 GB log",
        # A log smaller than the goal's memory would pass even if read whole.
        met=judged(done.peak_mb < 300, not quick),
        unit="MB",
        detail=f"ingested in {done.seconds:,.0f} s ({rate:,.1f} MB/s); baseline = file size",
        size=f"a {size_mb:,.0f} MB generated log",
    )
    return result, path, rate


def bench_bombs(
    work: Path, quick: bool, log: Callable[[str], None], plain_log: Path, plain_rate: float
) -> list[BenchResult]:
    """(d) Compression bombs: a Word file and a .gz log that unpack a thousand times."""
    unpacked_mb = 256 if quick else 2048
    word = work / "bombs" / "bomb.docx"
    word.parent.mkdir()
    word_mb = make_word_bomb(word, unpacked_mb) / 2**20
    log(f"Word bomb: {word_mb:,.1f} MB unpacking to {unpacked_mb:,} MB; ingesting")
    refused = ingest_in_child(work / "lib-bombs", word)
    gz = work / "bombs" / "bomb.log.gz"
    gz_mb = make_gz_bomb(gz, plain_log) / 2**20
    text_mb = plain_log.stat().st_size / 2**20
    log(f".gz bomb: {gz_mb:,.1f} MB unpacking to {text_mb:,.0f} MB; ingesting")
    streamed = ingest_in_child(work / "lib-bombs", gz)
    gz_rate = text_mb / streamed.seconds
    return [
        BenchResult(
            name="peak memory refusing a Word bomb",
            value=refused.peak_mb,
            baseline=float(unpacked_mb),
            ratio=unpacked_mb / refused.peak_mb,
            goal="refused, peak < 300 MB, < 60 s, for 2 GB unpacked",
            met=judged(
                refused.status == "failed" and refused.peak_mb < 300 and refused.seconds < 60,
                not quick,
            ),
            unit="MB",
            detail=f"{word_mb:,.1f} MB .docx whose document.xml unpacks to {unpacked_mb:,} MB: "
            f"{refused.status} in {refused.seconds:,.1f} s ({refused.reason}); "
            "baseline = unpacked size",
            size=f"{word_mb:,.1f} MB .docx, {unpacked_mb:,} MB unpacked",
        ),
        BenchResult(
            name=".gz bomb throughput vs the plain log",
            value=gz_rate,
            baseline=plain_rate,
            ratio=gz_rate / plain_rate,
            goal="ingested at >= 0.8x plain, peak < 300 MB, for 1 GB unpacked",
            met=judged(
                streamed.status == "added"
                and gz_rate >= 0.8 * plain_rate
                and streamed.peak_mb < 300,
                not quick,
            ),
            unit="MB/s",
            detail=f"{gz_mb:,.1f} MB .gz unpacking to {text_mb:,.0f} MB: {streamed.status} in "
            f"{streamed.seconds:,.0f} s, peak {streamed.peak_mb:,.0f} MB; "
            "baseline = the plain log of row (c)",
            size=f"{gz_mb:,.1f} MB .gz, {text_mb:,.0f} MB unpacked",
        ),
    ]


def run_ingest_benchmarks(
    quick: bool = False, log: Callable[[str], None] = lambda _msg: None
) -> list[BenchResult]:
    """Run the ingestion benchmarks in one temporary folder."""
    with tempfile.TemporaryDirectory(prefix="rlm-bench-") as tmp:
        work = Path(tmp)
        results = [bench_pdf(work, quick, log), bench_rescan(work, quick, log)]
        big, plain_log, plain_rate = bench_big_log_memory(work, quick, log)
        return [*results, big, *bench_bombs(work, quick, log, plain_log, plain_rate)]
