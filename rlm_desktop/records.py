"""Records shared by every layer: located pieces of library text. Imports nothing of ours.

A ``Span`` says where a piece of text is: its document (path and display name), its PDF page
and printed page label, its first and last line (1-based, inclusive) and its character offsets
in the document's text. A ``Passage`` is the unit the library stores: a numbered span of a
document being written, before the document has an id.
"""

from __future__ import annotations

from dataclasses import dataclass


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
