"""Find where pieces of printed text come from in one big text: a sampled k-gram index.

Model code prints library text in every shape: numbered, inside a list's repr, after a grep
prefix, sliced mid-line, several lines at once. So provenance is found by substring, not by
line: every ``STEP``-th position of the library text has the hash of the ``K`` characters
starting there in a sorted table (written once per library snapshot, memory-mapped). Every
verbatim run of at least ``K + STEP - 1`` characters of an output holds one sampled gram,
so hashing every position of the output and looking each hash up finds all of them; each
hit is then checked and grown character by character against the text itself (a hash
collision can never attribute text that is not there). A text so long that the table would
pass ``_MAX_ENTRIES`` grams is sampled sparser (``gram_step``): only longer runs are found
through the index then, and the pieces helpers handed out are matched whole.

Only the standard library and numpy (imported on first use): the REPL child imports this.
"""

from __future__ import annotations

import bisect
from dataclasses import dataclass, replace
from typing import Any, Protocol, overload

K = 24  # characters per hashed gram
STEP = 16  # every STEP-th position of the library is indexed
_BASE = 0x100000001B3  # odd multiplier of the polynomial hash (arithmetic mod 2**64)
_BLOCK = 1 << 20  # characters hashed at a time while building (bounds the build's memory)
_MAX_ENTRIES = 1 << 22  # grams indexed at most: a 64 MB table, built in about 160 MB
_RARE = 8  # a gram at most this frequent seeds a match directly
_TRIED = 16  # library positions tried for a frequent gram
_FREQUENT_TRIES = 300  # frequent-gram lookups per output (repetitive text costs no more)
OCCURRENCES_CAP = 8  # a run found in more places is attributed to this many of them
_SHORT_HINT = 12  # the shortest handed-out piece matched directly against the output
_SHORT_PIECE = 64  # handed-out pieces shorter than this are matched directly too
_SHORT_HINTS_TRIED = 4_000  # most recent handed-out pieces tried that way
_EXACT_CHARS = 20_000  # a handed-out piece up to this long says which copy was read
_EXACT_KEPT = 20_000  # handed-out pieces remembered (the most recent)
_FIND_HEAD = 256  # characters of a piece that locate() looks up (the rest is compared)
_COPIES_CHECKED = 4_096  # places checked to list the copies of a run
_NEAR = 100_000  # how far from its printed neighbours a repeated run is looked for
_LONGER_TRIED = 256  # copies of a run tried for a longer match
_PROBE = 8  # characters a match must go on past its gram to be worth growing
_EDGE = 12  # a line fragment this short at a run's edge is a coincidence


class Text(Protocol):
    """What the index reads of its text: a ``str``, or the snapshot's mapped text."""

    def __len__(self) -> int: ...

    @overload
    def __getitem__(self, key: int) -> str: ...
    @overload
    def __getitem__(self, key: slice) -> str: ...

    def find(self, sub: str, start: int | None = ..., end: int | None = ...) -> int: ...

    def startswith(
        self, prefix: str | tuple[str, ...], start: int | None = ..., end: int | None = ...
    ) -> bool: ...

    def endswith(
        self, suffix: str | tuple[str, ...], start: int | None = ..., end: int | None = ...
    ) -> bool: ...


@dataclass(frozen=True)
class Run:
    """A verbatim run of an output: ``output[out_start:out_end]`` equals the text at each of
    ``starts``. ``occurrences`` is 1 when the place is known (the only copy, the copy the
    code was handed, or the one between its printed neighbours); otherwise how many places
    were found to hold it, of which ``starts`` lists at most ``OCCURRENCES_CAP``."""

    out_start: int
    out_end: int
    starts: tuple[int, ...]
    occurrences: int
    begins_piece: bool = False  # its first start is where a handed-out piece begins

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
    """Hashes of the grams starting at every ``step``-th position."""
    np = _np()
    if len(codes) < K:
        return np.zeros(0, dtype=np.uint64)
    return _horner(np.lib.stride_tricks.sliding_window_view(codes, K)[::step])


def _horner(windows: Any) -> Any:
    """The hash of each row of K code points (Horner, column by column: K vector operations
    whatever the number of rows)."""
    np = _np()
    value = np.zeros(len(windows), dtype=np.uint64)
    base = np.uint64(_BASE)
    for column in range(K):
        value *= base
        value += windows[:, column]
    return value


def gram_step(chars: int) -> int:
    """How far apart the indexed grams of a text this long are: every ``STEP``-th position,
    or sparser where the table would pass ``_MAX_ENTRIES`` grams (then only longer runs are
    found through the index; pieces that helpers handed out are still matched whole)."""
    step = STEP
    while chars // step > _MAX_ENTRIES and step < _BLOCK:
        step *= 2
    return step


class TableBuilder:
    """Builds the index of a text given piece by piece, hashing ``_BLOCK`` characters at a
    time: the memory it needs is the table's own, whatever the text's length."""

    def __init__(self, step: int = STEP) -> None:
        self.step = step
        self._pieces: list[str] = []
        self._held = 0  # characters in _pieces
        self._done = 0  # characters hashed (a multiple of _BLOCK, so of step)
        self._keys: list[Any] = []
        self._starts: list[Any] = []

    def add(self, text: str) -> None:
        """Append the next piece of the text."""
        self._pieces.append(text)
        self._held += len(text)
        if self._held >= 4 * _BLOCK:
            self._hash(final=False)

    def _hash(self, final: bool) -> None:
        np = _np()
        text = "".join(self._pieces)
        pos = 0
        while len(text) - pos >= _BLOCK + K - 1 or (final and pos < len(text)):
            if self.step >= K:  # sparse grams: only their own characters are read
                grams = range(pos, min(pos + _BLOCK, len(text) - K + 1), self.step)
                hashes = _horner(_codes("".join(text[q : q + K] for q in grams)).reshape(-1, K))
            else:
                hashes = _hashes(_codes(text[pos : pos + _BLOCK + K - 1]), self.step)
                hashes = hashes[: _BLOCK // self.step]
            self._keys.append(hashes)
            self._starts.append(np.arange(len(hashes), dtype=np.uint64) * self.step + self._done)
            pos += _BLOCK
            self._done += _BLOCK
        rest = text[pos:]
        self._pieces, self._held = [rest], len(rest)

    def finish(self) -> Any:
        """The index: gram hashes and their positions, sorted by hash (2 x N uint64)."""
        np = _np()
        self._hash(final=True)
        key = np.concatenate(self._keys) if self._keys else np.zeros(0, dtype=np.uint64)
        start = np.concatenate(self._starts) if self._starts else np.zeros(0, dtype=np.uint64)
        self._keys, self._starts = [], []
        order = np.argsort(key, kind="stable")  # stable: one hash's positions stay in order
        table = np.empty((2, len(key)), dtype=np.uint64)
        np.take(key, order, out=table[0])
        del key
        np.take(start, order, out=table[1])
        return table


def build_table(text: str, step: int = STEP) -> Any:
    """The index of a text: gram hashes and their positions, sorted by hash (2 x N uint64)."""
    builder = TableBuilder(step)
    builder.add(text)
    return builder.finish()


def _common_prefix(a: str, a_pos: int, b: Text, b_pos: int, limit: int) -> int:
    """Length of the common run of ``a[a_pos:]`` and ``b[b_pos:]``, at most ``limit``."""
    lo, hi = 0, min(limit, len(a) - a_pos, len(b) - b_pos)
    while lo < hi:
        mid = (lo + hi + 1) // 2
        if b.startswith(a[a_pos : a_pos + mid], b_pos):
            lo = mid
        else:
            hi = mid - 1
    return lo


def _common_suffix(a: str, a_end: int, b: Text, b_end: int, limit: int) -> int:
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
    """Places of the text that helpers handed to model code, in the order the code read
    them. Small ones (a grep line, a search passage, a slice) say exactly which copy of a
    repeated text was read; big ones (a whole document, every chunk) only narrow it down,
    so they are kept apart and merged."""

    def __init__(self, pieces: list[tuple[int, int]] = ()) -> None:  # type: ignore[assignment]
        self.exact: list[tuple[int, int]] = []  # in the order they were read
        self.starts: list[int] = []  # the big ones, merged
        self.ends: list[int] = []
        self.add(pieces)

    def add(self, pieces: list[tuple[int, int]]) -> None:
        """Add handed-out ranges, in the order the code read them."""
        if not pieces:
            return
        small = [p for p in pieces if p[1] - p[0] <= _EXACT_CHARS]
        self.exact = (self.exact + small)[-_EXACT_KEPT:]
        big = [p for p in pieces if p[1] - p[0] > _EXACT_CHARS]
        if not big:
            return
        merged: list[tuple[int, int]] = []
        for start, end in sorted([*zip(self.starts, self.ends, strict=True), *big]):
            if merged and start <= merged[-1][1]:
                merged[-1] = (merged[-1][0], max(merged[-1][1], end))
            else:
                merged.append((start, end))
        self.starts = [s for s, _ in merged]
        self.ends = [e for _, e in merged]

    def within_big(self, places: Any, length: int) -> Any:
        """Which of ``places`` (starts of ``length`` characters) lie inside one big range."""
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

    def holding(self, places: Any, length: int) -> tuple[list[tuple[int, int]], Any]:
        """Which copies the small pieces point at: (piece's index in reading order, place)
        for each piece that holds exactly one of ``places`` (sorted starts of ``length``
        characters), and a mask of the places inside a piece that holds several."""
        np = _np()
        places = np.asarray(places, dtype=np.int64)
        inside = np.zeros(len(places), dtype=bool)
        if not self.exact or not len(places):
            return [], inside
        pieces = np.asarray(self.exact, dtype=np.int64)
        first = np.searchsorted(places, pieces[:, 0], side="left")
        past = np.searchsorted(places, pieces[:, 1] - length, side="right")
        held = past - first
        one = np.flatnonzero(held == 1)
        for i in np.flatnonzero(held > 1).tolist():
            inside[first[i] : past[i]] = True
        return [(int(i), int(places[first[i]])) for i in one], inside

    def beginning(self, places: list[int]) -> list[int]:
        """Those of ``places`` where a small piece begins (code printing ``passage.text[:400]``
        or ``chunk[:2000]`` prints from a piece's start)."""
        starts = {start for start, _ in self.exact}
        return [p for p in places if p in starts]

    def __bool__(self) -> bool:
        return bool(self.exact or self.starts)


class GramIndex:
    """The k-gram index of a text, loaded from its snapshot file or built in memory."""

    def __init__(self, text: Text, table_file: str | None = None, step: int = STEP) -> None:
        np = _np()
        self.text = text
        self.step = step
        self.min_run = K + step - 1  # any verbatim run this long holds an indexed gram
        table = None
        if table_file is not None:
            try:
                # Shared pages, not a copy; seen as a plain array (numpy.memmap's own
                # machinery costs ten times a lookup's time on every call).
                table = np.load(table_file, mmap_mode="r").view(np.ndarray)
            except (OSError, ValueError):
                table = None
        if table is None or table.ndim != 2 or table.shape[0] != 2:
            builder = TableBuilder(step)
            for pos in range(0, len(text), 4 * _BLOCK):
                builder.add(text[pos : pos + 4 * _BLOCK])
            table = builder.finish()
        self._keys, self._starts = table[0], table[1]
        self._copies_of: dict[str, list[int] | None] = {}  # per output being traced

    # -------------------------------------------------------------- one piece

    def find(self, piece: str) -> tuple[int, int] | None:
        """Return ``(start, end)`` of the first occurrence of ``piece`` in the text, or None."""
        if not piece:
            return None
        if len(piece) >= self.min_run:
            np = _np()
            # Every copy of the piece's head has an indexed gram in each class of offsets
            # (mod step); the rarest gram of each class lists that class's copies.
            head = piece[: max(_FIND_HEAD, self.min_run)]
            hashes = _hashes(_codes(head), 1)
            lo = np.searchsorted(self._keys, hashes, side="left")
            count = np.searchsorted(self._keys, hashes, side="right") - lo
            copies = self._list_copies(head, 0, len(head), lo, count)
            if copies is not None:  # else: too common, scan the text instead
                found = [c for c in copies if self.text.startswith(piece, c)]
                return (found[0], found[0] + len(piece)) if found else None
        start = self.text.find(piece)
        return None if start == -1 else (start, start + len(piece))

    def _copies(self, output: str, a: int, b: int, lo: Any, count: Any) -> list[int] | None:
        key = output[a:b]
        if key not in self._copies_of:
            self._copies_of[key] = self._list_copies(output, a, b, lo, count)
        return self._copies_of[key]

    def _list_copies(self, output: str, a: int, b: int, lo: Any, count: Any) -> list[int] | None:
        """Every place of the text that holds ``output[a:b]`` (at least ``min_run`` long), sorted;
        None when it is too common to list. Each copy has an indexed gram at some offset of
        the run; per offset class (mod STEP) the rarest gram lists all copies of that class."""
        np = _np()
        piece = output[a:b]
        offsets = np.arange(a, b - K + 1)
        counts = count[offsets]
        found: set[int] = set()
        budget = _COPIES_CHECKED
        for residue in range(self.step):
            cls = offsets[residue :: self.step]
            if not len(cls):
                continue
            rarest = int(cls[int(np.argmin(counts[residue :: self.step]))])
            n = int(count[rarest])
            if n == 0:
                continue  # no copy sits at this alignment
            budget -= n
            if budget < 0:
                return None
            shift = rarest - a
            for pos in self._starts[int(lo[rarest]) : int(lo[rarest]) + n].tolist():
                start = pos - shift
                if start >= 0 and self.text.startswith(piece, start):
                    found.add(start)
        return sorted(found)

    # -------------------------------------------------------------- a whole output

    def runs(self, output: str, hints: Hints | None = None, min_chars: int = 40) -> list[Run]:
        """The maximal verbatim runs of ``output`` (at least ``min_chars`` long; pieces that
        helpers handed out may be shorter), each with where in the text it comes from."""
        min_chars = max(min_chars, self.min_run)
        hints = hints or Hints()
        if len(output) < _SHORT_HINT:
            return []
        np = _np()
        hashes = _hashes(_codes(output), 1)
        lo = np.searchsorted(self._keys, hashes, side="left")
        count = np.searchsorted(self._keys, hashes, side="right") - lo
        covered = np.zeros(len(output) + 1, dtype=bool)
        self._copies_of = {}
        spans: list[tuple[int, int, int]] = []  # (output start, output end, one text start)
        # Longest first: the longest match of a stretch of output is the one it was printed
        # from; what it leaves uncovered is matched by the next longest.
        for found in sorted(self._rare_runs(output, lo, count, min_chars), key=_longest):
            spans.extend(self._clip(found, covered, min_chars))
        spans.extend(self._frequent_runs(output, lo, count, covered, min_chars, hints))
        runs = self._place(output, [_trim(output, *span) for span in spans], lo, count, hints)
        runs.extend(self._short_hints(output, covered, hints))
        return sorted(runs, key=lambda r: r.out_start)

    def _extend(self, output: str, out_pos: int, text_pos: int) -> tuple[int, int, int]:
        """Grow a match at (``out_pos``, ``text_pos``): (output start, output end, text start)."""
        back = _common_suffix(output, out_pos, self.text, text_pos, out_pos)
        ahead = _common_prefix(output, out_pos, self.text, text_pos, len(output) - out_pos)
        return out_pos - back, out_pos + ahead, text_pos - back

    def _promising(self, output: str, out_pos: int, text_pos: int) -> bool:
        """A cheap test that a gram's match goes on at least ``_PROBE`` characters on one side
        (a run of ``min_run`` characters must): most coincidental matches of templated log lines
        fail it, and so never cost a full extension."""
        ahead = out_pos + K
        if ahead + _PROBE <= len(output) and self.text.startswith(
            output[ahead : ahead + _PROBE], text_pos + K
        ):
            return True
        return (
            out_pos >= _PROBE
            and text_pos >= _PROBE
            and self.text.startswith(output[out_pos - _PROBE : out_pos], text_pos - _PROBE)
        )

    def _rare_runs(
        self, output: str, lo: Any, count: Any, min_chars: int
    ) -> list[tuple[int, int, int]]:
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
        diagonal, out_pos = diagonal[order], out_pos[order]
        # The diagonals with the most seeds hold the longest runs: they are grown first, and
        # a seed inside a run already found is not grown again (another copy of that text is
        # listed later by _copies; a coincidence of templated lines is shorter anyway).
        first_of = np.r_[True, diagonal[1:] != diagonal[:-1]]
        group = np.cumsum(first_of) - 1
        seeds_on = np.bincount(group)[group]
        by_strength = np.lexsort((out_pos, diagonal, -seeds_on))
        found: set[tuple[int, int, int]] = set()
        covered = np.zeros(len(output) + 1, dtype=bool)
        for d, o in zip(diagonal[by_strength].tolist(), out_pos[by_strength].tolist(), strict=True):
            if covered[o] or not self._promising(output, o, o + d):
                continue  # inside a run found already, or a coincidence of a few characters
            start, end, text_start = self._extend(output, o, o + d)
            if end - start >= min_chars:
                found.add((start, end, text_start))
                covered[start:end] = True
        return list(found)

    def _frequent_runs(
        self, output: str, lo: Any, count: Any, covered: Any, min_chars: int, hints: Hints
    ) -> list[tuple[int, int, int]]:
        """Runs made only of frequent grams (repeated log lines): grown against a bounded
        number of places, handed-out ones first."""
        np = _np()
        candidates = np.nonzero((count > _RARE) & ~covered[: len(count)])[0]
        spans: list[tuple[int, int, int]] = []
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
            handed = places[hints.within_big(places, K)] if hints else places[:0]
            tried = [*handed[:8].tolist(), *places[:_TRIED].tolist()]
            best = (0, 0, 0)
            for p in tried:
                if self._promising(output, o, p):
                    start, end, text_start = self._extend(output, o, p)
                    if end - start > best[1] - best[0]:
                        best = (start, end, text_start)
            if best[1] - best[0] < min_chars:
                next_pos = o + STEP // 2  # any real run here is longer than this skip
                continue
            best = self._longer_copy(output, best, lo, count, hints)
            spans.extend(self._clip(best, covered, min_chars))
            next_pos = best[1]
        return spans

    def _longer_copy(
        self, output: str, run: tuple[int, int, int], lo: Any, count: Any, hints: Hints
    ) -> tuple[int, int, int]:
        """The longest match among all copies of a run found through a few of its places: a
        line sharing a long prefix with hundreds of others is matched in full, at its own
        copies, not cut short at one of the others."""
        a, b, _ = run
        copies = self._copies(output, a, b, lo, count)
        if not copies:
            return run
        length = b - a
        tail, head = output[b : b + _PROBE], output[max(0, a - _PROBE) : a]
        best = run
        if len(copies) > _LONGER_TRIED:  # handed-out copies first, then the first others
            handed = [p for _, p in hints.holding(copies, length)[0]]
            copies = [*handed, *copies[:_LONGER_TRIED]]
        for c in copies:
            goes_on = b < len(output) and self.text.startswith(tail, c + length)
            if goes_on or (a > 0 and c >= len(head) and self.text.startswith(head, c - len(head))):
                grown = self._extend(output, a, c)
                if grown[1] - grown[0] > best[1] - best[0]:
                    best = grown
        return best

    def _clip(
        self, run: tuple[int, int, int], covered: Any, min_chars: int
    ) -> list[tuple[int, int, int]]:
        """The parts of a run that no longer run covers (each long enough), marked covered."""
        np = _np()
        out_start, out_end, text_start = run
        free = ~covered[out_start:out_end]
        if not free.any():
            return []
        pieces = []
        edges = np.flatnonzero(np.diff(np.concatenate(([0], free.view(np.int8), [0]))))
        for a, b in zip(edges[::2].tolist(), edges[1::2].tolist(), strict=True):
            if b - a >= min_chars:
                pieces.append((out_start + a, out_start + b, text_start + a))
                covered[out_start + a : out_start + b] = True
        return pieces

    def _place(
        self, output: str, spans: list[tuple[int, int, int]], lo: Any, count: Any, hints: Hints
    ) -> list[Run]:
        """Where each run of the output was read: its one place; or, when the text is
        repeated in the library, the copies the code was handed — the latest ones, in the
        order it read them, as a loop prints what it reads — else every copy, said to be
        uncertain."""
        by_text: dict[str, list[tuple[int, int, int]]] = {}
        for span in spans:
            if span[1] - span[0] >= _SHORT_HINT:
                by_text.setdefault(output[span[0] : span[1]], []).append(span)
        runs: list[Run] = []
        for piece, group in by_text.items():
            a, b, _ = group[0]
            copies = self._copies(output, a, b, lo, count) if b - a >= self.min_run else None
            if copies is None and hints:  # too common to list: look in what was handed out
                copies = self._in_recent_pieces(piece, hints)
            if not copies:  # still unknown: the place it matched, said to be uncertain
                runs += [Run(x, y, (t,), 2) for x, y, t in group]
                continue
            if len(copies) == 1:
                runs += [Run(x, y, (copies[0],), 1) for x, y, _ in group]
                continue
            core = piece.strip()
            lead = len(piece) - len(piece.lstrip())
            held, narrowed = hints.holding([c + lead for c in copies], len(core))
            if held:
                latest = [place - lead for _, place in held[-len(group) :]]
                for i, (x, y, _) in enumerate(group):
                    runs.append(Run(x, y, (latest[min(i, len(latest) - 1)],), 1))
                continue
            chosen = copies
            if hints:
                inside = hints.within_big(copies, b - a) | narrowed
                if inside.any():
                    chosen = [c for c, ok in zip(copies, inside.tolist(), strict=True) if ok]
            first = hints.beginning([c + lead for c in chosen]) if hints else []
            if first:  # put it first: it is taken when no printed neighbour says otherwise
                chosen = [first[-1] - lead, *(c for c in chosen if c != first[-1] - lead)]
            prefix = bool(first)
            runs += [Run(x, y, tuple(chosen), len(chosen), prefix) for x, y, _ in group]
        return self._settle_blocks(_by_neighbours(sorted(runs, key=lambda r: r.out_start)))

    def _settle_blocks(self, runs: list[Run]) -> list[Run]:
        """Repeated runs printed one after another with no settled run among them (lines
        11 to 20 of a log of heartbeats, numbered or in a list's repr) are looked up as the
        one block of lines they were read as: the block is often found in one place when
        none of its lines is."""
        settled = list(runs)
        i = 0
        while i < len(settled):
            j = i
            while j < len(settled) and settled[j].occurrences > 1:
                j += 1
            if j - i >= 2:
                settled[i:j] = self._as_block(settled[i:j])
            i = j + 1
        return settled

    def _as_block(self, runs: list[Run]) -> list[Run]:
        np = _np()
        texts = [self.text[r.starts[0] : r.starts[0] + r.length] for r in runs]
        glue = ["" if t.endswith("\n") else "\n" for t in texts]
        block = "".join(t + g for t, g in zip(texts, glue, strict=True))
        block = block[: len(block) - len(glue[-1])]  # no newline is needed after the last
        if len(block) < self.min_run:
            return runs
        hashes = _hashes(_codes(block), 1)
        lo = np.searchsorted(self._keys, hashes, side="left")
        count = np.searchsorted(self._keys, hashes, side="right") - lo
        copies = self._list_copies(block, 0, len(block), lo, count)
        if not copies or len(copies) > 1:
            return runs
        placed, at = [], copies[0]
        for run, text, g in zip(runs, texts, glue, strict=True):
            placed.append(replace(run, starts=(at,), occurrences=1))
            at += len(text) + len(g)
        return placed

    def _in_recent_pieces(self, piece: str, hints: Hints) -> list[int] | None:
        """The copies of a very common text that lie in the most recently handed-out pieces."""
        core = piece.strip()
        lead = len(piece) - len(piece.lstrip())
        found = set()
        for start, end in hints.exact[-_SHORT_HINTS_TRIED:]:
            at = self.text.find(core, start, end)
            if at != -1 and self.text.startswith(piece, at - lead):
                found.add(at - lead)
        return sorted(found) or None

    def _short_hints(self, output: str, covered: Any, hints: Hints) -> list[Run]:
        """Handed-out pieces too short for the index (a short grep line) found verbatim in
        the output where nothing else explains it."""
        runs: list[Run] = []
        for start, end in reversed(hints.exact[-_SHORT_HINTS_TRIED:]):
            if not _SHORT_HINT <= end - start < max(_SHORT_PIECE, self.min_run):
                continue
            piece = self.text[start:end]
            at = output.find(piece)
            if at == -1 or covered[at : at + len(piece)].any():
                continue
            covered[at : at + len(piece)] = True
            runs.append(Run(at, at + len(piece), (start,), 1))
        return runs


def _by_neighbours(runs: list[Run]) -> list[Run]:
    """Settle repeated runs by what was printed around them: code that prints lines 1,783
    to 1,793 of a log prints them in order, so a line that also occurs 2,000 times elsewhere
    is the copy between the places of the lines printed before and after it. Runs are in
    output order; each settled one becomes a neighbour for the next."""
    settled: list[Run] = []
    for i, run in enumerate(runs):
        if run.occurrences == 1 or len(run.starts) < 2:
            settled.append(replace(run, starts=run.starts[:OCCURRENCES_CAP]))
            continue
        before = next((r for r in reversed(settled) if r.occurrences == 1), None)
        after = next((r for r in runs[i + 1 :] if r.occurrences == 1), None)
        starts = list(run.starts)  # sorted
        choice = None
        if before is not None:
            at = bisect.bisect_left(starts, before.starts[0] + before.length)
            if at < len(starts) and starts[at] - before.starts[0] <= _NEAR:
                choice = starts[at]
        elif after is not None:
            at = bisect.bisect_right(starts, after.starts[0] - run.length) - 1
            if at >= 0 and after.starts[0] - starts[at] <= _NEAR:
                choice = starts[at]
        if choice is None and run.begins_piece:
            choice = run.starts[0]
        if choice is not None and (after is None or choice < after.starts[0]):
            settled.append(replace(run, starts=(choice,), occurrences=1))
        else:
            settled.append(replace(run, starts=run.starts[:OCCURRENCES_CAP]))
    return settled


def _longest(run: tuple[int, int, int]) -> tuple[int, int]:
    return (run[0] - run[1], run[0])


def _trim(output: str, a: int, b: int, text_start: int) -> tuple[int, int, int]:
    """A run without what only happens to match around it: whitespace before it (a
    newline, print's separator), and a few characters of a line that it ran into where the
    output goes on differently ("…duplex\n2" of "23. …duplex\n24. …")."""
    piece = output[a:b]
    cut = len(piece) - len(piece.lstrip())
    if a > 0:
        newline = piece.find("\n", cut, cut + _EDGE)
        if newline != -1 and newline < len(piece) - 1:
            cut = newline + 1
    end = len(piece)
    if b < len(output):
        newline = piece.rfind("\n", max(cut, end - _EDGE))
        if newline != -1 and newline < end - 1:
            end = newline + 1
    return a + cut, a + end, text_start + cut
