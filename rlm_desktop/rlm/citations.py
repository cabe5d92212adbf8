"""Citations: quoted snippets found in the answer, checked against the library itself.

A citation is verified only when its snippet occurs in a document — exactly, or once runs
of whitespace are treated as one space. One that does not is kept, flagged unverified.
The check runs in the app against the library, never trusting the REPL child.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from rlm_desktop.records import LOCATION_FIELDS, Span
from rlm_desktop.store.reader import LibraryReader

_QUOTED = re.compile(r'^\s*\[(\d+)\]\s*[:\-]?\s*["“](.+?)["”]\s*$')
_NEIGHBOURS = 2  # passages on each side of a search hit that a snippet may run into
_CANDIDATES = 20


def _from_span(name: str) -> Any:
    """An attribute read from the citation's span: None when it was not verified."""
    return property(
        lambda citation: None if citation.span is None else getattr(citation.span, name)
    )


@dataclass(frozen=True)
class Citation:
    """A numbered quote; ``span`` is where it is in the library, None when it was not found."""

    n: int
    snippet: str
    verified: bool
    span: Span | None = None

    path = _from_span("path")
    document = _from_span("document")
    page = _from_span("page")
    page_label = _from_span("page_label")
    line_start = _from_span("line_start")
    line_end = _from_span("line_end")
    start = _from_span("start")
    end = _from_span("end")

    def to_json(self) -> dict:
        """The JSON record of runs and ``ask --json``: location fields null when unverified."""
        where = self.span.to_json() if self.span else dict.fromkeys(LOCATION_FIELDS)
        return {"n": self.n, "snippet": self.snippet, "verified": self.verified, **where}

    @classmethod
    def from_json(cls, record: dict) -> Citation:
        """From a saved run's record (the inverse of ``to_json``)."""
        span = None
        if record.get("verified"):
            span = Span(**{name: record[name] for name in LOCATION_FIELDS})
        return cls(record["n"], record["snippet"], bool(record.get("verified")), span)


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

    def __init__(self, library: LibraryReader) -> None:
        self.library = library

    def verify(self, n: int, snippet: str) -> Citation:
        """A citation for ``snippet``: verified with its location, or flagged unverified."""
        # The phrase of the snippet's first words narrows the candidates; whatever it finds
        # is then checked exactly against the text around the hit.
        for doc_id, ordinal in self.library.quote_candidates(snippet, _CANDIDATES):
            span = self._find_near(doc_id, ordinal, snippet)
            if span is not None:
                return Citation(n, snippet, True, span)
        return Citation(n, snippet, False)

    def _find_near(self, doc_id: int, ordinal: int, snippet: str) -> Span | None:
        """The snippet's span if it is in the passages around a search hit."""
        window = self.library.passages_around(doc_id, ordinal, _NEIGHBOURS)
        text = "".join(passage.text for passage in window)
        found = find_in(text, snippet)
        if found is None:
            return None
        base = window[0].start
        start, end = base + found[0], base + found[1]
        first = next(p for p in window if p.start <= start < p.end)
        line_start = first.line_start + text.count("\n", first.start - base, found[0])
        line_end = line_start + text.count("\n", found[0], found[1] - 1)
        document = self.library.document(doc_id)
        return Span(
            path=document.path,
            document=document.name,
            page=first.page,
            page_label=first.page_label,
            line_start=line_start,
            line_end=line_end,
            start=start,
            end=end,
            text=text[found[0] : found[1]],
        )


class TextVerifier:
    """Checks snippets against plain-string contexts (the Python API without a library)."""

    def __init__(self, pieces: list[str]) -> None:
        self.pieces = pieces

    def verify(self, n: int, snippet: str) -> Citation:
        """A citation for ``snippet`` located in one of the pieces, or unverified."""
        for index, piece in enumerate(self.pieces):
            found = find_in(piece, snippet)
            if found is not None:
                line_start = piece.count("\n", 0, found[0]) + 1
                span = Span(
                    path="",
                    document=f"document {index + 1}",
                    page=None,
                    page_label=None,
                    line_start=line_start,
                    line_end=line_start + piece.count("\n", found[0], found[1] - 1),
                    start=found[0],
                    end=found[1],
                    text=piece[found[0] : found[1]],
                )
                return Citation(n, snippet, True, span)
        return Citation(n, snippet, False)
