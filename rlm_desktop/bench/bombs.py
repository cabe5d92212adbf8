"""Compression bombs for ``rlm-desktop bench ingest``: hostile input must cost bounded memory.

A Word file whose ``document.xml`` unpacks to gigabytes must be refused quickly and in small
memory; a ``.gz`` log that unpacks a thousand times must be read as a stream, at the speed of
a plain log of the same text (measured in the same run).
"""

from __future__ import annotations

import gzip
import json
import subprocess
import sys
import time
import zipfile
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

_MB = 2**20
_W = "http://schemas.openxmlformats.org/wordprocessingml/2006/main"
_CONTENT_TYPES = (
    '<?xml version="1.0" encoding="UTF-8"?><Types xmlns='
    '"http://schemas.openxmlformats.org/package/2006/content-types">'
    '<Default Extension="rels" ContentType="application/vnd.openxmlformats-package.'
    'relationships+xml"/><Default Extension="xml" ContentType="application/xml"/>'
    '<Override PartName="/word/document.xml" ContentType="application/vnd.openxmlformats-'
    'officedocument.wordprocessingml.document.main+xml"/></Types>'
)
_RELS = (
    '<?xml version="1.0" encoding="UTF-8"?><Relationships xmlns='
    '"http://schemas.openxmlformats.org/package/2006/relationships"><Relationship Id="rId1" '
    'Type="http://schemas.openxmlformats.org/officeDocument/2006/relationships/officeDocument" '
    'Target="word/document.xml"/></Relationships>'
)
# Run in a child, so the peak memory measured is the ingest's alone.
_CHILD = """
import json, resource, sys
from rlm_desktop.ingest import pipeline
from rlm_desktop.store import Library
with Library(sys.argv[1]) as lib:
    report = pipeline.ingest(lib, [sys.argv[2]])
peak_kb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
outcome = report.files[0]
print(json.dumps({"peak_kb": peak_kb, "status": outcome.status, "reason": outcome.reason}))
"""


@dataclass(frozen=True)
class Ingested:
    """One file ingested in a child process: its outcome, peak memory and wall time."""

    status: str
    reason: str
    peak_mb: float
    seconds: float


def ingest_in_child(library_dir: Path, path: Path) -> Ingested:
    """Ingest one file into a library from a fresh process and measure it."""
    started = time.perf_counter()
    done = subprocess.run(
        [sys.executable, "-c", _CHILD, str(library_dir), str(path)],
        capture_output=True,
        text=True,
        check=True,
    )
    data = json.loads(done.stdout.strip().splitlines()[-1])
    seconds = time.perf_counter() - started
    return Ingested(data["status"], data["reason"], data["peak_kb"] / 1024, seconds)


def write_word_file(
    path: Path,
    paragraphs: Iterable[str],
    *,
    compression: int = zipfile.ZIP_DEFLATED,
    extra: Iterable[tuple[str, str | bytes]] = (),
) -> Path:
    """A minimal valid .docx whose body is these paragraphs, streamed into the archive
    (so a body of gigabytes costs no memory); ``extra`` adds parts by name."""
    with zipfile.ZipFile(path, "w", compression) as archive:
        archive.writestr("[Content_Types].xml", _CONTENT_TYPES)
        archive.writestr("_rels/.rels", _RELS)
        for name, data in extra:
            archive.writestr(name, data)
        with archive.open("word/document.xml", "w", force_zip64=True) as part:
            part.write(f'<w:document xmlns:w="{_W}"><w:body>'.encode())
            for text in paragraphs:
                part.write(f"<w:p><w:r><w:t>{text}</w:t></w:r></w:p>".encode())
            part.write(b"</w:body></w:document>")
    return path


def make_word_bomb(path: Path, unpacked_mb: int) -> int:
    """A valid .docx whose body unpacks to ``unpacked_mb``; returns its size on disk."""
    paragraph = "All work and no play makes Jack a dull boy. " * 20
    count = unpacked_mb * _MB // (len(paragraph) + len("<w:p><w:r><w:t></w:t></w:r></w:p>"))
    write_word_file(path, (paragraph for _ in range(count)))
    return path.stat().st_size


def make_gz_bomb(path: Path, text: Path) -> int:
    """Compress a log that repeats one short stretch of ``text`` up to its size (so that
    deflate, whose window is 32 KB, packs it a thousand times); returns the size on disk."""
    with open(text, "rb") as source:
        block = source.read(16 * 1024)
    block = block[: block.rfind(b"\n") + 1]
    repeats = text.stat().st_size // len(block)
    with gzip.open(path, "wb", compresslevel=9) as out:
        for _ in range(repeats):
            out.write(block)
    return path.stat().st_size
