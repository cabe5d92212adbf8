"""Citations: quoted snippets found in the answer, checked against the library itself.

A citation is verified only when its snippet occurs in a document — exactly, or once runs
of whitespace are treated as one space. One that does not is kept, flagged unverified.
The check runs in the app against the library, never trusting the REPL child.
"""

from __future__ import annotations

import re
import sqlite3
from dataclasses import asdict, dataclass

from rlm_desktop.store.search import build_fts_query

_QUOTED = re.compile(r'^\s*\[(\d+)\]\s*[:\-]?\s*["“](.+?)["”]\s*$')
_WORDS = re.compile(r"\w+")
_NEIGHBOURS = 2  # passages on each side of a search hit that a snippet may run into
_CANDIDATES = 20


@dataclass(frozen=True)
class Citation:
    """A numbered citation; location fields are None when it could not be verified."""

    n: int
    snippet: str
    verified: bool
    path: str | None = None
    document: str | None = None
    page: int | None = None
    page_label: str | None = None
    line_start: int | None = None
    line_end: int | None = None
    start: int | None = None
    end: int | None = None

    def to_json(self) -> dict:
        """A JSON-safe dict."""
        return asdict(self)


def split_quoted_citations(answer: str) -> tuple[str, list[tuple[int, str]]]:
    """Split trailing ``[n] "exact text"`` lines off an answer: (body, [(n, snippet)])."""
    lines = answer.rstrip().split("\n")
    found: list[tuple[int, str]] = []
    while lines:
        match = _QUOTED.match(lines[-1])
        if match is None:
            if lines[-1].strip() or not found:
                break
            lines.pop()
            continue
        found.append((int(match.group(1)), match.group(2)))
        lines.pop()
    if lines and lines[-1].strip().rstrip(":").lower() in ("sources", "citations", "references"):
        lines.pop()
    return "\n".join(lines).rstrip(), list(reversed(found))


def _normalise(text: str) -> tuple[str, list[int]]:
    """Collapse whitespace runs to one space; map each output character to its input offset."""
    out: list[str] = []
    where: list[int] = []
    in_space = False
    for i, char in enumerate(text):
        if char.isspace():
            if not in_space:
                out.append(" ")
                where.append(i)
            in_space = True
        else:
            out.append(char)
            where.append(i)
            in_space = False
    return "".join(out), where


def find_in(text: str, snippet: str) -> tuple[int, int] | None:
    """Where ``snippet`` is in ``text``: exact first, then whitespace-normalised."""
    start = text.find(snippet)
    if start != -1:
        return start, start + len(snippet)
    norm_text, where = _normalise(text)
    norm_snippet = _normalise(snippet.strip())[0]
    if not norm_snippet.strip():
        return None
    start = norm_text.find(norm_snippet)
    if start == -1:
        return None
    return where[start], where[start + len(norm_snippet) - 1] + 1


class LibraryVerifier:
    """Checks snippets against a library, using full-text search to find where to look."""

    def __init__(self, conn: sqlite3.Connection) -> None:
        self.conn = conn

    def verify(self, n: int, snippet: str) -> Citation:
        """A citation for ``snippet``: verified with its location, or flagged unverified."""
        words = _WORDS.findall(snippet)
        if not words:
            return Citation(n, snippet, False)
        # A phrase of the snippet's longest run of words narrows the candidates; whatever
        # it finds is then checked exactly against the text around the hit.
        query = build_fts_query('"' + " ".join(words[:12]) + '"')
        rows = self.conn.execute(
            "SELECT p.doc_id, p.ordinal FROM passages_fts JOIN passages p "
            "ON p.id = passages_fts.rowid JOIN documents d ON d.id = p.doc_id "
            "WHERE passages_fts MATCH ? AND d.status IN ('ok', 'warnings') LIMIT ?",
            (query, _CANDIDATES),
        ).fetchall()
        for doc_id, ordinal in rows:
            location = self._find_near(doc_id, ordinal, snippet)
            if location is not None:
                return Citation(n, snippet, True, **location)
        return Citation(n, snippet, False)

    def _find_near(self, doc_id: int, ordinal: int, snippet: str) -> dict | None:
        """The snippet's location if it is in the passages around a search hit."""
        window = self.conn.execute(
            'SELECT start, "end", page, page_label, line_start, text FROM passages '
            "WHERE doc_id = ? AND ordinal BETWEEN ? AND ? ORDER BY ordinal",
            (doc_id, ordinal - _NEIGHBOURS, ordinal + _NEIGHBOURS),
        ).fetchall()
        text = "".join(row[5] for row in window)
        span = find_in(text, snippet)
        if span is None:
            return None
        base = window[0][0]
        start, end = base + span[0], base + span[1]
        first = next(row for row in window if row[0] <= start < row[1])
        line_start = first[4] + text.count("\n", first[0] - base, span[0])
        line_end = line_start + text.count("\n", span[0], span[1] - 1)
        path = self.conn.execute("SELECT path FROM documents WHERE id = ?", (doc_id,)).fetchone()[0]
        return {
            "path": path,
            "document": path.rsplit("/", 1)[-1],
            "page": first[2],
            "page_label": first[3],
            "line_start": line_start,
            "line_end": line_end,
            "start": start,
            "end": end,
        }


class TextVerifier:
    """Checks snippets against plain-string contexts (the Python API without a library)."""

    def __init__(self, pieces: list[str]) -> None:
        self.pieces = pieces

    def verify(self, n: int, snippet: str) -> Citation:
        """A citation for ``snippet`` located in one of the pieces, or unverified."""
        for index, piece in enumerate(self.pieces):
            span = find_in(piece, snippet)
            if span is not None:
                line_start = piece.count("\n", 0, span[0]) + 1
                line_end = line_start + piece.count("\n", span[0], span[1] - 1)
                return Citation(
                    n,
                    snippet,
                    True,
                    "",
                    f"document {index + 1}",
                    None,
                    None,
                    line_start,
                    line_end,
                    span[0],
                    span[1],
                )
        return Citation(n, snippet, False)
