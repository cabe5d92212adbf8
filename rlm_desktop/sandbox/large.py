"""``context`` for a library too big to hold as one string: the snapshot, memory-mapped.

``LargeContext`` answers what model code asks of a ``str`` — ``len``, indexing and slicing,
``find``/``rfind``/``index``/``rindex``/``count``, ``in``, ``startswith``/``endswith``,
``splitlines`` — from the mapped file, exactly in characters, and has the same helpers as
``Context``. What would copy the whole text (``str(context)``, ``context.split()``,
``context.lower()``...) raises ``LargeContextError``, which names the lazy way instead.

This module runs in the sandbox child: standard library and the sandbox's own modules only.
"""

from __future__ import annotations

import itertools
import re
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import SupportsIndex, overload

from rlm_desktop.sandbox import snapshot
from rlm_desktop.sandbox.context import _HANDED_MIN, Context, ContextBase
from rlm_desktop.sandbox.locate import Text
from rlm_desktop.sandbox.mapped import MappedText
from rlm_desktop.store.reader import LibraryReader

SLICE_CAP = 50_000_000  # the most characters one slice of a large context may copy
MAP_CHUNKS_CAP = 1_000  # the most chunks map_chunks sends at once from a large context
_APP_STR_MB = 64  # the app holds a library's text as one str (for provenance) up to this
_IDIOMS = (
    "work on pieces instead: context[a:b] (at most {cap:,} characters), "
    "for line in context.splitlines(), for piece in context.chunks(size), "
    "context.grep(pattern), context.finditer(pattern), context.find(text, start), "
    "context.count(text), context.search(query)"
)


class LargeContextError(TypeError):
    """An operation that would copy the whole of a large context."""


def _refuse(what: str) -> LargeContextError:
    return LargeContextError(
        f"context is a large library mapped from disk, not a str: {what} would copy all of "
        "it into memory; " + _IDIOMS.format(cap=SLICE_CAP)
    )


_SPECIAL = set(".^$*+?{}[]\\|()#")


def _plain_words(pattern: str, flags: int) -> list[str] | None:
    """The words of a case-insensitive pattern that is only ASCII words joined by ``|``
    (``"error|timeout"``, a needle), lower-cased; else None. Python's ``re`` scans such a
    pattern at tens of MB/s, ``str.find`` on the lower-cased text at a GB/s."""
    if not flags & re.IGNORECASE or flags & re.VERBOSE or not pattern.isascii():
        return None
    words = pattern.split("|")
    if not all(words) or any(c in _SPECIAL for c in pattern.replace("|", "")):
        return None
    return [w.lower() for w in words]


def _word_hits(lowered: str, words: list[str]) -> Iterator[int]:
    """Where any of ``words`` occurs in ``lowered``, in order (one hit per place)."""
    found = {w: lowered.find(w) for w in words}
    while True:
        live = [at for at in found.values() if at != -1]
        if not live:
            return
        at = min(live)
        yield at
        for w, where in found.items():
            if where == at:
                found[w] = lowered.find(w, at + 1)


class Match:
    """A match of ``LargeContext.finditer``: a ``re.Match`` whose offsets are in context."""

    def __init__(self, match: re.Match[str], offset: int) -> None:
        self._match = match
        self._offset = offset

    def start(self, group: int | str = 0) -> int:
        """Where the match (or a group) starts in context (-1 for a group that took no part)."""
        at = self._match.start(group)
        return at if at == -1 else at + self._offset

    def end(self, group: int | str = 0) -> int:
        """Where the match (or a group) ends in context (-1 for a group that took no part)."""
        at = self._match.end(group)
        return at if at == -1 else at + self._offset

    def span(self, group: int | str = 0) -> tuple[int, int]:
        """(start, end) in context."""
        return self.start(group), self.end(group)

    def __getattr__(self, name: str) -> object:
        return getattr(self._match, name)  # group(), groups(), groupdict(), ...

    def __getitem__(self, group: int | str) -> str | None:
        return self._match[group]

    def __repr__(self) -> str:
        return f"<match span={self.span()} match={self._match.group()!r}>"


class Lines:
    """The lines of a large context, read as they are iterated (``str.splitlines``'s
    lines). ``len``, indexing and slicing work too, each by one pass over the text."""

    def __init__(self, owner: LargeContext, keepends: bool) -> None:
        self._owner = owner
        self._keepends = keepends
        self._count: int | None = None

    def __iter__(self) -> Iterator[str]:
        carried = ""
        for _, piece in self._owner.text.blocks():
            lines = (carried + piece).splitlines(keepends=True)
            # The last line may go on in the next block (or be "\r" before its "\n").
            carried = lines.pop() if lines else ""
            for line in lines:
                yield line if self._keepends else line.splitlines()[0]
        if carried:
            for line in carried.splitlines(keepends=True):
                yield line if self._keepends else line.splitlines()[0]

    def __len__(self) -> int:
        if self._count is None:
            self._count = sum(1 for _ in self)
        return self._count

    def __getitem__(self, key: SupportsIndex | slice) -> str | list[str]:
        if isinstance(key, slice):
            start, stop, step = key.start, key.stop, key.step
            if any(x is not None and x < 0 for x in (start, stop, step)):
                start, stop, step = key.indices(len(self))
            return list(itertools.islice(self, start, stop, step))
        index = range(len(self))[key] if int(key) < 0 else int(key)
        for line in itertools.islice(self, index, None):
            return line
        raise IndexError("line index out of range")

    def __repr__(self) -> str:
        return "<the lines of context, read as they are iterated>"


class Pieces(Sequence[str]):
    """Pieces of a large context (its chunks, its documents' texts), each read when it is
    taken: a sequence of ``str`` that never holds them all."""

    def __init__(self, owner: LargeContext, bounds: list[tuple[int, int]]) -> None:
        self._owner = owner
        self._bounds = bounds

    def __len__(self) -> int:
        return len(self._bounds)

    @overload
    def __getitem__(self, key: SupportsIndex) -> str: ...
    @overload
    def __getitem__(self, key: slice) -> list[str]: ...

    def __getitem__(self, key: SupportsIndex | slice) -> str | list[str]:
        if isinstance(key, slice):
            return [self._take(*bounds) for bounds in self._bounds[key]]
        return self._take(*self._bounds[key])

    def __iter__(self) -> Iterator[str]:
        for bounds in self._bounds:
            yield self._take(*bounds)

    def _take(self, start: int, end: int) -> str:
        return self._owner[start:end]  # notes the place as read, as Context's pieces do

    def bounds(self) -> list[tuple[int, int]]:
        """(start, end) of each piece in ``context``."""
        return list(self._bounds)

    def __repr__(self) -> str:
        return f"<{len(self):,} pieces of context, each read when it is taken>"


class LargeContext(ContextBase):
    """The library's text mapped from its snapshot, plus the helpers of ``Context``."""

    def __init__(self, text: MappedText) -> None:
        self._start_helpers()
        self.text = text

    @classmethod
    def from_library(cls, db_path: str | Path, only: list[int] | None = None) -> LargeContext:
        """Map the snapshot of a library (written if missing), or of the documents ``only``."""
        db_path = Path(db_path).resolve()
        library = LibraryReader.open(db_path)
        found = snapshot.current(db_path, library, only) or snapshot.ensure(db_path, only)
        self = cls(MappedText(str(found.text_path), str(found.table_path), found.chars))
        self._adopt(library, found.documents, only, found)
        return self

    # -------------------------------------------------------------- the primitives

    def _length(self) -> int:
        return self.text.chars

    def piece(self, start: int, end: int) -> str:
        """The text from ``start`` to ``end`` (nothing is noted as read)."""
        return self.text.text(start, end)

    def _count_in(self, sub: str, start: int, end: int) -> int:
        return self.text.count(sub, start, end)

    def _rfind_in(self, sub: str, start: int, end: int) -> int:
        return self.text.rfind(sub, start, end)

    def _lines_matching(self, pattern: str, flags: int) -> Iterator[tuple[int, int]]:
        compiled = re.compile(pattern, flags)
        words = _plain_words(pattern, flags)
        for offset, block in self.text.blocks():  # blocks end at line breaks
            if words is not None and block.isascii():
                starts = _word_hits(block.lower(), words)
            else:
                starts = (match.start() for match in compiled.finditer(block))
            last_line_start = -1
            for start in starts:
                line_start = block.rfind("\n", 0, start) + 1
                if line_start == last_line_start:
                    continue
                last_line_start = line_start
                line_end = block.find("\n", start)
                line_end = len(block) if line_end == -1 else line_end
                yield offset + line_start, offset + line_end

    def _index_text(self) -> Text:
        return self.text

    # -------------------------------------------------------------- like a str

    def __len__(self) -> int:
        return self.text.chars

    def __getitem__(self, key: SupportsIndex | slice, /) -> str:
        if not isinstance(key, slice):
            return self.text[int(key)]
        indices = range(self.text.chars)[key]
        if not indices:
            return ""
        low, high = min(indices[0], indices[-1]), max(indices[0], indices[-1]) + 1
        if high - low > SLICE_CAP:
            raise _refuse(f"a slice of {high - low:,} characters")
        value = self.text[key]
        if len(value) >= _HANDED_MIN and indices.step == 1:
            self._hand(low, high)
        return value

    def __contains__(self, sub: object) -> bool:
        if not isinstance(sub, str):
            raise TypeError(f"'in <context>' requires string as left operand, not {type(sub)}")
        return self.text.find(sub) != -1

    def __iter__(self) -> Iterator[str]:
        for _, block in self.text.blocks():
            yield from block

    def find(self, sub: str, start: int | None = None, end: int | None = None) -> int:
        """Like ``str.find``."""
        return self.text.find(sub, start, end)

    def rfind(self, sub: str, start: int | None = None, end: int | None = None) -> int:
        """Like ``str.rfind``."""
        return self.text.rfind(sub, start, end)

    def index(self, sub: str, start: int | None = None, end: int | None = None) -> int:
        """Like ``str.index``."""
        at = self.text.find(sub, start, end)
        if at == -1:
            raise ValueError("substring not found")
        return at

    def rindex(self, sub: str, start: int | None = None, end: int | None = None) -> int:
        """Like ``str.rindex``."""
        at = self.text.rfind(sub, start, end)
        if at == -1:
            raise ValueError("substring not found")
        return at

    def count(self, sub: str, start: int | None = None, end: int | None = None) -> int:
        """Like ``str.count``."""
        return self.text.count(sub, start, end)

    def startswith(
        self, prefix: str | tuple[str, ...], start: int | None = None, end: int | None = None
    ) -> bool:
        """Like ``str.startswith``."""
        return self.text.startswith(prefix, start, end)

    def endswith(
        self, suffix: str | tuple[str, ...], start: int | None = None, end: int | None = None
    ) -> bool:
        """Like ``str.endswith``."""
        return self.text.endswith(suffix, start, end)

    def splitlines(self, keepends: bool = False) -> Lines:
        """The lines, read as they are iterated: ``for line in context.splitlines(): ...``."""
        return Lines(self, keepends)

    def finditer(self, pattern: str, flags: int = 0) -> Iterator[Match]:
        """``re.finditer`` over the text, a block of whole lines at a time (a match cannot
        span blocks of about 16 MB); ``start()``/``end()``/``span()`` are offsets in context."""
        compiled = re.compile(pattern, flags)
        for offset, block in self.text.blocks():
            for match in compiled.finditer(block):
                yield Match(match, offset)

    def findall(self, pattern: str, flags: int = 0, max_results: int = 100_000) -> list:
        """``re.findall`` over the text, block by block, at most ``max_results`` items."""
        found: list = []
        compiled = re.compile(pattern, flags)
        for _, block in self.text.blocks():
            found.extend(compiled.findall(block))
            if len(found) >= max_results:
                return found[:max_results]
        return found

    def chunks(self, size: int = 100_000, overlap: int = 0) -> Pieces:
        """The whole context in pieces of ``size`` characters (cut at line breaks), each read
        when it is taken (a large context's pieces are never all in memory at once)."""
        if size > SLICE_CAP:
            raise _refuse(f"chunks of {size:,} characters")
        return Pieces(self, list(self._chunk_bounds(size, overlap)))

    def by_document(self) -> Pieces:
        """The text of each document, in order, each read when it is taken."""
        return Pieces(self, [(d.start, d.end) for d in self.documents])

    def __eq__(self, other: object) -> bool:
        if isinstance(other, LargeContext):
            return other is self
        if not isinstance(other, str) or len(other) != len(self):
            return False
        return all(
            other[offset : offset + len(block)] == block for offset, block in self.text.blocks()
        )

    __hash__ = object.__hash__

    def __repr__(self) -> str:
        return (
            f"<context: {len(self):,} characters in {len(self.documents)} documents, "
            "a large library mapped from disk (not a str)>"
        )

    def __str__(self) -> str:
        raise _refuse("str(context)")

    def __format__(self, spec: str) -> str:
        raise _refuse("formatting context into a string")

    def __add__(self, other: object) -> str:
        raise _refuse("context + ...")

    def __radd__(self, other: object) -> str:
        raise _refuse("... + context")

    def __mul__(self, other: object) -> str:
        raise _refuse("context * n")

    def __getattr__(self, name: str) -> object:
        if not name.startswith("_") and hasattr(str, name):
            raise _refuse(f"context.{name}()")
        raise AttributeError(f"'LargeContext' object has no attribute {name!r}")


def open_library(
    db_path: str | Path, only: list[int] | None = None, large: bool | None = None
) -> Context | LargeContext:
    """A library's ``context``: mapped from its snapshot when ``large``, else one ``str``;
    when None (the app's own copy, to trace provenance), mapped above ``_APP_STR_MB``."""
    if large is None:
        large = snapshot.ensure(Path(db_path).resolve(), only).size > _APP_STR_MB << 20
    if large:
        return LargeContext.from_library(db_path, only)
    return Context.from_library(db_path, only)
