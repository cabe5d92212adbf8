"""``context`` inside the REPL: the whole library as one ``str``, with helpers that know where
every character came from (document, page, line).

The helpers live in ``ContextBase`` and read the text only through a few primitives, so the
same helpers serve ``Context`` (a real ``str``) and ``large.LargeContext`` (the snapshot
mapped, for libraries too big to hold as one string).

This module runs in the sandbox child. It imports only the standard library, the store's
reader (numpy lazily, for the locate index) and opens the library database read-only.
"""

from __future__ import annotations

import bisect
import math
import re
from collections.abc import Iterator, Sequence
from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING, SupportsIndex

from rlm_desktop.records import Span
from rlm_desktop.sandbox import snapshot
from rlm_desktop.sandbox.locate import STEP, GramIndex, Hints, Text
from rlm_desktop.sandbox.passages import Passages
from rlm_desktop.sandbox.results import DocumentInfo, GrepMatch, Location, SearchResult
from rlm_desktop.store.reader import LibraryReader
from rlm_desktop.textsafe import printable

__all__ = ["Context", "ContextBase", "DocumentInfo", "GrepMatch", "Location", "SearchResult"]


_WINDOW_LINES = 10  # lines per passage when searching text that has no library
_HANDED_MIN = 12  # shorter slices are not worth noting
_HANDED_CAP = 20_000  # places noted between two reports to the app


_ESCAPE = re.compile(r"\\(u[0-9a-fA-F]{4}|x[0-9a-fA-F]{2}|[nrt'\"\\/])")
_SIMPLE_ESCAPES = {"n": "\n", "r": "\r", "t": "\t", "'": "'", '"': '"', "\\": "\\", "/": "/"}


def _unescape(match: re.Match[str]) -> str:
    """The character a ``repr``/JSON escape stands for."""
    code = match.group(1)
    if code[0] in "ux":
        return chr(int(code[1:], 16))
    return _SIMPLE_ESCAPES[code]


def _merge(places: list[tuple[int, int, int]]) -> list[tuple[int, int, int]]:
    """Overlapping places as one (the surest count of copies wins)."""
    merged: list[tuple[int, int, int]] = []
    for start, end, occurrences in sorted(places):
        if merged and start <= merged[-1][1]:
            last = merged[-1]
            merged[-1] = (last[0], max(last[1], end), min(last[2], occurrences))
        else:
            merged.append((start, end, occurrences))
    return merged


class ContextBase:
    """The helpers of ``context`` (grep, search, chunks, locate, documents...) and the
    provenance they note, over any text that answers the primitives below."""

    documents: list[DocumentInfo]
    _doc_ids: list[int]
    _passage_table: Passages | None
    _library: LibraryReader | None
    _gram_index: GramIndex | None
    _index_file: str | None
    _gram_step: int
    _handed: list[tuple[int, int]]
    _some_documents: bool  # of some documents of its library only

    def _start_helpers(self) -> None:
        self.documents = []
        self._doc_ids = []
        self._passage_table = None
        self._library = None
        self._gram_index = None
        self._index_file = None
        self._gram_step = STEP
        self._handed = []
        self._some_documents = False

    def _adopt(
        self,
        library: LibraryReader,
        meta: list[dict],
        only: list[int] | None,
        found: snapshot.Snapshot | None,
    ) -> None:
        """Take a library's document table (and its snapshot's index, when there is one)."""
        self._library = library
        self._some_documents = only is not None
        if found is not None:
            self._index_file = str(found.index_path)
            self._gram_step = found.gram_step
        self.documents = [
            DocumentInfo(
                n, d["name"], d["path"], d["kind"], d["pages"], d["length"], d["start"], self
            )
            for n, d in enumerate(meta)
        ]
        self._doc_ids = [d["id"] for d in meta]

    # -------------------------------------------------------------- the text, read by helpers

    def __getitem__(self, key: slice, /) -> str:
        raise NotImplementedError

    if TYPE_CHECKING:  # both kinds have one (a str's own, for Context)

        def __len__(self) -> int: ...

    def _length(self) -> int:
        raise NotImplementedError

    def chunks(self, size: int = 100_000, overlap: int = 0) -> Sequence[str]:
        """Split the whole context into pieces of ``size`` characters (cut at line breaks)."""
        raise NotImplementedError

    def by_document(self) -> Sequence[str]:
        """The text of each document, in order (one piece per document)."""
        raise NotImplementedError

    def piece(self, start: int, end: int) -> str:
        """The text from ``start`` to ``end`` (nothing is noted as read)."""
        raise NotImplementedError

    def _count_in(self, sub: str, start: int, end: int) -> int:
        raise NotImplementedError

    def _rfind_in(self, sub: str, start: int, end: int) -> int:
        raise NotImplementedError

    def _lines_matching(self, pattern: str, flags: int) -> Iterator[tuple[int, int]]:
        """(start, end) of each line holding a match of ``pattern``, once per line, in order."""
        raise NotImplementedError

    def _index_text(self) -> Text:
        raise NotImplementedError

    # -------------------------------------------------------------- what code was handed

    def _hand(self, start: int, end: int) -> None:
        """Note that model code was handed ``context[start:end]`` (so that printing it can be
        traced to exactly this place, however often the same text occurs)."""
        if len(self._handed) < _HANDED_CAP:
            self._handed.append((start, end))

    def handed_out(self) -> list[tuple[int, int]]:
        """The places handed to model code since the last call (and forget them)."""
        handed, self._handed = self._handed, []
        return handed

    @property
    def _passages(self) -> Passages:
        """Passage boundaries, read from the library the first time they are needed."""
        if self._passage_table is None:
            table = Passages()
            if self._library is not None:
                table = Passages.of(self._library, self.documents, self._doc_ids)
            self._passage_table = table
        return self._passage_table

    # -------------------------------------------------------------- locating

    def locate(self, text: str) -> Location | None:
        """Find where a piece of library text comes from: document, page and lines.

        Returns None when ``text`` is not verbatim library text.
        """
        span = self._index().find(str(text))
        return None if span is None else self.location(*span)

    def location(self, start: int, end: int) -> Location | None:
        """Describe the range ``context[start:end]`` (None if it is not inside one document)."""
        doc = self._document_at(start)
        if doc is None or end > doc.end or end <= start:
            return None
        first, last = self._line_page(start), self._line_page(end - 1)
        span = Span(
            path=doc.path,
            document=doc.name,
            page=first[1],
            page_label=first[2],
            line_start=first[0],
            line_end=last[0],
            start=start - doc.start,
            end=end - doc.start,
        )
        return Location(span, context_start=start, context_end=end)

    def trace(self, output: str, hints: Hints | None = None) -> list[tuple[Location, int]]:
        """Where the library text that appears verbatim in ``output`` comes from: one location
        per document page, each with how many places hold that text (1 when it is certain;
        more when the text is repeated and nothing says which of them was read).

        Text printed through ``repr`` or ``json.dumps`` is found too: escapes (``\\n``,
        ``\\'``, ``\\u00e9``) are read back and the output traced a second time.
        """
        traced: list[tuple[Location, int]] = []
        if len(output) < 12:
            return traced  # too short to trace back; and it spares building the index
        index = self._index()
        places: list[tuple[int, int, int]] = []  # (start, end, occurrences) in context
        passes = [output]
        escaped = [line for line in output.split("\n") if _ESCAPE.search(line)]
        if escaped:  # only lines with escapes can hold text the first pass missed
            passes.append(_ESCAPE.sub(_unescape, "\n".join(escaped)))
        for text in passes:
            for run in index.runs(text, hints):
                places += [(start, start + run.length, run.occurrences) for start in run.starts]
        for start, end, occurrences in _merge(places):
            for piece_start, piece_end in self._pieces(start, end):
                if not self.piece(piece_start, piece_end).strip():
                    continue  # a page's trailing blank line on its own says nothing
                location = self.location(piece_start, piece_end)
                if location is not None:
                    traced.append((location, occurrences))
        return traced

    def _pieces(self, start: int, end: int) -> list[tuple[int, int]]:
        """Cut a range at document and PDF page boundaries (headers are dropped)."""
        p = self._passages
        pieces = []
        for doc in self.documents:
            cur, stop = max(start, doc.start), min(end, doc.end)
            if cur >= stop:
                continue
            i = bisect.bisect_right(p.starts, cur) - 1
            while cur < stop:
                j = i + 1
                page = p.page(i) if i >= 0 else None
                while j < len(p.starts) and p.starts[j] < stop and p.page(j) == page:
                    j += 1
                piece_end = min(stop, p.starts[j]) if j < len(p.starts) else stop
                pieces.append((cur, piece_end))
                cur, i = piece_end, j
        return pieces

    def _index(self) -> GramIndex:
        if self._gram_index is None:
            self._gram_index = GramIndex(self._index_text(), self._index_file, self._gram_step)
        return self._gram_index

    def _document_at(self, offset: int) -> DocumentInfo | None:
        starts = [d.start for d in self.documents]
        i = bisect.bisect_right(starts, offset) - 1
        if i < 0 or offset >= self.documents[i].end:
            return None
        return self.documents[i]

    def _line_page(self, offset: int) -> tuple[int, int | None, str | None]:
        """Return (1-based line in its document, page, page label) of an offset."""
        p = self._passages
        i = bisect.bisect_right(p.starts, offset) - 1
        if i >= 0 and self.documents[p.docs[i]].start <= offset < self.documents[p.docs[i]].end:
            line = p.lines[i] + self._count_in("\n", p.starts[i], offset)
            return line, p.page(i), p.label(i)
        doc = self._document_at(offset)
        start = doc.start if doc else 0
        return 1 + self._count_in("\n", start, offset), None, None

    # -------------------------------------------------------------- helpers

    def grep(
        self, pattern: str, flags: int = re.IGNORECASE, max_results: int = 1000
    ) -> list[GrepMatch]:
        """Lines matching a regular expression (case-insensitive by default), in order.

        Each match gives document, line number, page (PDFs), the line's text and its offset.
        Example: ``for m in context.grep(r"error|fail"): print(m)``
        """
        results: list[GrepMatch] = []
        for line_start, line_end in self._lines_matching(pattern, flags | re.MULTILINE):
            doc = self._document_at(line_start)
            if doc is None:
                continue  # a document header line
            line, page, label = self._line_page(line_start)
            span = Span(
                path=doc.path,
                document=doc.name,
                page=page,
                page_label=label,
                line_start=line,
                line_end=line,
                start=line_start - doc.start,
                end=line_end - doc.start,
                text=self.piece(line_start, line_end),
            )
            results.append(GrepMatch(span, line_start, self._hand))
            if len(results) >= max_results:
                break
        return results

    def search(self, query: str, k: int = 10) -> list[SearchResult]:
        """Full-text search (bm25 ranking; words OR'ed, "quotes" for a phrase), best first.
        Without a library (a child RLM's text), a simpler ranking of 10-line passages."""
        if self._library is None:
            return self._search_text(query, k)
        by_path = {d.path: d for d in self.documents}
        # Of some documents only, more hits are asked for: others' are skipped below.
        wanted = k * 5 if self._some_documents else k
        hits = self._library.search(query, wanted)
        results = []
        for hit in hits:
            doc = by_path.get(hit.path)
            if doc is None:
                continue  # ingested after this REPL started
            start = doc.start + hit.span.start
            text = self.piece(start, doc.start + hit.span.end)
            span = replace(hit.span, document=doc.name, text=text)
            results.append(SearchResult(span, round(hit.score, 3), start, self._hand))
            if len(results) == k:
                break
        return results

    def _search_text(self, query: str, k: int) -> list[SearchResult]:
        """Search without a library (a child RLM's text, the Python API's strings): windows of
        ``_WINDOW_LINES`` lines ranked by the question's words, rarer words weighing more."""
        words = {w.lower() for w in re.findall(r"\w+", query) if len(w) > 1}
        if not words:
            return []
        windows: list[tuple[int, int, str]] = []  # (start, end, lowered text)
        for doc in self.documents:
            lines = self.piece(doc.start, doc.end).split("\n")
            pos = doc.start
            for first in range(0, len(lines), _WINDOW_LINES):
                text = "\n".join(lines[first : first + _WINDOW_LINES])
                windows.append((pos, pos + len(text), text.lower()))
                pos += len(text) + 1
        frequency = {w: sum(1 for _, _, t in windows if w in t) for w in words}
        scored = []
        for start, end, text in windows:
            score = sum(
                math.log(1 + text.count(w)) * math.log(1 + len(windows) / frequency[w])
                for w in words
                if frequency[w] and w in text
            )
            if score > 0 and text.strip():
                scored.append((score, start, end))
        results = []
        for score, start, end in sorted(scored, key=lambda s: (-s[0], s[1]))[:k]:
            location = self.location(start, end)
            if location is None:
                continue
            span = replace(location.span, text=self.piece(start, end))
            results.append(SearchResult(span, round(score, 3), start, self._hand))
        return results

    def _chunk_bounds(self, size: int, overlap: int) -> Iterator[tuple[int, int]]:
        """Where ``chunks`` cuts: pieces of ``size`` characters, ended at a line break."""
        if size <= overlap or size <= 0:
            raise ValueError("size must be positive and larger than overlap")
        start, total = 0, self._length()
        while start < total:
            end = min(start + size, total)
            if end < total:
                newline = self._rfind_in("\n", start + size // 2, end)
                end = newline + 1 if newline != -1 else end
            yield start, end
            if end >= total:
                break
            start = max(end - overlap, start + 1)

    def describe(self) -> str:
        """A short table of the documents (name, kind, pages, characters), one line each."""
        rows = [f"{self._length():,} characters in {len(self.documents)} documents"]
        for d in self.documents:
            pages = f"{d.pages} pages" if d.pages else "-"
            rows.append(
                f"  [{d.index}] {printable(d.name)} ({d.kind}, {pages}, {d.length:,} chars)"
            )
        return "\n".join(rows)


class Context(ContextBase, str):
    """The library's text as one string, plus helpers. Behaves exactly like ``str``."""

    def __new__(cls, text: str) -> Context:
        self = str.__new__(cls, text)
        self._start_helpers()
        return self

    def __getitem__(self, key: SupportsIndex | slice) -> str:
        value = str.__getitem__(self, key)
        if isinstance(key, slice) and len(value) >= _HANDED_MIN and key.step in (None, 1):
            start, stop, _ = key.indices(len(self))
            self._hand(start, stop)
        return value

    def _length(self) -> int:
        return len(self)

    def piece(self, start: int, end: int) -> str:
        """The text from ``start`` to ``end`` (nothing is noted as read)."""
        return str.__getitem__(self, slice(start, end))

    def _count_in(self, sub: str, start: int, end: int) -> int:
        return str.count(self, sub, start, end)

    def _rfind_in(self, sub: str, start: int, end: int) -> int:
        return str.rfind(self, sub, start, end)

    def _lines_matching(self, pattern: str, flags: int) -> Iterator[tuple[int, int]]:
        last_line_start = -1
        for match in re.finditer(pattern, str(self), flags):
            line_start = str.rfind(self, "\n", 0, match.start()) + 1
            if line_start == last_line_start:
                continue
            last_line_start = line_start
            line_end = str.find(self, "\n", match.start())
            yield line_start, len(self) if line_end == -1 else line_end

    def _index_text(self) -> Text:
        return str(self)

    # -------------------------------------------------------------- building

    @classmethod
    def from_library(cls, db_path: str | Path, only: list[int] | None = None) -> Context:
        """Load every readable document of a library (opened read-only), or those with the
        ids ``only`` (a question about some documents)."""
        db_path = Path(db_path).resolve()
        # Kept open for search() and page/line lookups: the REPL child opens it before it
        # confines itself.
        library = LibraryReader.open(db_path)
        text, meta, found = snapshot.load(db_path, library, only)
        self = cls(text)
        self._adopt(library, meta, only, found)
        return self

    @classmethod
    def from_text(cls, text: str) -> Context:
        """Wrap one plain string (the Python API without a library); equal to ``text``."""
        self = cls(text)
        self.documents = [DocumentInfo(0, "context", "", "text", None, len(text), 0, self)]
        return self

    @classmethod
    def from_strings(cls, pieces: list[str]) -> Context:
        """Wrap plain strings (the Python API without a library): each becomes a document."""
        parts, meta, offset = [], [], 0
        for n, piece in enumerate(pieces, 1):
            header = f"=== Document {n} ({len(piece):,} characters) ===\n"
            parts.append(header)
            offset += len(header)
            meta.append((n - 1, f"document {n}", "", "text", None, len(piece), offset))
            parts.append(piece)
            offset += len(piece)
            if not piece.endswith("\n"):
                parts.append("\n")
                offset += 1
        self = cls("".join(parts))
        self.documents = [DocumentInfo(*row, _context=self) for row in meta]
        return self

    # -------------------------------------------------------------- helpers on the whole text

    def chunks(self, size: int = 100_000, overlap: int = 0) -> list[str]:
        """Split the whole context into pieces of ``size`` characters (cut at line breaks)."""
        pieces = []
        for start, end in self._chunk_bounds(size, overlap):
            pieces.append(self.piece(start, end))
            self._hand(start, end)
        return pieces

    def by_document(self) -> list[str]:
        """The text of each document, in order (one piece per document)."""
        return [doc.text for doc in self.documents]
