"""The snapshot's text on disk, read by character offset without loading it: a UTF-8 file
memory-mapped, plus a table of checkpoints (the byte offset of every ``EVERY``-th character).

Any character offset becomes a byte offset by decoding at most one block of ``EVERY``
characters (none for an ASCII block), so slices, ``find`` and friends answer exactly in
characters for any text. Long scans go through the file a window at a time and hand the
window's pages back to the kernel afterwards, so the process's resident memory stays at a
few windows whatever the file's size. Standard library only: the REPL child imports this.
"""

from __future__ import annotations

import bisect
import mmap
import os
from array import array
from collections.abc import Iterator
from typing import BinaryIO

EVERY = 4096  # characters per checkpoint
SCAN_BYTES = 16 << 20  # bytes looked at per step of a long scan
_PAGE = mmap.PAGESIZE


class TextWriter:
    """Writes text as UTF-8 to an open file, noting a checkpoint every ``EVERY`` characters."""

    def __init__(self, handle: BinaryIO) -> None:
        self._handle = handle
        self.chars = 0
        self.bytes = 0
        self._checkpoints = array("q")

    def write(self, text: str) -> None:
        """Append ``text``."""
        data = text.encode("utf-8")
        ascii_only = len(data) == len(text)
        at = len(self._checkpoints) * EVERY  # the next checkpoint's character
        while at < self.chars + len(text):
            inside = at - self.chars
            offset = inside if ascii_only else len(text[:inside].encode("utf-8"))
            self._checkpoints.append(self.bytes + offset)
            at += EVERY
        self._handle.write(data)
        self.chars += len(text)
        self.bytes += len(data)

    def checkpoints(self) -> bytes:
        """The finished table: checkpoints, then the file's length (native 64-bit integers)."""
        return (self._checkpoints + array("q", [self.bytes])).tobytes()


def _adjust(start: int | None, end: int | None, length: int) -> tuple[int, int]:
    """``str``'s reading of ``start``/``end`` arguments (negative counts from the end; the end
    is clipped to the length, the start is not)."""
    start = 0 if start is None else start
    end = length if end is None else end
    if end > length:
        end = length
    elif end < 0:
        end = max(0, end + length)
    if start < 0:
        start = max(0, start + length)
    return start, end


def _overlaps_itself(needle: bytes) -> bool:
    """True when a proper prefix of ``needle`` is also its suffix (matches may overlap)."""
    return any(needle[:k] == needle[-k:] for k in range(1, len(needle)))


class MappedText:
    """A snapshot's text, mapped: ``len``, slices, find/rfind/count/startswith/endswith by
    character offset, and a stream of line-aligned blocks."""

    def __init__(self, text_path: str, table_path: str, chars: int) -> None:
        with open(table_path, "rb") as handle:
            self._table = array("q")
            self._table.frombytes(handle.read())
        self.chars = chars
        with open(text_path, "rb") as handle:
            size = os.fstat(handle.fileno()).st_size
            self._map = mmap.mmap(handle.fileno(), 0, access=mmap.ACCESS_READ) if size else None
        self._data: mmap.mmap | bytes = self._map if self._map is not None else b""
        self.size = size
        if len(self._table) != -(-chars // EVERY) + 1 or self._table[-1] != size:
            raise ValueError("the snapshot's checkpoint table does not match its text")

    def __len__(self) -> int:
        return self.chars

    # ---------------------------------------------------------------- offsets

    def _ascii_block(self, block: int) -> bool:
        first = self._table[block]
        return self._table[block + 1] - first == min(EVERY, self.chars - block * EVERY)

    def byte_at(self, pos: int) -> int:
        """The byte offset of character ``pos`` (0 <= pos <= len)."""
        block, rest = divmod(pos, EVERY)
        first = self._table[block]
        if rest == 0 or self._ascii_block(block):
            return first + rest
        text = self._data[first : self._table[block + 1]].decode("utf-8")
        return first + len(text[:rest].encode("utf-8"))

    def char_at(self, at: int) -> int:
        """The character offset of byte ``at`` (the start of a character)."""
        if at >= self.size:
            return self.chars
        block = bisect.bisect_right(self._table, at) - 1
        first = self._table[block]
        if self._ascii_block(block):
            return block * EVERY + at - first
        return block * EVERY + len(self._data[first:at].decode("utf-8"))

    # ---------------------------------------------------------------- reading

    def text(self, start: int, end: int) -> str:
        """The characters ``start`` to ``end`` (clipped to the text)."""
        start, end = max(0, min(start, self.chars)), max(0, min(end, self.chars))
        if end <= start:
            return ""
        first, last = self.byte_at(start), self.byte_at(end)
        piece = self._data[first:last].decode("utf-8")
        self._release(first, last)
        return piece

    def _release(self, first: int, last: int) -> None:
        """Hand the pages of bytes ``first`` to ``last`` back to the kernel when the range was
        big (they stay in the page cache; touching them again reads them from there)."""
        if self._map is None or last - first < SCAN_BYTES // 4:
            return
        low = first - first % _PAGE
        self._map.madvise(mmap.MADV_DONTNEED, low, last - low)

    def blocks(self, start: int = 0, end: int | None = None) -> Iterator[tuple[int, str]]:
        """The text from ``start`` to ``end`` as (offset, piece) pieces of about
        ``SCAN_BYTES`` bytes, each ending just after a line break where the line allows."""
        start, end = _adjust(start, end, self.chars)
        if end <= start:
            return
        pos, last = self.byte_at(start), self.byte_at(end)
        offset = start
        while pos < last:
            cut = min(pos + SCAN_BYTES, last)
            if cut < last:
                newline = self._data.rfind(b"\n", pos, cut)
                if newline != -1:
                    cut = newline + 1
                else:
                    while cut > pos and self._data[cut] & 0xC0 == 0x80:
                        cut -= 1  # not inside a character
            piece = self._data[pos:cut].decode("utf-8")
            self._release(pos, cut)
            yield offset, piece
            offset += len(piece)
            pos = cut

    # ---------------------------------------------------------------- str's questions

    def find(self, sub: str, start: int | None = None, end: int | None = None) -> int:
        """Like ``str.find``."""
        start, end = _adjust(start, end, self.chars)
        if end - start < len(sub):
            return -1
        if not sub:
            return start
        needle = sub.encode("utf-8")
        first, last = self.byte_at(start), self.byte_at(end)
        pos = first
        while pos < last:
            stop = min(pos + SCAN_BYTES + len(needle) - 1, last)
            at = self._data.find(needle, pos, stop)
            self._release(pos, stop)
            if at != -1:
                return self.char_at(at)
            pos += SCAN_BYTES
        return -1

    def rfind(self, sub: str, start: int | None = None, end: int | None = None) -> int:
        """Like ``str.rfind``."""
        start, end = _adjust(start, end, self.chars)
        if end - start < len(sub):
            return -1
        if not sub:
            return end
        needle = sub.encode("utf-8")
        first, last = self.byte_at(start), self.byte_at(end)
        stop = last
        while stop > first:
            low = max(first, stop - SCAN_BYTES - len(needle) + 1)
            at = self._data.rfind(needle, low, stop)
            self._release(low, stop)
            if at != -1:
                return self.char_at(at)
            stop -= SCAN_BYTES
        return -1

    def count(self, sub: str, start: int | None = None, end: int | None = None) -> int:
        """Like ``str.count`` (non-overlapping occurrences)."""
        start, end = _adjust(start, end, self.chars)
        if end - start < len(sub):
            return 0
        if not sub:
            return end - start + 1
        needle = sub.encode("utf-8")
        first, last = self.byte_at(start), self.byte_at(end)
        total = 0
        if _overlaps_itself(needle):  # the next search starts where a match ends
            pos = first
            while (at := self.find(sub, self.char_at(pos), end)) != -1:
                total += 1
                pos = self.byte_at(at) + len(needle)
            return total
        # Occurrences cannot overlap: count those starting in each window.
        for pos in range(first, last, SCAN_BYTES):
            stop = min(pos + SCAN_BYTES + len(needle) - 1, last)
            total += self._data[pos:stop].count(needle)
            self._release(pos, stop)
        return total

    def startswith(
        self, prefix: str | tuple[str, ...], start: int | None = None, end: int | None = None
    ) -> bool:
        """Like ``str.startswith``."""
        if isinstance(prefix, tuple):
            return any(self.startswith(p, start, end) for p in prefix)
        start, end = _adjust(start, end, self.chars)
        if end - start < len(prefix):
            return False
        return self.text(start, start + len(prefix)) == prefix

    def endswith(
        self, suffix: str | tuple[str, ...], start: int | None = None, end: int | None = None
    ) -> bool:
        """Like ``str.endswith``."""
        if isinstance(suffix, tuple):
            return any(self.endswith(s, start, end) for s in suffix)
        start, end = _adjust(start, end, self.chars)
        if end - start < len(suffix):
            return False
        return self.text(end - len(suffix), end) == suffix

    def __getitem__(self, key: int | slice) -> str:
        """Characters as from a ``str`` (the locate index reads the text this way)."""
        if isinstance(key, slice):
            indices = range(self.chars)[key]
            if not indices:
                return ""
            if indices.step > 0:
                return self.text(indices[0], indices[-1] + 1)[:: indices.step]
            return self.text(indices[-1], indices[0] + 1)[::-1][:: -indices.step]
        index = range(self.chars)[key]  # IndexError as str's
        return self.text(index, index + 1)

    def close(self) -> None:
        """Unmap the file."""
        if self._map is not None:
            self._map.close()
