"""Logs that only grew: recognise the part already stored, so that only the new tail is read.

A log is fingerprinted when it is stored: a hash of its first and last 64 KiB and its size.
When it is larger at a rescan and the same bytes still sit at the same places, what follows
them was appended. Only a log that ended with a line break qualifies, so that the new part
starts on a line of its own.
"""

from __future__ import annotations

import hashlib
from pathlib import Path

from rlm_desktop.store.documents import Document

_EDGE_BYTES = 64 * 1024
# Decoders that read any byte position of such a file as a fresh start: a UTF-8 file cut
# after a line break (its BOM, if any, is at the very start), or a one-byte encoding.
_RESUMABLE = {"utf-8": "utf-8", "utf-8-sig": "utf-8", "cp1252": "cp1252", "latin-1": "latin-1"}


def fingerprint(path: Path, size: int) -> str | None:
    """The fingerprint of the first ``size`` bytes of a file, or None when they do not end
    with a line break (an append could then continue the last line)."""
    if size <= 0:
        return None
    digest = hashlib.sha256(str(size).encode())
    with open(path, "rb") as handle:
        digest.update(handle.read(min(size, _EDGE_BYTES)))
        tail_at = max(0, size - _EDGE_BYTES)
        handle.seek(tail_at)
        tail = handle.read(size - tail_at)
    if not tail.endswith(b"\n"):
        return None
    digest.update(tail)
    return digest.hexdigest()


def resume_encoding(doc: Document) -> str | None:
    """The encoding to decode an appended tail of this document with; None when its text
    cannot be continued (not a plain log, or a multi-byte encoding with a byte order)."""
    if doc.kind != "text" or not doc.searchable or doc.fingerprint is None:
        return None
    return _RESUMABLE.get(doc.encoding or "")


def grown_from(doc: Document, path: Path, size: int) -> bool:
    """True when the file at ``path``, now ``size`` bytes, is ``doc``'s file with lines
    appended: larger, and its first ``doc.size`` bytes carry the fingerprint stored."""
    if size <= doc.size or resume_encoding(doc) is None:
        return False
    try:
        return fingerprint(path, doc.size) == doc.fingerprint
    except OSError:
        return False
