"""Bring files into a library: decide what changed, extract in worker processes, write once."""

from __future__ import annotations

import logging
import multiprocessing
import os
import threading
from collections import deque
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import FIRST_COMPLETED, Future, ProcessPoolExecutor, wait
from concurrent.futures.process import BrokenProcessPool
from dataclasses import asdict, dataclass, field
from pathlib import Path

from rlm_desktop.errors import UsageError
from rlm_desktop.ingest.appended import fingerprint, grown_from, resume_encoding
from rlm_desktop.ingest.chunking import chunk_blocks
from rlm_desktop.ingest.detect import FileKind, detect, not_regular_reason
from rlm_desktop.ingest.extract import (
    ExtractedFile,
    extract_file,
    file_sha256,
    open_document,
    start_worker,
)
from rlm_desktop.ingest.extraction import (
    EXTRACTOR_VERSION,
    ExtractionError,
    IngestLimits,
    Passage,
    ReadHooks,
)
from rlm_desktop.ingest.ocr import ocr_mode, unavailable
from rlm_desktop.ingest.scanner import is_under, scan
from rlm_desktop.ingest.text import tail_blocks
from rlm_desktop.settings import load_settings
from rlm_desktop.store.library import Document, DocumentMeta, Library

log = logging.getLogger(__name__)

# Text files above this size, and every compressed one (its size says nothing of what it
# holds), are streamed by the writer itself instead of being read whole in a worker, so
# memory stays bounded whatever the size of a log.
STREAM_BYTES = 16 * 1024 * 1024
# A streamed log is cut into longer passages than other documents: the full-text index costs
# per passage and word, so fewer, longer passages index a log faster and smaller, and a
# search hit in a log is narrowed to its lines anyway.
LOG_PASSAGE_CHARS = 16_000
STATUSES = ("added", "updated", "unchanged", "removed", "failed", "skipped")


@dataclass
class FileOutcome:
    """What happened to one file in an ingest."""

    path: str
    status: str
    reason: str = ""
    warnings: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)  # news that is no warning: "OCR: 2 pages…"


@dataclass
class IngestReport:
    """Every file's outcome, with counts per status."""

    files: list[FileOutcome] = field(default_factory=list)
    cancelled: bool = False

    def counts(self) -> dict[str, int]:
        """Number of files per status (every status present, zero when none)."""
        counts = dict.fromkeys(STATUSES, 0)
        for outcome in self.files:
            counts[outcome.status] += 1
        return counts

    def to_json(self) -> dict:
        """The public shape of ``ingest --json``."""
        data: dict = self.counts()
        data["cancelled"] = self.cancelled
        data["files"] = [asdict(o) for o in sorted(self.files, key=lambda o: o.path)]
        return data


@dataclass(frozen=True)
class IngestProgress:
    """Progress after each file: ``done`` of ``total`` files have an outcome. While a file
    is read by OCR, progress comes after each page too: status "reading", ``page`` of
    ``pages`` read."""

    done: int
    total: int
    path: str
    status: str
    page: int = 0
    pages: int = 0


ProgressCallback = Callable[[IngestProgress], None]


@dataclass
class _Job:
    path: Path
    size: int
    mtime_ns: int
    previous: Document | None
    kind: FileKind
    grown: bool = False  # a log with lines appended since it was stored: read from its end

    @property
    def streamed(self) -> bool:
        big = self.kind.compressed or self.size > STREAM_BYTES
        return self.kind.kind == "text" and (big or self.grown)

    @property
    def new_status(self) -> str:
        return "updated" if self.previous else "added"


class _Run:
    """One ingest: the state shared by the planning and writing steps."""

    def __init__(
        self,
        library: Library,
        total: int,
        on_progress: ProgressCallback | None,
        cancel: threading.Event | None,
        limits: IngestLimits,
    ) -> None:
        self.library = library
        self.limits = limits
        self.report = IngestReport()
        self.total = total
        self.on_progress = on_progress
        self.cancel = cancel or threading.Event()
        self.recorded: set[str] = set()
        mode = ocr_mode(limits.ocr)
        self.ocr_ready = mode != "off" and unavailable(limits.ocr_languages) is None
        self.force_ocr = self.ocr_ready and mode == "force"
        self._channel: _Channel | None = None

    def record(
        self,
        path: str,
        status: str,
        reason: str = "",
        warnings: list | None = None,
        notes: list | None = None,
    ):
        outcome = FileOutcome(path, status, reason, list(warnings or []), list(notes or []))
        self.report.files.append(outcome)
        if status != "removed":
            self.recorded.add(path)
        if self.on_progress:
            self.on_progress(IngestProgress(len(self.recorded), self.total, path, status))

    def page_read(self, path: str, page: int, pages: int) -> None:
        """Say that a file being read by OCR has ``page`` of ``pages`` done."""
        if self.on_progress:
            done = len(self.recorded)
            self.on_progress(IngestProgress(done, self.total, path, "reading", page, pages))

    def hooks(self, path: str) -> ReadHooks:
        """Cancel and page progress for a file read in this process."""
        return ReadHooks(self.cancel.is_set, lambda page, pages: self.page_read(path, page, pages))

    @property
    def channel(self) -> _Channel:
        """The cancel flag and page reports shared with worker processes (made on first use)."""
        if self._channel is None:
            self._channel = _Channel()
        return self._channel

    def relay(self) -> None:
        """Pass a cancel on to the workers, and their pages read on to the progress."""
        if self._channel is None:
            return
        if self.cancel.is_set():
            self._channel.stop.set()
        for path, page, pages in self._channel.drain():
            self.page_read(path, page, pages)


class _Channel:
    """Between the writer and its worker processes: the cancel flag and the pages read."""

    def __init__(self) -> None:
        context = multiprocessing.get_context("spawn")
        self.stop = context.Event()
        self.pages = context.SimpleQueue()

    def drain(self) -> Iterator[tuple[str, int, int]]:
        """The pages reported since the last drain, oldest first."""
        while not self.pages.empty():
            yield self.pages.get()


def ingest(
    library: Library,
    paths: Iterable[str | Path],
    *,
    on_progress: ProgressCallback | None = None,
    cancel: threading.Event | None = None,
    workers: int | None = None,
    limits: IngestLimits | None = None,
) -> IngestReport:
    """Ingest files and folders (recursively); unchanged files are skipped quickly.

    ``limits`` default to the user's settings. A pipe or a device named here is reported
    as skipped, with the reason; inside folders such entries are passed over.
    """
    roots = [Path(p).expanduser().absolute() for p in paths]
    missing = [str(r) for r in roots if not r.exists()]
    if missing:
        raise UsageError(f"no such file or folder: {', '.join(missing)}")
    roots = [r.resolve() for r in roots]
    library.add_sources(str(r) for r in roots if r.is_dir() or r.is_file())
    return _ingest_roots(library, roots, on_progress, cancel, workers, limits)


def rescan(
    library: Library,
    *,
    on_progress: ProgressCallback | None = None,
    cancel: threading.Event | None = None,
    workers: int | None = None,
    limits: IngestLimits | None = None,
) -> IngestReport:
    """Ingest again every file and folder ever added; vanished ones are removed."""
    roots = [Path(p) for p in library.sources()]
    return _ingest_roots(library, roots, on_progress, cancel, workers, limits)


def remove(library: Library, paths: Iterable[str | Path]) -> IngestReport:
    """Remove files or whole folders from the library and stop rescanning them."""
    targets = [str(Path(p).expanduser().absolute()) for p in paths]
    targets += [str(Path(t).resolve()) for t in targets]
    report = IngestReport()
    doomed = [d for d in library.documents() if any(is_under(d.path, t) for t in targets)]
    library.remove_documents(d.id for d in doomed)
    library.forget_sources(s for s in library.sources() if any(is_under(s, t) for t in targets))
    report.files = [FileOutcome(d.path, "removed") for d in doomed]
    return report


def _ingest_roots(
    library: Library,
    roots: list[Path],
    on_progress: ProgressCallback | None,
    cancel: threading.Event | None,
    workers: int | None,
    limits: IngestLimits | None,
) -> IngestReport:
    library.discard_incomplete()
    present = [r for r in roots if r.exists()]
    special = {r: reason for r in present if (reason := _not_regular(r))}
    files = list(scan(r for r in present if r not in special))
    limits = limits or IngestLimits.from_settings(load_settings())
    run = _Run(library, len(files) + len(special), on_progress, cancel, limits)
    for root, reason in special.items():
        run.record(str(root), "skipped", reason)
    known = {doc.path: doc for doc in library.documents()}
    jobs = _plan(run, files, known)
    # A folder that is missing as a whole (an unplugged drive) keeps its documents.
    _remove_vanished(run, present, known)
    streamed = [j for j in jobs if j.streamed]
    pooled = [j for j in jobs if not j.streamed]
    _extract_pooled(run, pooled, workers)
    for job in streamed:
        if run.cancel.is_set():
            break
        _stream(run, job)
    for job in jobs:
        if run.cancel.is_set() and str(job.path) not in run.recorded:
            run.report.cancelled = True
            run.record(str(job.path), "skipped", "cancelled before it was read")
    return run.report


def _not_regular(root: Path) -> str | None:
    try:
        return not_regular_reason(root.stat().st_mode)
    except OSError:
        return None  # the scan reports what it cannot read


def _plan(run: _Run, files: list[Path], known: dict[str, Document]) -> list[_Job]:
    """Record unchanged files and files that are not for us; return those to extract.

    A file's kind is decided from its first bytes here, before anything hashes or reads it
    whole, so a huge binary file is skipped in milliseconds.
    """
    jobs = []
    for path in files:
        try:
            info = path.stat()
        except OSError as exc:
            run.record(str(path), "failed", f"cannot read: {exc.strerror}")
            continue
        previous = known.get(str(path))
        if (
            previous
            and not _ocr_outdated(run, previous)
            and _unchanged(previous, path, info.st_size, info.st_mtime_ns)
        ):
            if previous.mtime_ns != info.st_mtime_ns:
                run.library.touch(previous.id, info.st_mtime_ns)
            run.record(str(path), "unchanged")
            continue
        job = _Job(path, info.st_size, info.st_mtime_ns, previous, FileKind("unknown"))
        try:
            job.kind = detect(path)
        except ExtractionError as exc:
            _record_unreadable(run, job, exc.status, exc.message)
            continue
        job.grown = (
            previous is not None
            and previous.extractor_version == EXTRACTOR_VERSION
            and job.kind.kind == "text"
            and not job.kind.compressed
            and grown_from(previous, path, info.st_size)
        )
        jobs.append(job)
    return jobs


def _unchanged(doc: Document, path: Path, size: int, mtime_ns: int) -> bool:
    if doc.extractor_version != EXTRACTOR_VERSION or doc.size != size:
        return False
    if doc.mtime_ns == mtime_ns:
        return True
    if doc.searchable and doc.sha256 is None and doc.fingerprint is not None:
        # A log stored by appending was never read whole: its fingerprint stands in.
        return _same_fingerprint(doc, path)
    if not doc.searchable or doc.sha256 is None:
        return False  # no text kept: its first bytes are cheaper to read again than a hash
    try:
        return file_sha256(path) == doc.sha256
    except OSError:
        return False


def _same_fingerprint(doc: Document, path: Path) -> bool:
    try:
        return fingerprint(path, doc.size) == doc.fingerprint
    except OSError:
        return False


def _ocr_outdated(run: _Run, doc: Document) -> bool:
    """True when OCR would now read what it did not when the file was stored: OCR was
    installed or turned on since, or "force" asks for pages read from their text layer."""
    if not run.ocr_ready:
        return False
    if doc.ocr_pending or (doc.kind == "image" and doc.status == "skipped"):
        return True  # an image is skipped only when OCR could not read it
    return run.force_ocr and doc.kind == "pdf" and doc.ocr_pages < (doc.pages or 0)


def _remove_vanished(run: _Run, roots: list[Path], known: dict[str, Document]) -> None:
    gone = [
        doc
        for doc in known.values()
        if any(is_under(doc.path, str(r)) for r in roots) and not os.path.exists(doc.path)
    ]
    run.library.remove_documents(d.id for d in gone)
    for doc in gone:
        run.record(doc.path, "removed")


def _meta(job: _Job, sha256: str | None, kind: str, title: str) -> DocumentMeta:
    return DocumentMeta(
        path=str(job.path),
        kind=kind,
        size=job.size,
        mtime_ns=job.mtime_ns,
        sha256=sha256,
        title=title or job.path.name,
        extractor_version=EXTRACTOR_VERSION,
    )


def _record_unreadable(
    run: _Run, job: _Job, status: str, reason: str, sha256: str | None = None
) -> None:
    meta = _meta(job, sha256, job.kind.kind, "")
    run.library.record_unreadable(meta, status, reason)
    run.record(str(job.path), status, reason)


def _write_extracted(run: _Run, job: _Job, result: ExtractedFile) -> None:
    if result.status == "cancelled":  # any older version stays as it was
        run.report.cancelled = True
        run.record(result.path, "skipped", result.reason)
        return
    if result.status != "ok":
        _record_unreadable(run, job, result.status, result.reason, result.sha256)
        return
    meta = _meta(job, result.sha256, result.kind, result.title)
    meta.pages, meta.encoding, meta.warnings = result.pages, result.encoding, result.warnings
    meta.ocr = result.ocr
    run.library.write_document(meta, result.passages)
    notes = [result.ocr.note] if result.ocr.note else []
    run.record(result.path, job.new_status, "; ".join(result.warnings), result.warnings, notes)


def _extract_pooled(run: _Run, jobs: list[_Job], workers: int | None) -> None:
    """Extract in worker processes (inline for a single file) and write as results come."""
    if len(jobs) <= 1:
        for job in jobs:
            if not run.cancel.is_set():
                path = str(job.path)
                _write_extracted(run, job, extract_file(path, run.limits, run.hooks(path)))
        return
    workers = workers or min(len(jobs), os.cpu_count() or 1, 8)
    queue = deque(jobs)
    while queue and not run.cancel.is_set():
        suspects = _run_pool(run, queue, workers)
        # A worker died (a parser crash, or the OS killed it): the files it may have been
        # reading are retried one per process, so only the guilty file fails.
        for job in suspects:
            _write_extracted(run, job, _extract_alone(run, job))


def _new_pool(run: _Run, workers: int) -> ProcessPoolExecutor:
    # spawn: safe with threads (the GUI) and the only start method of frozen builds.
    channel = run.channel
    return ProcessPoolExecutor(
        max_workers=workers,
        mp_context=multiprocessing.get_context("spawn"),
        initializer=start_worker,
        initargs=(channel.stop, channel.pages),
    )


def _run_pool(run: _Run, queue: deque[_Job], workers: int) -> list[_Job]:
    """Drain the queue through a pool; return the in-flight jobs if the pool broke."""
    pending: dict[Future, _Job] = {}
    with _new_pool(run, workers) as pool:
        try:
            while True:
                # A small window in flight, so finished texts never pile up in memory.
                while queue and len(pending) < workers * 2 and not run.cancel.is_set():
                    # Submit before popping: submit() raises if the pool just broke.
                    future = pool.submit(extract_file, str(queue[0].path), run.limits)
                    pending[future] = queue.popleft()
                if not pending:
                    return []
                done, _ = wait(pending, timeout=0.5, return_when=FIRST_COMPLETED)
                run.relay()
                for future in done:
                    job = pending.pop(future)
                    try:
                        result = future.result()
                    except BrokenProcessPool:
                        pending[future] = job
                        raise
                    _write_extracted(run, job, result)
        except BrokenProcessPool:
            log.warning("an extraction worker died; retrying its files one by one")
            return list(pending.values())
        finally:
            for future in pending:
                future.cancel()


def _extract_alone(run: _Run, job: _Job) -> ExtractedFile:
    with _new_pool(run, 1) as pool:
        try:
            future = pool.submit(extract_file, str(job.path), run.limits)
            while not wait([future], timeout=0.5).done:
                run.relay()
            run.relay()
            return future.result()
        except BrokenProcessPool:
            return ExtractedFile(
                str(job.path), None, status="failed", reason="the file crashed the reader"
            )


class _Cancelled(Exception):
    """The user cancelled while a streamed file was being written."""


def _unless_cancelled(passages: Iterable[Passage], cancel: threading.Event) -> Iterator[Passage]:
    for passage in passages:
        if cancel.is_set():
            raise _Cancelled
        yield passage


def _stream(run: _Run, job: _Job) -> None:
    """Read a large or compressed text file in the writer, passage by passage, in bounded
    memory (a grown log from where its stored text ends); a cancel stops it mid-file and
    leaves any older version in place."""
    path = str(job.path)
    try:
        if job.grown and job.previous is not None:
            meta = _append(run, job, job.previous)
        else:
            extraction = open_document(job.path, run.limits)
            meta = _meta(job, file_sha256(job.path), extraction.kind, extraction.title)
            meta.encoding = extraction.encoding
            if not job.kind.compressed:
                meta.fingerprint = fingerprint(job.path, job.size)
            # The list is shared: warnings found while streaming are stored at the end.
            meta.warnings = extraction.warnings
            chunks = chunk_blocks(extraction.blocks, LOG_PASSAGE_CHARS, 2 * LOG_PASSAGE_CHARS)
            run.library.write_document(meta, _unless_cancelled(chunks, run.cancel))
    except _Cancelled:
        run.report.cancelled = True
        run.record(path, "skipped", "cancelled while it was read")
        return
    except ExtractionError as exc:
        _record_unreadable(run, job, exc.status, exc.message)
        return
    except OSError as exc:
        _record_unreadable(run, job, "failed", f"cannot read: {exc.strerror or exc}")
        return
    run.record(path, job.new_status, "; ".join(meta.warnings), meta.warnings)


def _append(run: _Run, job: _Job, previous: Document) -> DocumentMeta:
    """Store the lines appended to a log since ``previous`` was stored, reading only them;
    return what the library now records of the file."""
    meta = _meta(job, None, previous.kind, previous.title)
    meta.encoding = previous.encoding
    meta.fingerprint = fingerprint(job.path, job.size)
    last = run.library.last_ordinal(previous.id)
    encoding = resume_encoding(previous) or "utf-8"
    blocks = tail_blocks(job.path, previous.size, encoding, meta.warnings)
    chunks = chunk_blocks(
        blocks,
        LOG_PASSAGE_CHARS,
        2 * LOG_PASSAGE_CHARS,
        ordinal=0 if last is None else last + 1,
        offset=previous.chars,
        line=previous.lines + 1,
    )
    document = run.library.append_passages(previous, meta, _unless_cancelled(chunks, run.cancel))
    meta.warnings = document.warnings
    return meta
