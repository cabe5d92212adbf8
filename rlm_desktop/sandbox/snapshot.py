"""The library's text exactly as the REPL sees it, cached on disk once per library revision.

Reading one file is several times faster than rebuilding the text from tens of thousands of
passage rows, so the app writes the snapshot and every REPL child reads it. Standard library
and ``store.reader`` only: the REPL child imports this.
"""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path

from rlm_desktop.store.documents import Document
from rlm_desktop.store.reader import LibraryReader
from rlm_desktop.textsafe import printable

CACHE_DIR = "context-cache"
# Part of the cached files' names: bump it when the text's shape changes (headers), so a
# snapshot written by an older version is rebuilt instead of reused.
_FORMAT = 3
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
    meta: list[dict] = []
    offset = 0
    if documents is None:
        documents = library.documents(include_unreadable=False)
    for n, doc in enumerate(documents, 1):
        pages_text = f", {doc.pages} pages" if doc.pages else ""
        header = _HEADER.format(
            n=n, path=printable(doc.path), kind=doc.kind, pages=pages_text, chars=doc.chars
        )
        parts.append(header)
        offset += len(header)
        text = library.document_text(doc.id)
        parts.append(text)
        meta.append(
            {
                "id": doc.id,
                "name": doc.name,
                "path": doc.path,
                "kind": doc.kind,
                "pages": doc.pages,
                "length": len(text),
                "start": offset,
            }
        )
        offset += len(text)
        if not text.endswith("\n"):
            parts.append("\n")
            offset += 1
    return "".join(parts), meta


def _stem(rev: int, only: list[int] | None = None) -> str:
    """The files' common name: the revision, and for some documents only, which ones."""
    stem = f"rev-{rev}.v{_FORMAT}"
    if only is not None:
        ids = ",".join(str(i) for i in sorted(only))
        stem += ".only-" + hashlib.sha256(ids.encode()).hexdigest()[:16]
    return stem


def _paths(db_path: Path, rev: int, only: list[int] | None = None) -> tuple[Path, Path, Path]:
    folder = db_path.parent / CACHE_DIR
    stem = _stem(rev, only)
    return folder / f"{stem}.txt", folder / f"{stem}.grams.npy", folder / f"{stem}.json"


def _chosen(library: LibraryReader, only: list[int] | None) -> list[Document] | None:
    """The readable documents among ``only`` (ids), in the library's order; None for all."""
    if only is None:
        return None
    wanted = set(only)
    return [d for d in library.documents(include_unreadable=False) if d.id in wanted]


def ensure(db_path: Path, only: list[int] | None = None) -> Path:
    """Write the snapshot of the library's current revision (of the documents with these ids
    only, when given) if missing; return its folder."""
    with LibraryReader.open(db_path) as library, library.transaction():
        # One read transaction: revision and text agree.
        rev = library.revision()
        text_path, index_path, meta_path = _paths(db_path, rev, only)
        if not meta_path.exists():
            text, meta = build(library, _chosen(library, only))
            text_path.parent.mkdir(exist_ok=True)
            _write_atomic(text_path, text.encode("utf-8"))
            _write_index(index_path, text)
            # The metadata is written last: its presence means the snapshot is complete.
            record = {"revision": rev, "chars": len(text), "documents": meta}
            _write_atomic(meta_path, json.dumps(record).encode("utf-8"))
    for stale in text_path.parent.glob("rev-*"):
        if not stale.name.startswith(f"{_stem(rev)}."):  # other revisions' (any scope)
            stale.unlink(missing_ok=True)
    return text_path.parent


def _write_index(path: Path, text: str) -> None:
    import io

    import numpy as np

    from rlm_desktop.sandbox.locate import build_table

    buffer = io.BytesIO()
    np.save(buffer, build_table(text))
    _write_atomic(path, buffer.getvalue())


def _write_atomic(path: Path, data: bytes) -> None:
    tmp = path.with_suffix(path.suffix + ".tmp")
    tmp.write_bytes(data)
    os.replace(tmp, path)


def load(
    db_path: Path, library: LibraryReader, only: list[int] | None = None
) -> tuple[str, list[dict], str | None]:
    """The library's text (of the documents with these ids only, when given), its document
    table and the path of its k-gram index (or None): from the snapshot when it is current,
    else rebuilt from the passages."""
    text_path, index_path, meta_path = _paths(db_path, library.revision(), only)
    try:
        record = json.loads(meta_path.read_text(encoding="utf-8"))
        with open(text_path, encoding="utf-8", newline="") as handle:  # keep \r as stored
            text = handle.read()
        if len(text) == record["chars"]:
            return text, record["documents"], str(index_path)
    except (OSError, ValueError, KeyError):
        pass
    return (*build(library, _chosen(library, only)), None)
