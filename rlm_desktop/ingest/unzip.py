"""Refuse ZIP bombs: unpack every member through a counting stream before a parser reads it.

Nothing a ZIP header declares is trusted: each member is decompressed in small chunks that
are counted and dropped, its ratio is measured against the compressed bytes actually read,
and reading stops as soon as a limit is passed, so a refusal costs a few megabytes of
memory and well under a second whatever the archive claims.
"""

from __future__ import annotations

import zipfile
from typing import BinaryIO

from rlm_desktop.ingest.extraction import ExtractionError, IngestLimits

_MB = 1024 * 1024
# Small reads keep the compressed read-ahead small, so the measured ratio is close.
_CHUNK = 64 * 1024
# Below this a part is harmless whatever its ratio (a tiny, very repetitive styles.xml).
_RATIO_FLOOR = 8 * _MB
# zipfile decompresses these in bounded steps; bzip2 and LZMA are not (and Word never
# writes them), so a member using them is refused before it is read.
_BOUNDED_METHODS = (zipfile.ZIP_STORED, zipfile.ZIP_DEFLATED)
_NAME_CHARS = 120


class _Counted:
    """A binary file that counts the bytes read through it: the compressed input."""

    def __init__(self, raw: BinaryIO) -> None:
        self._raw = raw
        self.bytes_read = 0

    def read(self, n: int = -1) -> bytes:
        data = self._raw.read(n)
        self.bytes_read += len(data)
        return data

    def seek(self, offset: int, whence: int = 0) -> int:
        return self._raw.seek(offset, whence)

    def tell(self) -> int:
        return self._raw.tell()

    def seekable(self) -> bool:
        return True


def check_expansion(handle: BinaryIO, limits: IngestLimits) -> None:
    """Raise ExtractionError (failed) when a member, or all together, unpack too far.

    Each member may unpack to ``docx_max_part_mb``, all of them together to that much
    more than the file itself, and past a few megabytes no member may unpack to more than
    ``docx_max_ratio`` times the compressed bytes read for it. Damaged archives raise what
    ``zipfile`` raises (BadZipFile, RuntimeError for encryption, zlib.error).
    """
    part_cap = limits.docx_max_part_mb * _MB
    total_cap = handle.seek(0, 2) + part_cap
    counted = _Counted(handle)
    total = 0
    with zipfile.ZipFile(counted) as archive:
        for info in archive.infolist():
            name = _printable(info.filename)
            if info.compress_type not in _BOUNDED_METHODS:
                raise _refusal(
                    f"{name} uses a compression method Word does not write ({info.compress_type})"
                )
            unpacked = 0
            with archive.open(info) as member:
                start = counted.bytes_read
                while chunk := member.read(_CHUNK):
                    unpacked += len(chunk)
                    total += len(chunk)
                    packed = max(counted.bytes_read - start, 1)
                    if unpacked > part_cap:
                        raise _refusal(
                            f"{name} expands to more than {limits.docx_max_part_mb} MB "
                            f"(limit {limits.docx_max_part_mb} MB)"
                        )
                    if unpacked > _RATIO_FLOOR and unpacked > limits.docx_max_ratio * packed:
                        raise _refusal(
                            f"{name} expands more than {limits.docx_max_ratio} times "
                            f"(limit {limits.docx_max_ratio}x)"
                        )
                    if total > total_cap:
                        raise _refusal(
                            f"its parts expand to more than {total_cap // _MB} MB in all "
                            f"(limit: the file's own size plus {limits.docx_max_part_mb} MB)"
                        )


def _refusal(why: str) -> ExtractionError:
    return ExtractionError(f"{why}: refused as a possible compression bomb")


def _printable(name: str) -> str:
    """A member name fit for a one-line reason: the archive chose it, not the user."""
    shown = "".join(c if c.isprintable() else "?" for c in name[:_NAME_CHARS])
    return shown + ("…" if len(name) > _NAME_CHARS else "")
