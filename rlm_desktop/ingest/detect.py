"""Decide what a file is (PDF, Word, text) from its name and first bytes, or why we skip it."""

from __future__ import annotations

import gzip
import os
import stat
import zipfile
from dataclasses import dataclass
from pathlib import Path

from rlm_desktop.ingest.extraction import ExtractionError

SNIFF_BYTES = 8192
TEXT_SUFFIXES = frozenset({".log", ".txt", ".md", ".csv", ".json", ".out", ".err"})
# Images are read by OCR (a TIFF may hold several pages); other image types are skipped.
IMAGE_SUFFIXES = frozenset({".png", ".jpg", ".jpeg", ".tif", ".tiff"})

# Opening a named pipe for reading would wait for a writer; with this flag it cannot.
_NONBLOCK = getattr(os, "O_NONBLOCK", 0)
_SPECIAL_FILES = (
    (stat.S_ISFIFO, "a named pipe (FIFO)"),
    (stat.S_ISCHR, "a character device"),
    (stat.S_ISBLK, "a block device"),
    (stat.S_ISSOCK, "a socket"),
)
_OLE_MAGIC = b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1"
_GZIP_MAGIC = b"\x1f\x8b"
_BOMS = (b"\xef\xbb\xbf", b"\xff\xfe", b"\xfe\xff")

_UNSUPPORTED = {
    ".doc": "legacy Word .doc files are not supported: save it as .docx or PDF",
    ".rtf": "RTF files are not supported: save it as .docx or PDF",
    ".odt": "OpenDocument text is not supported: save it as .docx or PDF",
    ".pages": "Apple Pages files are not supported: export it as .docx or PDF",
    ".xls": "spreadsheets are not supported: export the sheet as .csv",
    ".xlsx": "spreadsheets are not supported: export the sheet as .csv",
    ".ods": "spreadsheets are not supported: export the sheet as .csv",
    ".ppt": "presentations are not supported: export it as PDF",
    ".pptx": "presentations are not supported: export it as PDF",
    ".odp": "presentations are not supported: export it as PDF",
    ".epub": "e-books are not supported: convert it to PDF",
}

# Magic numbers of common binary formats, so the reason names what the file is.
_BINARY_MAGIC = {
    b"\x7fELF": "an executable (ELF)",
    b"MZ": "a Windows executable",
    b"\x89PNG": "a PNG image",
    b"\xff\xd8\xff": "a JPEG image",
    b"GIF8": "a GIF image",
    b"SQLite format 3\x00": "an SQLite database",
    b"7z\xbc\xaf": "a 7-Zip archive",
    b"Rar!": "a RAR archive",
    b"BZh": "a bzip2 archive",
    b"\xfd7zXZ\x00": "an xz archive",
}


@dataclass(frozen=True)
class FileKind:
    """How to read a file: ``kind`` is pdf, docx, image or text; text may be gzip-compressed."""

    kind: str
    compressed: bool = False


def not_regular_reason(mode: int) -> str | None:
    """Why a file with this ``st_mode`` is no document (a pipe, a device), or None."""
    if stat.S_ISREG(mode) or stat.S_ISDIR(mode):
        return None
    what = next((name for test, name in _SPECIAL_FILES if test(mode)), "a special file")
    return f"not a regular file: {what}"


def looks_binary(sample: bytes) -> bool:
    """True when a byte sample is not text in any encoding we read."""
    if sample.startswith(_BOMS):
        return False
    if b"\x00" in sample:
        return True
    controls = sum(1 for b in sample if b < 32 and b not in (9, 10, 12, 13, 27))
    return controls > max(1, len(sample) // 20)


def detect(path: Path) -> FileKind:
    """Classify a file, raising ExtractionError(status='skipped') when it is not for us."""
    head = _read_head(path)
    suffix = path.suffix.lower()
    if not head:
        raise ExtractionError("empty file (0 bytes)", status="skipped")
    if head.startswith(b"%PDF-") or suffix == ".pdf":
        return FileKind("pdf")
    if suffix == ".docx" or (head.startswith(b"PK") and _is_docx(path)):
        return FileKind("docx")
    if suffix in IMAGE_SUFFIXES:
        return FileKind("image")
    if suffix in _UNSUPPORTED:
        raise ExtractionError(_UNSUPPORTED[suffix], status="skipped")
    if head.startswith(_OLE_MAGIC):
        raise ExtractionError(
            "legacy Microsoft Office file (.doc/.xls/.ppt): save it as .docx or PDF",
            status="skipped",
        )
    if head.startswith(_GZIP_MAGIC):
        return _detect_gzip(path)
    if head.startswith(b"PK"):
        raise ExtractionError("a ZIP archive: unpack it and add the files", status="skipped")
    for magic, what in _BINARY_MAGIC.items():
        if head.startswith(magic):
            raise ExtractionError(f"not a document: {what}", status="skipped")
    if looks_binary(head):
        raise ExtractionError("binary file (not text): skipped", status="skipped")
    return FileKind("text")


def _read_head(path: Path) -> bytes:
    """The first bytes of a file; a pipe or a device is refused without being opened.

    Opening a device can have effects of its own and reading a named pipe blocks, so the
    type is checked before opening; the non-blocking open and the second check close the
    window in which the path could be swapped for one.
    """
    try:
        _refuse_special(os.stat(path).st_mode)
        fd = os.open(path, os.O_RDONLY | _NONBLOCK)
        with os.fdopen(fd, "rb") as handle:
            _refuse_special(os.fstat(fd).st_mode)
            return handle.read(SNIFF_BYTES)
    except OSError as exc:
        raise ExtractionError(f"cannot read the file: {exc.strerror or exc}") from exc


def _refuse_special(mode: int) -> None:
    reason = not_regular_reason(mode)
    if reason:
        raise ExtractionError(reason, status="skipped")


def _is_docx(path: Path) -> bool:
    try:
        with zipfile.ZipFile(path) as archive:
            return "word/document.xml" in archive.namelist()
    except (zipfile.BadZipFile, OSError):
        return False


def _detect_gzip(path: Path) -> FileKind:
    try:
        with gzip.open(path, "rb") as handle:
            inner = handle.read(SNIFF_BYTES)
    except (OSError, EOFError) as exc:
        raise ExtractionError(f"corrupt or truncated gzip file: {exc}") from exc
    if not inner:
        raise ExtractionError("empty file (0 bytes once decompressed)", status="skipped")
    if looks_binary(inner):
        raise ExtractionError(
            "compressed binary data (not text): only compressed text and logs are read",
            status="skipped",
        )
    return FileKind("text", compressed=True)
