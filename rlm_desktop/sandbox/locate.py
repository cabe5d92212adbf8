"""Find where pieces of printed text come from in one big text: a sampled k-gram index.

Model code prints library text in every shape: numbered, inside a list's repr, after a grep
prefix, sliced mid-line, several lines at once. So provenance is found by substring, not by
line: every ``STEP``-th position of the library text has the hash of the ``K`` characters
starting there in a sorted table (written once per library snapshot, memory-mapped). Every
verbatim run of at least ``K + STEP - 1`` characters of an output holds one sampled gram,
so hashing every position of the output and looking each hash up finds all of them; each
hit is then checked and grown character by character against the text itself (a hash
collision can never attribute text that is not there).

Only the standard library and numpy (imported on first use): the REPL child imports this.
"""

from __future__ import annotations

import bisect
from dataclasses import dataclass
from typing import Any

K = 24  # characters per hashed gram
STEP = 16  # every STEP-th position of the library is indexed
MIN_RUN = K + STEP - 1  # any verbatim run this long contains an indexed gram
_BASE = 0x100000001B3  # odd multiplier of the polynomial hash (arithmetic mod 2**64)
_BLOCK = 1 << 20  # characters hashed at a time while building (bounds the build's memory)
_RARE = 8  # a gram at most this frequent seeds a match directly
_TRIED = 64  # library positions tried for a frequent gram
_FREQUENT_TRIES = 300  # frequent-gram lookups per output (repetitive text costs no more)
OCCURRENCES_CAP = 8  # a run found in more places is attributed to this many of them
_SHORT_HINT = 12  # the shortest handed-out piece matched directly against the output
_FIND_CANDIDATES = 4_096  # places checked by find() before it scans the text instead
_HINT_RANGES = 2_000  # handed-out ranges searched for a repeated run's copy
_HINT_RANGE_CHARS = 1_000_000  # a longer one (a whole document) tells nothing about which copy


@dataclass(frozen=True)
class Run:
    """A verbatim run of an output: ``output[out_start:out_end]`` equals the text at each of
    ``starts``. ``occurrences`` is how many places were found to hold it (at least that many;
    ``starts`` lists at most ``OCCURRENCES_CAP`` of them);
    ``exact`` is True when the code that printed it was handed exactly these places."""

    out_start: int
    out_end: int
    starts: tuple[int, ...]
    occurrences: int
    exact: bool

    @property
    def length(self) -> int:
        """Characters in the run."""
        return self.out_end - self.out_start


def _np() -> Any:
    import numpy as np  # imported on first use: it costs the REPL's start-up 30 ms

    return np


def _codes(text: str) -> Any:
    """The text's code points (one per ``str`` index) as 64-bit integers."""
    np = _np()
    data = text.encode("utf-32-le", "surrogatepass")
    return np.frombuffer(data, dtype="<u4").astype(np.uint64)


def _hashes(codes: Any, step: int) -> Any:
    """Hashes of the grams starting at every ``step``-th position (Horner, column by column:
    K vector operations whatever the length)."""
    np = _np()
    if len(codes) < K:
        return np.zeros(0, dtype=np.uint64)
    windows = np.lib.stride_tricks.sliding_window_view(codes, K)[::step]
    value = np.zeros(len(windows), dtype=np.uint64)
    base = np.uint64(_BASE)
    for column in range(K):
        value *= base
        value += windows[:, column]
    return value


def build_table(text: str) -> Any:
    """The index of a text: gram hashes and their positions, sorted by hash (2 x N uint64).

    Built a block at a time, so a 40 MB text needs tens of MB, not gigabytes, on top of it.
    """
    np = _np()
    keys, starts = [], []
    for block in range(0, len(text), _BLOCK):  # _BLOCK is a multiple of STEP
        codes = _codes(text[block : block + _BLOCK + K - 1])
        hashes = _hashes(codes, STEP)[: _BLOCK // STEP]
        keys.append(hashes)
        starts.append(np.arange(len(hashes), dtype=np.uint64) * STEP + block)
    key = np.concatenate(keys) if keys else np.zeros(0, dtype=np.uint64)
    start = np.concatenate(starts) if starts else np.zeros(0, dtype=np.uint64)
    order = np.argsort(key, kind="stable")  # stable: one hash's positions stay in text order
    return np.stack([key[order], start[order]])


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


class Hints:
    """Places of the text that helpers handed to model code (grep lines, search passages,
    slices, chunks): sorted, merged intervals. A run found in several places is attributed
    to the ones among these, which is exactly what the code read."""

    def __init__(self, pieces: list[tuple[int, int]] = ()) -> None:  # type: ignore[assignment]
        self.starts: list[int] = []
        self.ends: list[int] = []
        self.pieces: list[tuple[int, int]] = []  # as handed out, for short exact matches
        self.add(pieces)

    def add(self, pieces: list[tuple[int, int]]) -> None:
        """Add handed-out ranges (kept as given for short ones, merged for the rest)."""
        if not pieces:
            return
        self.pieces = (self.pieces + [p for p in pieces if p[1] - p[0] < MIN_RUN])[-4_000:]
        merged: list[tuple[int, int]] = []
        for start, end in sorted([*zip(self.starts, self.ends, strict=True), *pieces]):
            if merged and start <= merged[-1][1]:
                merged[-1] = (merged[-1][0], max(merged[-1][1], end))
            else:
                merged.append((start, end))
        self.starts = [s for s, _ in merged]
        self.ends = [e for _, e in merged]

    def covers(self, start: int, end: int) -> bool:
        """True when ``[start, end)`` lies inside one handed-out range."""
        i = bisect.bisect_right(self.starts, start) - 1
        return i >= 0 and end <= self.ends[i]

    def covering(self, places: Any, length: int) -> Any:
        """Which of ``places`` (an array of starts) begin ``length`` characters that lie
        inside one handed-out range (a boolean array)."""
        np = _np()
        places = np.asarray(places, dtype=np.int64)
        if not self.starts:
            return np.zeros(len(places), dtype=bool)
        starts = np.asarray(self.starts, dtype=np.int64)
        ends = np.asarray(self.ends, dtype=np.int64)
        i = np.searchsorted(starts, places, side="right") - 1
        inside = i >= 0
        inside[inside] = places[inside] + length <= ends[i[inside]]
        return inside

    def __bool__(self) -> bool:
        return bool(self.starts)


class GramIndex:
    """The k-gram index of a text, loaded from its snapshot file or built in memory."""

    def __init__(self, text: str, table_file: str | None = None) -> None:
        np = _np()
        self.text = text
        table = None
        if table_file is not None:
            try:
                table = np.load(table_file, mmap_mode="r")  # shared pages, not a copy
            except (OSError, ValueError):
                table = None
        if table is None or table.ndim != 2 or table.shape[0] != 2:
            table = build_table(text)
        self._keys, self._starts = table[0], table[1]

    # -------------------------------------------------------------- one piece

    def find(self, piece: str) -> tuple[int, int] | None:
        """Return ``(start, end)`` of the first occurrence of ``piece`` in the text, or None."""
        if not piece:
            return None
        np = _np()
        if len(piece) >= MIN_RUN:
            # One of the first STEP grams of the piece is indexed at each occurrence.
            hashes = _hashes(_codes(piece[: MIN_RUN + STEP]), 1)[:STEP]
            lo = np.searchsorted(self._keys, hashes, side="left")
            hi = np.searchsorted(self._keys, hashes, side="right")
            if int((hi - lo).sum()) <= _FIND_CANDIDATES:  # else: too common, scan instead
                starts = [
                    int(pos) - offset
                    for offset in range(len(hashes))
                    for pos in self._starts[int(lo[offset]) : int(hi[offset])]
                ]
                found = [p for p in starts if p >= 0 and self.text.startswith(piece, p)]
                return (min(found), min(found) + len(piece)) if found else None
        start = self.text.find(piece)
        return None if start == -1 else (start, start + len(piece))

    # -------------------------------------------------------------- a whole output

    def runs(self, output: str, hints: Hints | None = None, min_chars: int = 40) -> list[Run]:
        """The maximal verbatim runs of ``output`` (at least ``min_chars`` long; pieces that
        helpers handed out may be shorter), each with where in the text it comes from."""
        min_chars = max(min_chars, MIN_RUN)
        hints = hints or Hints()
        if len(output) < min_chars and not hints.pieces:
            return []
        np = _np()
        hashes = _hashes(_codes(output), 1)
        lo = np.searchsorted(self._keys, hashes, side="left")
        hi = np.searchsorted(self._keys, hashes, side="right")
        count = hi - lo
        found = self._rare_runs(output, lo, count, min_chars)
        covered = np.zeros(len(output) + 1, dtype=bool)
        runs: list[Run] = []
        # Longest first: the longest match of a stretch of output is the one it was printed
        # from; what it leaves uncovered is matched by the next longest.
        for run in sorted(found, key=lambda r: (-r.length, r.out_start)):
            runs.extend(self._clip(run, covered, min_chars, hints))
        runs.extend(self._frequent_runs(output, lo, count, covered, min_chars, hints))
        runs.extend(self._short_hints(output, covered, hints))
        return sorted(runs, key=lambda r: r.out_start)

    def _extend(self, output: str, out_pos: int, text_pos: int) -> tuple[int, int, int]:
        """Grow a match at (``out_pos``, ``text_pos``): (output start, output end, text start)."""
        back = _common_suffix(output, out_pos, self.text, text_pos, out_pos)
        ahead = _common_prefix(output, out_pos, self.text, text_pos, len(output) - out_pos)
        return out_pos - back, out_pos + ahead, text_pos - back

    def _rare_runs(self, output: str, lo: Any, count: Any, min_chars: int) -> list[Run]:
        """Runs seeded by grams that occur in few places: every seed on one diagonal
        (text position minus output position) belongs to one candidate run."""
        np = _np()
        seeds = np.nonzero((count > 0) & (count <= _RARE))[0]
        if not len(seeds):
            return []
        reps = count[seeds]
        out_pos = np.repeat(seeds, reps)
        first = np.repeat(np.cumsum(reps) - reps, reps)
        rank = np.arange(len(out_pos)) - first
        text_pos = self._starts[np.repeat(lo[seeds], reps) + rank].astype(np.int64)
        diagonal = text_pos - out_pos
        order = np.lexsort((out_pos, diagonal))
        groups: dict[tuple[int, int, int], list[int]] = {}
        end_of: dict[int, int] = {}  # diagonal -> output end of its last run
        for i in order:
            d, o = int(diagonal[i]), int(out_pos[i])
            if o < end_of.get(d, -1):
                continue  # inside a run already grown on this diagonal
            start, end, text_start = self._extend(output, o, o + d)
            end_of[d] = max(end, o + 1)
            if end - start >= min_chars:
                groups.setdefault((start, end, 0), []).append(text_start)
        return [
            Run(start, end, tuple(sorted(set(places))), len(set(places)), False)
            for (start, end, _), places in groups.items()
        ]

    def _frequent_runs(
        self, output: str, lo: Any, count: Any, covered: Any, min_chars: int, hints: Hints
    ) -> list[Run]:
        """Runs made only of frequent grams (repeated log lines): tried at a bounded number of
        places; attributed to the handed-out place when there is one, else to the first few."""
        np = _np()
        candidates = np.nonzero((count > _RARE) & ~covered[: len(count)])[0]
        runs: list[Run] = []
        tries = 0
        next_pos = 0
        for o in candidates.tolist():
            if o < next_pos or covered[o]:
                continue
            tries += 1
            if tries > _FREQUENT_TRIES:
                break
            first, total = int(lo[o]), int(count[o])
            places = np.asarray(self._starts[first : first + total], dtype=np.int64)
            hinted = places[hints.covering(places, K)].tolist() if hints else []
            tried = hinted[:_TRIED] or places[:_TRIED].tolist()
            best: dict[tuple[int, int], list[int]] = {}
            for p in tried:
                start, end, text_start = self._extend(output, o, p)
                best.setdefault((start, end), []).append(text_start)
            (start, end), starts = max(best.items(), key=lambda kv: kv[0][1] - kv[0][0])
            if end - start < min_chars:
                next_pos = o + STEP // 2  # any real run here is longer than this skip
                continue
            # Only the places tried are known to hold the whole run: a lower bound.
            occurrences = len(starts)
            run = Run(start, end, tuple(sorted(starts)), occurrences, bool(hinted))
            runs.extend(self._clip(run, covered, min_chars, hints))
            next_pos = end
        return runs

    def _clip(self, run: Run, covered: Any, min_chars: int, hints: Hints) -> list[Run]:
        """The parts of a run that no longer run covers, marked covered; a run found in
        several places keeps only the handed-out ones when the code was handed any."""
        np = _np()
        starts = run.starts
        exact = run.exact
        if len(starts) > 1 and hints:
            handed = self._handed_copies(run, hints)
            if handed:
                starts, exact = handed, True
        pieces: list[Run] = []
        free = ~covered[run.out_start : run.out_end]
        if not free.any():
            return pieces
        # Split the run at covered stretches, keeping each free stretch long enough.
        edges = np.flatnonzero(np.diff(np.concatenate(([0], free.view(np.int8), [0]))))
        for a, b in zip(edges[::2].tolist(), edges[1::2].tolist(), strict=True):
            if b - a < min_chars:
                continue
            shift = a
            kept = tuple(s + shift for s in starts[:OCCURRENCES_CAP])
            occurrences = len(starts) if exact else run.occurrences
            pieces.append(
                Run(run.out_start + a, run.out_start + b, kept, max(occurrences, 1), exact)
            )
            covered[run.out_start + a : run.out_start + b] = True
        return pieces

    def _handed_copies(self, run: Run, hints: Hints) -> tuple[int, ...]:
        """Where a repeated run occurs inside the ranges the code was handed (searched in
        those ranges: the copies the index tried may not include the handed one)."""
        # The output's text equals the library's at each of the run's starts.
        piece = self.text[run.starts[0] : run.starts[0] + run.length]
        # Whitespace around it (print's newline) may lie outside what was handed out.
        core = piece.strip()
        lead = len(piece) - len(piece.lstrip())
        found: list[int] = []
        for start, end in zip(hints.starts[:_HINT_RANGES], hints.ends, strict=False):
            if end - start < len(core) or end - start > _HINT_RANGE_CHARS:
                continue
            at = self.text.find(core, start, end)
            while at != -1 and len(found) < OCCURRENCES_CAP:
                if self.text.startswith(piece, at - lead):
                    found.append(at - lead)
                at = self.text.find(core, at + 1, end)
        return tuple(found)

    def _short_hints(self, output: str, covered: Any, hints: Hints) -> list[Run]:
        """Handed-out pieces too short for the index (a short grep line) found verbatim in
        the output where nothing else explains it."""
        runs: list[Run] = []
        for start, end in reversed(hints.pieces):
            if end - start < _SHORT_HINT:
                continue
            piece = self.text[start:end]
            at = output.find(piece)
            if at == -1 or covered[at : at + len(piece)].any():
                continue
            covered[at : at + len(piece)] = True
            runs.append(Run(at, at + len(piece), (start,), 1, True))
        return runs
