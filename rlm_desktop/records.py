"""Records shared by every layer: located pieces of library text. Imports nothing of ours.

A ``Span`` says where a piece of text is: its document (path and display name), its PDF page
and printed page label, its first and last line (1-based, inclusive) and its character offsets
in the document's text. Records that carry a span (search hits, explored passages) read its
fields as their own through ``Located``. A ``Passage`` is the unit the library stores: a
numbered span of a document being written, before the document has an id.
"""

from __future__ import annotations

from dataclasses import dataclass, fields


@dataclass(frozen=True)
class Span:
    """A located piece of library text."""

    path: str  # the document's file ("" for a context given as plain strings)
    document: str  # its name as shown
    page: int | None  # PDF page (1-based); None for other kinds
    page_label: str | None  # the page's printed label when it has one
    line_start: int
    line_end: int
    start: int  # offsets into the document's text
    end: int
    text: str = ""

    def to_json(self) -> dict:
        """Its location as the JSON records write it (the text left out)."""
        return {name: getattr(self, name) for name in LOCATION_FIELDS}


# The fields of a span that say where it is, in the order JSON records list them.
LOCATION_FIELDS = tuple(f.name for f in fields(Span) if f.name != "text")


class Placed:
    """A record that carries a ``span``: its document, page and lines read as its own."""

    span: Span

    @property
    def path(self) -> str:
        """The document's file."""
        return self.span.path

    @property
    def document(self) -> str:
        """The document's name as shown."""
        return self.span.document

    @property
    def page(self) -> int | None:
        """The PDF page (1-based); None for other kinds."""
        return self.span.page

    @property
    def page_label(self) -> str | None:
        """The page's printed label when it has one."""
        return self.span.page_label

    @property
    def line_start(self) -> int:
        """The first line (1-based)."""
        return self.span.line_start

    @property
    def line_end(self) -> int:
        """The last line (inclusive)."""
        return self.span.line_end


class Located(Placed):
    """A ``Placed`` record whose offsets in the document's text read as its own too."""

    @property
    def start(self) -> int:
        """Offset of the span in its document's text."""
        return self.span.start

    @property
    def end(self) -> int:
        """Offset just past the span in its document's text."""
        return self.span.end


@dataclass(frozen=True)
class Passage:
    """A searchable piece of a document with its exact place in the document text.

    ``start``/``end`` are character offsets into the document text, lines are 1-based
    and inclusive, and ``page`` is the PDF page the text was extracted from.
    """

    ordinal: int
    text: str
    start: int
    end: int
    line_start: int
    line_end: int
    page: int | None = None
    page_label: str | None = None


# ------------------------------------------------------------------ how sure an answer is
#
# Every surface (window, exports, ``ask`` and ``ask --json``) shows a citation's status and a
# run's outcome with these same words and marks, so they can never disagree.

# status -> (mark, words, what it means). Only "read" counts as proven.
CITATION_STATUSES: dict[str, tuple[str, str, str]] = {
    "read": ("✓", "read", "quoted from a passage the model read during this run"),
    "in-library": (
        "○",
        "in library, not read",
        "the words are in the library, but in nothing the model read",
    ),
    "not-found": ("✗", "not found", "the quote is not in the library"),
    "too-short": ("–", "too short", "too short to prove anything, so it is not checked"),
}

# A citation's optional support check (one short sub-call per citation).
SUPPORT_WORDS = ("supports", "does not support", "not checked")

# outcome -> how the window and exports introduce an answer that is not a plain one.
OUTCOMES: dict[str, str] = {
    "answer": "",
    "fallback": "answered by the built-in strategy",
    "best-effort": "a best-effort answer",
    "stopped": "stopped before an answer",
    "error": "the run failed",
}


def citation_mark(status: str) -> str:
    """The mark shown before a citation with this status (✓ only for ``read``)."""
    return CITATION_STATUSES.get(status, CITATION_STATUSES["not-found"])[0]


def citation_words(status: str) -> str:
    """The short words shown for a citation status."""
    return CITATION_STATUSES.get(status, CITATION_STATUSES["not-found"])[1]


def outcome_of(stop_reason: str, fallback: bool, best_effort: bool = False) -> str:
    """A run's outcome from its stop reason and flags (runs saved before outcomes existed)."""
    if stop_reason == "cancelled":
        return "stopped"
    if stop_reason == "error":
        return "error"
    if fallback:
        return "fallback"
    if best_effort or stop_reason != "final":
        return "best-effort"
    return "answer"
