"""What ``context`` and its helpers hand to model-written code: documents, grep and search
results, and locations. Each found piece of text carries a ``Span``; the attributes the
prompts and the README promise (``document``, ``page``, ``line``, ``text``, ``start``...) read
from it, and ``repr``/``str`` stay as the prompts show them.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Protocol

from rlm_desktop.records import Located, Placed, Span
from rlm_desktop.textsafe import printable


def _repr(record: object, names: tuple[str, ...]) -> str:
    """``Name(a=1, b='x')`` over the attributes the REPL documents (not the span inside)."""
    shown = ", ".join(f"{name}={getattr(record, name)!r}" for name in names)
    return f"{type(record).__name__}({shown})"


class _Sliceable(Protocol):
    """``context``: a ``str``, or the large context that slices like one."""

    def __getitem__(self, key: slice, /) -> str: ...


@dataclass(frozen=True, repr=False)
class Location(Located):
    """Where a piece of ``context`` comes from. ``start``/``end`` are offsets in the document's
    own text; ``context_start``/``context_end`` are offsets in ``context``."""

    span: Span
    context_start: int
    context_end: int

    def __repr__(self) -> str:
        names = ("document", "path", "page", "page_label", "line_start", "line_end")
        return _repr(self, (*names, "start", "end", "context_start", "context_end"))


@dataclass(frozen=True)
class DocumentInfo:
    """One document of the library as seen from the REPL."""

    index: int
    name: str
    path: str
    kind: str
    pages: int | None
    length: int
    start: int  # offset of the document's text in ``context``
    _context: _Sliceable = field(repr=False, compare=False)

    @property
    def end(self) -> int:
        """Offset just past the document's text in ``context``."""
        return self.start + self.length

    @property
    def text(self) -> str:
        """The document's full text (through ``context[...]``, which notes what was read)."""
        return self._context[self.start : self.end]


class _Found(Placed):
    """Text a helper found: its ``span``, read through the attributes the prompts name.
    (``start`` is the text's offset in ``context``, so it is a field of each record.)

    Reading its text (``.text``, ``str()``, ``repr()``) notes the place through ``noted``,
    so that printing it is traced to this very place even when the text is repeated;
    finding it and filtering on its line or page does not.
    """

    span: Span
    start: int
    noted: Callable[[int, int], None] | None

    @property
    def text(self) -> str:
        """The text found."""
        if self.noted is not None:
            self.noted(self.start, self.start + len(self.span.text))
        return self.span.text

    def _where(self) -> str:
        return f"p.{self.page} " if self.page is not None else ""


@dataclass(frozen=True, repr=False)
class GrepMatch(_Found):
    """A line that matched ``context.grep``."""

    span: Span  # the whole line
    start: int  # offset of the line in ``context``
    noted: Callable[[int, int], None] | None = field(default=None, compare=False)

    @property
    def line(self) -> int:
        """The line's number in its document (1-based)."""
        return self.span.line_start

    def __str__(self) -> str:
        return f"{printable(self.document)}:{self._where()}line {self.line}: {self.text}"

    def __repr__(self) -> str:
        return _repr(self, ("document", "path", "line", "page", "text", "start"))


@dataclass(frozen=True, repr=False)
class SearchResult(_Found):
    """A passage found by ``context.search`` (full-text search, best first)."""

    span: Span  # the whole passage
    score: float
    start: int  # offset of the passage in ``context``
    noted: Callable[[int, int], None] | None = field(default=None, compare=False)

    def __str__(self) -> str:
        name = printable(self.document)
        return f"[{name} {self._where()}lines {self.line_start}-{self.line_end}] {self.text}"

    def __repr__(self) -> str:
        names = ("document", "path", "page", "line_start", "line_end", "score", "text")
        return _repr(self, (*names, "start"))
