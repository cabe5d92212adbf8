"""How the quality bench scores an answer, per task type: exact numbers and names after
normalisation (never a substring), set precision/recall/F1 for lists, pair precision/recall
for pair tasks (as OOLONG-Pairs scores them), an exact needle, and citation precision.

Every scorer reads the answer the way a careful grader would: citation marks (``[1]``) are
removed first; a number is a whole number ("1234567" does not contain 34; "1,234" is 1234;
"basalt-704" is a name, not 704); a name counts as a whole word; an answer that hedges
between the right candidate and another one is wrong.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Protocol

_CITATION_MARK = re.compile(r"\[\d+\]")
# A whole number: not part of a longer number, an identifier (basalt-704), a decimal or a time.
_NUMBER = re.compile(r"(?<![\w.:/-])(-?\d{1,3}(?:,\d{3})+|-?\d+)(?![\w:/]|[.,]\d|-\d)")
_UNITS = "zero one two three four five six seven eight nine".split()  # noqa: SIM905
_TEENS = (
    "ten eleven twelve thirteen fourteen fifteen sixteen seventeen eighteen nineteen".split()  # noqa: SIM905
)
_TENS = "twenty thirty forty fifty sixty seventy eighty ninety".split()  # noqa: SIM905
_WORD_NUMBER = re.compile(
    rf"(?<![\w-])(?:({'|'.join(_TENS)})(?:[- ]({'|'.join(_UNITS[1:])}))?"
    rf"|({'|'.join(_TEENS + _UNITS)}))(?![\w-])",
    re.I,
)
_TIME = re.compile(r"(?<![\d:])(\d{1,2}):(\d{2}):(\d{2})(?!:?\d)")
_PAIR = re.compile(r"\(\s*([^(),]+?)\s*,\s*([^(),]+?)\s*\)")
_ARTICLES = re.compile(r"\b(a|an|the)\b")


@dataclass(frozen=True)
class Score:
    """A score in [0, 1], with precision and recall where the scorer has them, and what it
    read from the answer (shown in the report beside the expected answer)."""

    value: float
    precision: float | None = None
    recall: float | None = None
    read: str = ""


class Scorer(Protocol):
    """Scores an answer against one task's ground truth; ``name`` says how."""

    @property
    def name(self) -> str:
        """How it scores, in a few words."""
        ...

    def __call__(self, answer: str) -> Score: ...


def clean(answer: str) -> str:
    """The answer without its citation marks."""
    return _CITATION_MARK.sub(" ", answer)


def normalise(text: str) -> str:
    """Lower case, accents and punctuation off, articles dropped, spaces collapsed."""
    text = unicodedata.normalize("NFKD", text)
    text = "".join(c for c in text if not unicodedata.combining(c)).lower()
    text = re.sub(r"[^\w\s]", " ", text)
    return " ".join(_ARTICLES.sub(" ", text).split())


def numbers(answer: str) -> list[int]:
    """The whole numbers an answer states, in order (digits, or words below a hundred)."""
    text = clean(answer)
    found = [(m.start(), int(m.group(1).replace(",", ""))) for m in _NUMBER.finditer(text)]
    found += [(m.start(), _word_number(m)) for m in _WORD_NUMBER.finditer(text)]
    return [value for _, value in sorted(found)]


def _word_number(match: re.Match[str]) -> int:
    """The value of "seven", "seventeen" or "seventy-seven"."""
    tens, unit, small = (g.lower() if g else "" for g in match.groups())
    if small:
        return (_UNITS + _TEENS).index(small)
    return 10 * (2 + _TENS.index(tens)) + (_UNITS.index(unit) if unit else 0)


def _contains_words(text: str, phrase: str) -> bool:
    """Whether ``phrase`` occurs in ``text`` as whole words (both normalised)."""
    phrase = normalise(phrase)
    return bool(phrase) and re.search(rf"(?<!\w){re.escape(phrase)}(?!\w)", text) is not None


def _f1(precision: float, recall: float) -> float:
    return 2 * precision * recall / (precision + recall) if precision + recall else 0.0


@dataclass(frozen=True)
class ExactNumber:
    """The first number the answer states must equal the expected count. With ``partial``
    (OOLONG's rule for counts), an answer ``e`` off scores 0.75 ** e instead of 0."""

    expected: int
    partial: bool = False

    @property
    def name(self) -> str:
        """How it scores."""
        return "number, 0.75^|error|" if self.partial else "exact number"

    def __call__(self, answer: str) -> Score:
        stated = numbers(answer)
        if not stated:
            return Score(0.0, read="no number")
        error = abs(stated[0] - self.expected)
        value = 0.75**error if self.partial else float(error == 0)
        return Score(value, read=str(stated[0]))


@dataclass(frozen=True)
class Needle:
    """The needle's number must be stated, whole, and no decoy number with it."""

    expected: str
    decoys: tuple[str, ...] = ()
    name: str = "needle, exact match"

    def __call__(self, answer: str) -> Score:
        stated = {str(n) for n in numbers(answer)}
        decoys = stated & set(self.decoys)
        if self.expected in stated and not decoys:
            return Score(1.0, read=self.expected)
        return Score(0.0, read=", ".join(sorted(decoys or stated)) or "no number")


@dataclass(frozen=True)
class ExactName:
    """The expected name, as whole words, and no other candidate name beside it."""

    expected: str
    candidates: tuple[str, ...] = ()
    name: str = "exact name"

    def __call__(self, answer: str) -> Score:
        text = normalise(clean(answer))
        named = [c for c in {self.expected, *self.candidates} if _contains_words(text, c)]
        if named == [self.expected]:
            return Score(1.0, read=self.expected)
        return Score(0.0, read=", ".join(sorted(named)) or "no candidate named")


@dataclass(frozen=True)
class TimeOfDay:
    """The first time of day the answer states (hh:mm:ss, or the log's own way of writing it,
    as a whole token) must be the expected one."""

    expected: str  # hh:mm:ss
    written: str = ""  # as the log writes it, when that is not hh:mm:ss (HDFS: 203615)
    name: str = "exact time"

    def __call__(self, answer: str) -> Score:
        text = clean(answer)
        want = tuple(int(p) for p in self.expected.split(":"))
        places = [(m.start(), tuple(int(g) for g in m.groups())) for m in _TIME.finditer(text)]
        if self.written:
            token = re.compile(rf"(?<![\w:]){re.escape(self.written)}(?![\w:])")
            places += [(m.start(), want) for m in token.finditer(text)]
        if not places:
            return Score(0.0, read="no time")
        first = min(places)[1]
        return Score(float(first == want), read=":".join(f"{p:02d}" for p in first))


@dataclass(frozen=True)
class ListF1:
    """Set precision, recall and F1 of the items named, out of the items the task knows
    (``universe``: every name of that kind in the documents). An item counts once however
    often it is named, in any order; it must be named whole (``dfs.DataNode`` is not named by
    ``dfs.DataNode$PacketResponder``)."""

    expected: frozenset[str]
    universe: frozenset[str]
    name: str = "list F1"

    def __call__(self, answer: str) -> Score:
        text = clean(answer)
        named = {item for item in self.universe | self.expected if _names_item(text, item)}
        return _set_score(named, set(self.expected), ", ".join(sorted(named)))


def _names_item(text: str, item: str) -> bool:
    # Identifiers hold dots, dollars and dashes: a neighbour of those is part of a longer one.
    pattern = rf"(?<![\w.$-]){re.escape(item)}(?![\w$-]|\.\w)"
    return re.search(pattern, text, re.I) is not None


@dataclass(frozen=True)
class PairF1:
    """Pair precision, recall and F1 as OOLONG-Pairs scores them: pairs are unordered, a
    pair named twice (or reversed) counts once, a pair of an item with itself is no pair."""

    expected: frozenset[tuple[str, str]]
    name: str = "pair F1"

    def __call__(self, answer: str) -> Score:
        named = pairs_in(answer)
        return _set_score(named, set(self.expected), f"{len(named)} pairs")


def pair(a: str, b: str) -> tuple[str, str]:
    """An unordered pair, as the scorer keeps it (quotes and case off)."""
    first, second = sorted(x.strip().strip("'\"`").lower() for x in (a, b))
    return first, second


def pairs_in(answer: str) -> set[tuple[str, str]]:
    """The distinct unordered pairs ``(a, b)`` an answer names, self-pairs left out."""
    found = {pair(a, b) for a, b in _PAIR.findall(clean(answer))}
    return {p for p in found if p[0] != p[1]}


def _set_score(named: set, expected: set, read: str) -> Score:
    if not named and not expected:
        return Score(1.0, 1.0, 1.0, read or "none")
    hits = len(named & expected)
    precision = hits / len(named) if named else 0.0
    recall = hits / len(expected) if expected else 0.0
    return Score(_f1(precision, recall), precision, recall, read or "none")


def citation_precision(statuses: Iterable[str]) -> float | None:
    """The share of an answer's citations that quote text the run read (None: no citations)."""
    statuses = list(statuses)
    return sum(s == "read" for s in statuses) / len(statuses) if statuses else None
