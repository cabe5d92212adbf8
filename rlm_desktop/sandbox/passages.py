"""Where each passage of ``context`` starts, with its page and first line: for offset →
page/line lookups. Compact arrays, since a library of gigabytes has millions of passages.

Standard library and the store's reader only: the REPL child imports this.
"""

from __future__ import annotations

from array import array
from collections.abc import Sequence
from typing import Protocol

from rlm_desktop.store.reader import LibraryReader


class _Placed(Protocol):
    @property
    def start(self) -> int: ...


_NO_PAGE = -(1 << 62)


class Passages:
    """Passage boundaries of the whole context, for offset → page/line lookups (compact
    arrays: a library of gigabytes has millions of passages)."""

    def __init__(self) -> None:
        self.starts = array("q")
        self._pages = array("q")
        self._labels: dict[int, str] = {}  # only the passages that have one
        self.lines = array("q")
        self.docs = array("q")

    @classmethod
    def of(cls, library: LibraryReader, documents: Sequence[_Placed], ids: list[int]) -> Passages:
        """The boundaries of these documents (with these ids), in ``context`` order."""
        index = {doc_id: n for n, doc_id in enumerate(ids)}
        by_doc: dict[int, Passages] = {}
        for doc_id, start, page, label, line in library.passage_boundaries():
            n = index.get(doc_id)
            if n is not None:
                part = by_doc.get(n) or by_doc.setdefault(n, cls())
                part._add(documents[n].start + start, page, label, line, n)
        table = cls()
        # Documents are in ``context`` by path, not by id; each one's passages are in order.
        for n in sorted(by_doc, key=lambda n: documents[n].start):
            table._extend(by_doc[n])
        return table

    def _add(self, start: int, page: int | None, label: str | None, line: int, doc: int) -> None:
        if label is not None:
            self._labels[len(self.starts)] = label
        self.starts.append(start)
        self._pages.append(_NO_PAGE if page is None else page)
        self.lines.append(line)
        self.docs.append(doc)

    def _extend(self, other: Passages) -> None:
        base = len(self.starts)
        self._labels.update({base + i: label for i, label in other._labels.items()})
        self.starts.extend(other.starts)
        self._pages.extend(other._pages)
        self.lines.extend(other.lines)
        self.docs.extend(other.docs)

    def page(self, i: int) -> int | None:
        """The page of passage ``i`` (None outside paged documents)."""
        page = self._pages[i]
        return None if page == _NO_PAGE else page

    def label(self, i: int) -> str | None:
        """The page label of passage ``i``, if it has one."""
        return self._labels.get(i)
