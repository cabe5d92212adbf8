"""The library's text exactly as the REPL sees it, cached on disk once per library revision.

Reading one file is several times faster than rebuilding the text from tens of thousands of
passage rows, so the app writes the snapshot and every REPL child reads it (a small library)
or maps it (a large one, see ``mapped``). It is written straight from the passages, a few at
a time, so the app never holds the library's text: a UTF-8 file, its checkpoint table, the
k-gram index of ``locate`` and, last, a JSON record of the documents. Standard library,
``store.reader`` and (while writing) numpy only: the REPL child imports this.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from rlm_desktop.sandbox.locate import STEP, TableBuilder, gram_step
from rlm_desktop.sandbox.mapped import TextWriter
from rlm_desktop.store.documents import Document
from rlm_desktop.store.reader import LibraryReader
from rlm_desktop.textsafe import printable

log = logging.getLogger(__name__)

CACHE_DIR = "context-cache"
# Part of the cached files' names: bump it when the text's shape changes (headers), so a
# snapshot written by an older version is rebuilt instead of reused.
_FORMAT = 4
_HEADER = "=== Document {n}: {path} ({kind}{pages}, {chars:,} characters) ===\n"


def build(
    library: LibraryReader, documents: list[Document] | None = None
) -> tuple[str, list[dict]]:
    """Concatenate every readable document (or these ones), each after a one-line header
    naming it (the path escaped, so no file name can break the line or forge another header).

    Returns the text and, per document, its id, name, path, kind, pages, length and the
    offset where its text starts.
    """
    parts: list[str] = []
    meta = _write_documents(library, documents, parts.append)
    return "".join(parts), meta


def head(
    library: LibraryReader, documents: list[Document] | None, max_chars: int
) -> tuple[str, int]:
    """The first ``max_chars`` characters of what ``build`` gives, and how long all of it
    is, reading only the passages kept: a one-prompt baseline on gigabytes of logs."""
    parts: list[str] = []
    kept = 0

    def keep(piece: str) -> None:
        nonlocal kept
        if kept < max_chars:
            parts.append(piece[: max_chars - kept])
        kept += len(piece)
        if kept >= max_chars:
            raise _Full

    try:
        _write_documents(library, documents, keep)
    except _Full:
        chosen = documents or library.documents(include_unreadable=False)
        kept = max(kept, sum(d.chars for d in chosen))  # the rest, from the stored lengths
    return "".join(parts), kept


class _Full(Exception):
    """``head`` has what it needs."""


def _write_documents(
    library: LibraryReader, documents: list[Document] | None, write: Callable[[str], None]
) -> list[dict]:
    """Hand the text ``build`` describes to ``write`` a passage at a time; return its
    document table."""
    meta: list[dict] = []
    offset = 0
    if documents is None:
        documents = library.documents(include_unreadable=False)
    for n, doc in enumerate(documents, 1):
        pages_text = f", {doc.pages} pages" if doc.pages else ""
        header = _HEADER.format(
            n=n, path=printable(doc.path), kind=doc.kind, pages=pages_text, chars=doc.chars
        )
        write(header)
        offset += len(header)
        length, last = 0, ""
        for passage in library.passages(doc.id):
            write(passage.text)
            length += len(passage.text)
            last = passage.text or last
        meta.append(
            {
                "id": doc.id,
                "name": doc.name,
                "path": doc.path,
                "kind": doc.kind,
                "pages": doc.pages,
                "length": length,
                "start": offset,
            }
        )
        offset += length
        if not last.endswith("\n"):
            write("\n")
            offset += 1
    return meta


@dataclass(frozen=True)
class Snapshot:
    """A written snapshot: its files and its record."""

    text_path: Path  # the text, UTF-8
    table_path: Path  # its checkpoints (see ``mapped``)
    index_path: Path  # the k-gram index of ``locate``
    chars: int
    size: int  # bytes of the text file
    gram_step: int  # how far apart the index's grams are
    documents: list[dict]

    @property
    def files_mb(self) -> int:
        """Megabytes of all its files (what a REPL that maps them adds to its address space)."""
        paths = (self.text_path, self.table_path, self.index_path)
        return sum(p.stat().st_size for p in paths if p.exists()) // (1 << 20) + 1


def _stem(rev: int, only: list[int] | None = None) -> str:
    """The files' common name: the revision, and for some documents only, which ones."""
    stem = f"rev-{rev}.v{_FORMAT}"
    if only is not None:
        ids = ",".join(str(i) for i in sorted(only))
        stem += ".only-" + hashlib.sha256(ids.encode()).hexdigest()[:16]
    return stem


def _paths(db_path: Path, rev: int, only: list[int] | None = None) -> tuple[Path, ...]:
    """The text, checkpoint, index and record files of one revision (and scope)."""
    folder = db_path.parent / CACHE_DIR
    stem = _stem(rev, only)
    return tuple(folder / f"{stem}{suffix}" for suffix in (".txt", ".chars", ".grams.npy", ".json"))


def _chosen(library: LibraryReader, only: list[int] | None) -> list[Document] | None:
    """The readable documents among ``only`` (ids), in the library's order; None for all."""
    if only is None:
        return None
    wanted = set(only)
    return [d for d in library.documents(include_unreadable=False) if d.id in wanted]


def ensure(db_path: Path, only: list[int] | None = None) -> Snapshot:
    """Write the snapshot of the library's current revision (of the documents with these ids
    only, when given) if missing; return it."""
    with LibraryReader.open(db_path) as library, library.transaction():
        # One read transaction: revision and text agree.
        rev = library.revision()
        paths = _paths(db_path, rev, only)
        found = _read(paths)
        if found is None:
            paths[0].parent.mkdir(exist_ok=True)
            _write(library, _chosen(library, only), paths)
            found = _read(paths)
            if found is None:
                raise OSError(f"the snapshot at {paths[-1]} cannot be read back")
    for stale in paths[0].parent.glob("rev-*"):
        if not stale.name.startswith(f"{_stem(rev)}."):  # other revisions' (any scope)
            stale.unlink(missing_ok=True)
    return found


def _write(
    library: LibraryReader, documents: list[Document] | None, paths: tuple[Path, ...]
) -> None:
    """Stream the text into its file while the checkpoints and the index are noted."""
    text_path, table_path, index_path, record_path = paths
    readable = library.documents(include_unreadable=False) if documents is None else documents
    step = gram_step(sum(d.chars for d in readable))
    builder = TableBuilder(step)
    partial = text_path.with_suffix(".txt.tmp")
    with open(partial, "wb") as handle:
        writer = TextWriter(handle)

        def write(piece: str) -> None:
            writer.write(piece)
            builder.add(piece)

        meta = _write_documents(library, readable, write)
    os.replace(partial, text_path)
    _write_atomic(table_path, writer.checkpoints())
    _write_index(index_path, builder.finish())
    if step > STEP:
        log.info("the library is large: its provenance index samples every %d characters", step)
    # The record is written last: its presence means the snapshot is complete.
    record = {"chars": writer.chars, "bytes": writer.bytes, "gram_step": step, "documents": meta}
    _write_atomic(record_path, json.dumps(record).encode("utf-8"))


def _write_index(path: Path, table: Any) -> None:
    import numpy as np

    partial = path.with_suffix(".tmp.npy")
    np.save(partial, table)
    os.replace(partial, path)


def _write_atomic(path: Path, data: bytes) -> None:
    tmp = path.with_suffix(path.suffix + ".tmp")
    tmp.write_bytes(data)
    os.replace(tmp, path)


def _read(paths: tuple[Path, ...]) -> Snapshot | None:
    """The snapshot whose record is at ``paths[-1]``, when complete and whole."""
    text_path, table_path, index_path, record_path = paths
    try:
        record = json.loads(record_path.read_text(encoding="utf-8"))
        snapshot = Snapshot(
            text_path,
            table_path,
            index_path,
            int(record["chars"]),
            int(record["bytes"]),
            int(record["gram_step"]),
            list(record["documents"]),
        )
        if text_path.stat().st_size != snapshot.size:
            return None
    except (OSError, ValueError, KeyError, TypeError):
        return None
    return snapshot


def current(
    db_path: Path, library: LibraryReader, only: list[int] | None = None
) -> Snapshot | None:
    """The snapshot of the library's current revision (of these documents), if written."""
    return _read(_paths(db_path, library.revision(), only))


def load(
    db_path: Path, library: LibraryReader, only: list[int] | None = None
) -> tuple[str, list[dict], Snapshot | None]:
    """The library's text (of the documents with these ids only, when given), its document
    table and its snapshot: read from the snapshot when it is current, else rebuilt from the
    passages (and no snapshot)."""
    found = current(db_path, library, only)
    if found is not None:
        try:
            with open(found.text_path, encoding="utf-8", newline="") as handle:  # keep \r
                text = handle.read()
            if len(text) == found.chars:
                return text, found.documents, found
        except (OSError, ValueError):
            pass
    return (*build(library, _chosen(library, only)), None)
