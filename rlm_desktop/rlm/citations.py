"""Citations: quoted snippets found in the answer, checked against what the run read.

A quote is "read" when it occurs — exactly, or once runs of whitespace are treated as one
space — in library text that reached a model during the run, and it is located at that
occurrence; "in-library" when it occurs only elsewhere in the library; "not-found" when it
occurs nowhere; "too-short" when it is too short to prove anything. The check runs in the
app against the library, never trusting the REPL child.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass, replace
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
    """A numbered quote, checked against what the run read and against the library.

    ``status`` is one of ``records.CITATION_STATUSES``: "read" (in a passage the run read,
    located there), "in-library" (elsewhere in the library), "not-found" or "too-short".
    ``span`` is where it was found (None for not-found and too-short). ``support`` is the
    optional support check's verdict: "supports", "does not support" or "not checked".
    """

    n: int
    snippet: str
    status: str
    span: Span | None = None
    support: str = "not checked"

    path = _from_span("path")
    document = _from_span("document")
    page = _from_span("page")
    page_label = _from_span("page_label")
    line_start = _from_span("line_start")
    line_end = _from_span("line_end")
    start = _from_span("start")
    end = _from_span("end")

    @property
    def verified(self) -> bool:
        """True when the quote is verbatim in the library (read or not): the v1 flag."""
        return self.status in ("read", "in-library")

    def to_json(self) -> dict:
        """The JSON record of runs and ``ask --json``: location fields null when not found."""
        where = self.span.to_json() if self.span else dict.fromkeys(LOCATION_FIELDS)
        return {
            "n": self.n,
            "snippet": self.snippet,
            "status": self.status,
            "verified": self.verified,
            "support": self.support,
            **where,
        }

    @classmethod
    def from_json(cls, record: dict) -> Citation:
        """From a saved run's record (the inverse of ``to_json``). Runs saved before statuses
        existed said only "verified": somewhere in the library."""
        status = record.get("status") or ("in-library" if record.get("verified") else "not-found")
        span = None
        if record.get("path") is not None and record.get("start") is not None:
            span = Span(**{name: record[name] for name in LOCATION_FIELDS})
        return cls(
            record["n"], record["snippet"], status, span, record.get("support", "not checked")
        )


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
                return Citation(n, snippet, "in-library", span)
        return Citation(n, snippet, "not-found")

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
                return Citation(n, snippet, "in-library", span)
        return Citation(n, snippet, "not-found")


# ---------------------------------------------------------------------- numbering


def number(
    answer: str, tail: str, cited: list[str], prose: bool
) -> tuple[str, list[tuple[int, str]]]:
    """The answer without its trailing quote lines, and its citations numbered so that no
    two share a number: whoever wrote the answer's ``[n]`` markers keeps its numbers (the
    ``cite()`` registrations for an answer from code, the ``[n] "quote"`` lines for one in
    prose); the other set follows with fresh numbers. A quote given twice is kept once."""
    body, quoted = split_quoted_citations(answer)
    quoted += split_quoted_citations(tail)[1]
    registered = list(enumerate(cited, 1))
    owner, other = (quoted, registered) if prose else (registered, quoted)
    numbered: list[tuple[int, str]] = []
    for n, snippet in owner:
        if all(n != m for m, _ in numbered):
            numbered.append((n, snippet))
    fresh = max((n for n, _ in numbered), default=0) + 1
    for _, snippet in other:
        if all(snippet != s for _, s in numbered):
            numbered.append((fresh, snippet))
            fresh += 1
    return body, numbered


# ---------------------------------------------------------------------- checking


def too_short(snippet: str, min_words: int, min_chars: int) -> bool:
    """True for a quote too short to prove anything: under ``min_words`` words or
    ``min_chars`` characters, or without a single letter (only numbers and signs)."""
    text = snippet.strip()
    words = re.findall(r"\w+", text)
    return len(text) < min_chars or len(words) < min_words or not any(c.isalpha() for c in text)


@dataclass
class _Range:
    """Contiguous text of one document that the run read, and the spans it was read in."""

    start: int
    end: int
    text: str
    spans: list[Span]


class ReadText:
    """The library text a run read (the spans of its explored passages, with their text),
    merged per document so a quote that runs across two printed pieces is still found."""

    def __init__(self, spans: Iterable[Span]) -> None:
        by_doc: dict[tuple[str, str], list[Span]] = {}
        for span in spans:
            if span.text:
                by_doc.setdefault((span.path, span.document), []).append(span)
        self._ranges: list[_Range] = []
        for doc_spans in by_doc.values():
            current: _Range | None = None
            for span in sorted(doc_spans, key=lambda s: (s.start, -s.end)):
                if current is not None and span.start <= current.end:
                    if span.end > current.end:
                        current.text += span.text[current.end - span.start :]
                        current.end = span.end
                    current.spans.append(span)
                    continue
                current = _Range(span.start, span.end, span.text, [span])
                self._ranges.append(current)

    def find(self, snippet: str) -> Span | None:
        """Where the run read ``snippet`` (exact, or whitespace-normalised), or None."""
        words = snippet.split()
        longest = max(words, key=len) if words else ""
        for piece in self._ranges:
            if longest not in piece.text:
                continue  # spares normalising text that cannot hold the quote
            found = find_in(piece.text, snippet)
            if found is None:
                continue
            start, end = piece.start + found[0], piece.start + found[1]
            first = next(s for s in piece.spans if s.start <= start < s.end)
            # Lines and page come from the piece read where the quote begins.
            before = piece.text[first.start - piece.start : found[0]]
            line_start = first.line_start + before.count("\n")
            text = piece.text[found[0] : found[1]]
            return replace(
                first,
                line_start=line_start,
                line_end=line_start + text.count("\n"),
                start=start,
                end=end,
                text=text,
            )
        return None


def check(
    numbered: list[tuple[int, str]],
    read: ReadText,
    verifier: LibraryVerifier | TextVerifier,
    min_words: int = 4,
    min_chars: int = 20,
) -> list[Citation]:
    """Give each numbered quote its status: too-short, read, in-library or not-found."""
    citations = []
    for n, snippet in numbered:
        if too_short(snippet, min_words, min_chars):
            citations.append(Citation(n, snippet, "too-short"))
            continue
        span = read.find(snippet)
        citations.append(
            Citation(n, snippet, "read", span) if span else verifier.verify(n, snippet)
        )
    return citations


# ---------------------------------------------------------------------- support check

SUPPORT_PROMPT = (
    "Passage:\n{passage}\n\nClaim: {claim}\n\nDoes the passage support the claim? "
    "Reply with one word: yes or no."
)


def claim_of(answer: str, n: int) -> str | None:
    """The sentence of the answer that carries the marker ``[n]`` (None when it has none)."""
    at = answer.find(f"[{n}]")
    if at == -1:
        return None
    start = max(answer.rfind(mark, 0, at) for mark in (". ", "! ", "? ", "\n")) + 1
    claim = answer[start:at].strip()
    return claim or None


def check_support(
    citations: list[Citation], answer: str, ask: Callable[[str], str]
) -> list[Citation]:
    """Ask, once per located citation, whether its quote supports the sentence it is
    attached to; the verdict is "supports", "does not support" or "not checked"."""
    checked = []
    for citation in citations:
        claim = claim_of(answer, citation.n)
        verdict = "not checked"
        if citation.span is not None and claim is not None:
            try:
                reply = ask(SUPPORT_PROMPT.format(passage=citation.snippet, claim=claim))
            except Exception:  # a failed check leaves the citation unchecked, never wrong
                reply = ""
            word = reply.strip().lower().lstrip("*\"' ")
            if word.startswith("yes"):
                verdict = "supports"
            elif word.startswith("no"):
                verdict = "does not support"
        checked.append(replace(citation, support=verdict))
    return checked
