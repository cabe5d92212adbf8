"""Find verbatim pieces of one big text quickly: a sorted index of line hashes.

Printed output and sub-call prompts are mostly whole lines of ``context``; hashing every
line once lets us find where a piece came from without scanning 40 MB per lookup.
"""

from __future__ import annotations

import zlib

MIN_LINE = 8  # shorter lines are too common to anchor on
_MAX_CANDIDATES = 32


def _common_prefix(a: str, a_pos: int, b: str, b_pos: int, limit: int) -> int:
    """Length of the common run of ``a[a_pos:]`` and ``b[b_pos:]``, at most ``limit``."""
    lo, hi = 0, min(limit, len(a) - a_pos, len(b) - b_pos)
    while lo < hi:
        mid = (lo + hi + 1) // 2
        if b.startswith(a[a_pos : a_pos + mid], b_pos):
            lo = mid
        else:
            hi = mid - 1
    return lo


def _common_suffix(a: str, a_end: int, b: str, b_end: int, limit: int) -> int:
    """Length of the common run ending at ``a[:a_end]`` and ``b[:b_end]``, at most ``limit``."""
    lo, hi = 0, min(limit, a_end, b_end)
    while lo < hi:
        mid = (lo + hi + 1) // 2
        if b.endswith(a[a_end - mid : a_end], 0, b_end):
            lo = mid
        else:
            hi = mid - 1
    return lo


def line_key(line: str) -> int:
    """A hash of a line that is the same in every process (str hashes are salted)."""
    return zlib.crc32(line.encode("utf-8", "surrogatepass"))


def build_table(text: str):
    """The index of a text: line keys and line starts, sorted by key (a 2 x N int64 array).

    Only C-level passes (map, fromiter, cumsum): a Python loop over ~600k lines of a 40 MB
    text would cost several times more.
    """
    import numpy as np

    lines = text.split("\n")
    count = len(lines)
    keys = np.fromiter(map(line_key, lines), dtype=np.int64, count=count)
    lengths = np.fromiter(map(len, lines), dtype=np.int64, count=count)
    del lines
    starts = np.zeros(count, dtype=np.int64)
    np.cumsum(lengths[:-1] + 1, out=starts[1:])
    order = np.argsort(keys, kind="stable")  # stable: equal lines stay in text order
    return np.stack([keys[order], starts[order]])


class LineIndex:
    """Where each line of a text starts, keyed by the line's hash."""

    def __init__(self, text: str, table_file: str | None = None) -> None:
        import numpy as np  # imported on first use: it costs the REPL's start-up 30 ms

        self._np = np
        self.text = text
        table = None
        if table_file is not None:
            try:
                table = np.load(table_file)
            except (OSError, ValueError):
                table = None
        if table is None or table.shape[0] != 2:
            table = build_table(text)
        self._keys, self._starts = table[0], table[1]

    def line_positions(self, line: str) -> list[int]:
        """Offsets in the text where a line equal to ``line`` starts (first ones first)."""
        key = line_key(line)
        search = self._np.searchsorted
        lo = int(search(self._keys, key, side="left"))
        hi = min(int(search(self._keys, key, side="right")), lo + _MAX_CANDIDATES)
        text = self.text
        return [int(p) for p in self._starts[lo:hi] if text.startswith(line, int(p))]

    def find(self, piece: str) -> tuple[int, int] | None:
        """Return ``(start, end)`` of the first occurrence of ``piece`` in the text, or None."""
        if not piece:
            return None
        lines = piece.split("\n")
        inner = lines[1:-1]
        if inner:
            # The longest whole line inside the piece is the most selective anchor.
            best = max(range(len(inner)), key=lambda i: len(inner[i]))
            if len(inner[best]) >= MIN_LINE:
                offset = sum(len(line) + 1 for line in lines[: best + 1])
                for pos in self.line_positions(inner[best]):
                    start = pos - offset
                    if start >= 0 and self.text.startswith(piece, start):
                        return start, start + len(piece)
                return None
        start = self.text.find(piece)
        return None if start == -1 else (start, start + len(piece))

    def spans(self, output: str, min_chars: int = 40) -> list[tuple[int, int]]:
        """Maximal runs of ``output`` that are verbatim text, as (start, end) in the text.

        Each whole line of ``output`` that occurs in the text anchors a match, which is
        then grown character by character in both directions.
        """
        found: list[tuple[int, int]] = []
        if len(output) < min_chars:
            return found
        covered_until = 0
        pos = 0
        for line in output.split("\n"):
            line_start, pos = pos, pos + len(line) + 1
            if line_start < covered_until or len(line) < MIN_LINE:
                continue
            best: tuple[int, int, int] | None = None  # (output end, text start, text end)
            for text_pos in self.line_positions(line):
                back = _common_suffix(
                    output, line_start, self.text, text_pos, line_start - covered_until
                )
                ahead = _common_prefix(
                    output, line_start, self.text, text_pos, len(output) - line_start
                )
                if best is None or back + ahead > best[2] - best[1]:
                    best = (line_start + ahead, text_pos - back, text_pos + ahead)
            if best is None:
                continue
            start = best[1]
            while start < best[2] and self.text[start] == "\n":
                start += 1  # a newline before the match belongs to the previous line
            if best[2] - start >= min_chars:
                found.append((start, best[2]))
                covered_until = best[0]
        return found
