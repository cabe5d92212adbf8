"""Questions over real logs, answered from their structured ground truth (a CSV in loghub's
format: ``LineId``, time columns, optional ``Level`` and ``Component``, ``Content``,
``EventTemplate``), so anyone can point the bench at their own log and its truth.

- ``log-count``: how many lines have a level (or, without levels, an event template);
- ``log-first``: when an event first happened;
- ``log-nearby``: which components logged within a minute of the first line of a level;
- ``log-pairs``: every pair of components that logged lines within a minute of each other.

A task at a length shorter than the log uses a window of consecutive lines (the truth is
computed on the window's rows); a longer one adds the other logs, then generated service logs,
as further documents: the question always names the log it is about.
"""

from __future__ import annotations

import csv
import random
import re
from dataclasses import dataclass
from itertools import accumulate
from pathlib import Path

from rlm_desktop.bench.scoring import ExactNumber, ListF1, PairF1, TimeOfDay, pair
from rlm_desktop.bench.tasks import Generator, Task
from rlm_desktop.paths import resources_dir, samples_dir

KINDS = ("log-count", "log-first", "log-nearby", "log-pairs")
_CLOCK = re.compile(r"(\d{2}):?(\d{2}):?(\d{2})")
_DATE_COLUMNS = ("Year", "Month", "Date", "Day")
_NOT_FIELDS = ("LineId", "EventId", "EventTemplate")
_NEAR_SECONDS = 60
_ATTEMPTS = 40  # windows tried before a question is declared impossible at this length


class TaskUnavailable(ValueError):
    """This log cannot ask this question (no levels, no components, nothing in the window)."""


@dataclass(frozen=True)
class LogSource:
    """A log file's lines and their structured rows (row ``i`` describes line ``i``)."""

    name: str
    lines: list[str]
    rows: list[dict[str, str]]
    pattern: str  # a regular expression with a named group per column, for a line

    @classmethod
    def load(cls, log: Path, truth: Path) -> LogSource:
        """Read a log and its truth CSV; raise ValueError when they do not match line by line."""
        lines = log.read_text(encoding="utf-8", errors="replace").splitlines()
        with open(truth, encoding="utf-8-sig", newline="") as handle:
            rows = list(csv.DictReader(handle))
        if not rows or "Content" not in rows[0] or "EventTemplate" not in rows[0]:
            raise ValueError(
                f"{truth.name} needs the columns of a loghub structured CSV: LineId, the "
                "time columns, Content and EventTemplate (Level and Component if the log has them)"
            )
        if len(rows) != len(lines):
            raise ValueError(f"{truth.name} has {len(rows):,} rows for {len(lines):,} log lines")
        pattern = infer_pattern(lines[0], rows[0])
        check = re.compile(pattern)
        for number, (line, row) in enumerate(zip(lines, rows, strict=True), 1):
            match = check.match(line)
            if match is None or match["Content"].strip() != row["Content"].strip():
                raise ValueError(
                    f"line {number} of {log.name} does not agree with row {number} of "
                    f"{truth.name}: is the CSV the structured form of this log?"
                )
        return cls(log.name, lines, rows, pattern)

    def has(self, column: str, distinct: int = 1) -> bool:
        """Whether the rows have this column with at least ``distinct`` values."""
        return column in self.rows[0] and len({r[column] for r in self.rows}) >= distinct

    @property
    def text(self) -> str:
        """The whole log."""
        return "\n".join(self.lines) + "\n"


def infer_pattern(line: str, row: dict[str, str]) -> str:
    """A regular expression for the log's lines, learnt from its first line and row: the
    columns appear in CSV order, the text between them is kept, ``Content`` ends the line."""
    fields = [c for c in row if c not in _NOT_FIELDS and c != "Content" and row[c]]
    parts, at = ["^"], 0
    for column in fields:
        found = line.find(row[column], at)
        if found < 0:
            raise ValueError(f"the first log line does not hold its {column} {row[column]!r}")
        parts += [_literal(line[at:found]), f"(?P<{_group(column)}>.*?)"]
        at = found + len(row[column])
    content = line.find(row["Content"].strip(), at)
    if content < 0:
        raise ValueError("the first log line does not hold its Content")
    parts += [_literal(line[at:content]), "(?P<Content>.*)$"]
    return "".join(parts)


def _literal(text: str) -> str:
    """The text between two fields, any run of spaces matching any other."""
    if not text:
        return ""
    middle = r"\s+".join(re.escape(piece) for piece in text.split())
    before = r"\s+" if text[0].isspace() else ""
    after = r"\s+" if text[-1].isspace() and middle else ""
    return before + middle + after


def _group(column: str) -> str:
    return re.sub(r"\W", "_", column)


def bundled_sources() -> list[LogSource]:
    """The loghub samples shipped with the app, each with its structured truth."""
    bench = resources_dir() / "bench"
    return [
        LogSource.load(samples_dir() / "OpenSSH_2k.log", bench / "OpenSSH_2k.log_structured.csv"),
        LogSource.load(samples_dir() / "Apache_2k.log", bench / "Apache_2k.log_structured.csv"),
        LogSource.load(bench / "HDFS_2k.log", bench / "HDFS_2k.log_structured.csv"),
    ]


# ---------------------------------------------------------------------- time from the rows


def clock(row: dict[str, str]) -> tuple[str, int, str]:
    """(hh:mm:ss, seconds into the day, the time as the log writes it) of a row."""
    written = row.get("Time", "")
    found = _CLOCK.search(written)
    if found is None:
        raise TaskUnavailable("the truth CSV has no Time column with hh:mm:ss")
    h, m, s = (int(g) for g in found.groups())
    return f"{h:02d}:{m:02d}:{s:02d}", h * 3600 + m * 60 + s, written


def seconds(rows: list[dict[str, str]]) -> list[int]:
    """Seconds since the first day of the rows, days numbered in order of appearance (a
    log is written in time order, so no calendar is needed to tell one day from the next)."""
    days: dict[tuple[str, ...], int] = {}
    result = []
    for row in rows:
        day = (*(row.get(c, "") for c in _DATE_COLUMNS), _CLOCK.sub("", row["Time"]))
        days.setdefault(day, len(days))
        result.append(days[day] * 86_400 + clock(row)[1])
    return result


def near_pairs(rows: list[dict[str, str]]) -> set[tuple[str, str]]:
    """Pairs of components (as written, in sorted order) with lines at most a minute apart."""
    times = seconds(rows)
    order = sorted(range(len(rows)), key=times.__getitem__)
    found = set()
    for i, first in enumerate(order):
        for second in order[i + 1 :]:
            if times[second] - times[first] > _NEAR_SECONDS:
                break
            a, b = rows[first]["Component"], rows[second]["Component"]
            if a != b:
                found.add((min(a, b), max(a, b)))
    return found


# ---------------------------------------------------------------------- questions


def _count(source: LogSource, rows: list[dict[str, str]], rng: random.Random) -> dict:
    levels = sorted({r["Level"] for r in rows}) if source.has("Level") else []
    if len(levels) >= 2:
        level = rng.choice(levels)
        count = sum(r["Level"] == level for r in rows)
        return {
            "question": f"In {source.name}, how many lines have the level {level}?",
            "answer": str(count),
            "scorer": ExactNumber(count),
            "facts": {"column": "Level", "value": level},
        }
    templates = sorted({r["EventTemplate"] for r in rows})
    repeated = [t for t in templates if sum(r["EventTemplate"] == t for r in rows) >= 2]
    template = rng.choice(repeated or templates)
    count = sum(r["EventTemplate"] == template for r in rows)
    return {
        "question": f"In {source.name}, how many lines are of the form '{template}' "
        "(<*> stands for any value)?",
        "answer": str(count),
        "scorer": ExactNumber(count),
        "facts": {"column": "EventTemplate", "value": template},
    }


def _first(source: LogSource, rows: list[dict[str, str]], rng: random.Random) -> dict:
    firsts: dict[str, int] = {}
    for i, row in enumerate(rows):
        firsts.setdefault(row["EventTemplate"], i)
    later = sorted(t for t, i in firsts.items() if i > 0)  # not simply the first line
    template = rng.choice(later or sorted(firsts))
    hms, _, written = clock(rows[firsts[template]])
    return {
        "question": f"In {source.name}, at what time of day did a line of the form "
        f"'{template}' (<*> stands for any value) first appear? Answer with the time as "
        "hh:mm:ss.",
        "answer": hms,
        "scorer": TimeOfDay(hms, "" if ":" in written else written),
        "facts": {"value": template, "line": firsts[template]},
    }


def _nearby(source: LogSource, rows: list[dict[str, str]], rng: random.Random) -> dict:
    _need_components(source, rows)
    times = seconds(rows)
    components = frozenset(r["Component"] for r in rows)
    levels = sorted({r["Level"] for r in rows}) if source.has("Level") else []
    anchors = [("Level", v) for v in levels] + [
        ("EventTemplate", t) for t in sorted({r["EventTemplate"] for r in rows})
    ]
    rng.shuffle(anchors)
    for column, value in anchors:
        at = next(i for i, r in enumerate(rows) if r[column] == value)
        near = frozenset(
            r["Component"]
            for i, r in enumerate(rows)
            if i != at and abs(times[i] - times[at]) <= _NEAR_SECONDS
        )
        if near and near != components:
            what = (
                f"the first line of level {value}"
                if column == "Level"
                else f"the first line of the form '{value}' (<*> stands for any value)"
            )
            return {
                "question": f"In {source.name}, which components logged a line within one "
                f"minute (before or after) of {what}? List the component names.",
                "answer": ", ".join(sorted(near)),
                "scorer": ListF1(near, components),
                "facts": {"column": column, "value": value, "line": at},
            }
    raise TaskUnavailable("no line has other components within a minute of it")


def _pairs(source: LogSource, rows: list[dict[str, str]], rng: random.Random) -> dict:
    _need_components(source, rows)
    found = near_pairs(rows)
    if not found:
        raise TaskUnavailable("no two components logged within a minute of each other")
    return {
        "question": f"In {source.name}, list every pair of components (as (A, B)) that "
        "logged lines within one minute of each other.",
        "answer": ", ".join(f"({a}, {b})" for a, b in sorted(found)),
        "scorer": PairF1(frozenset(pair(a, b) for a, b in found)),
        "facts": {},
    }


def _need_components(source: LogSource, rows: list[dict[str, str]]) -> None:
    if not source.has("Component") or len({r["Component"] for r in rows}) < 3:
        raise TaskUnavailable(f"{source.name} has too few components here")


_QUESTIONS = {"log-count": _count, "log-first": _first, "log-nearby": _nearby, "log-pairs": _pairs}


# ---------------------------------------------------------------------- documents


def _window(source: LogSource, chars: int, rng: random.Random) -> tuple[int, int]:
    """Lines [start, end) adding up to about ``chars`` characters (all of them if fewer)."""
    ends = list(accumulate(len(line) + 1 for line in source.lines))
    if chars >= ends[-1]:
        return 0, len(source.lines)
    last_start = next(i for i in range(len(ends)) if ends[-1] - (ends[i - 1] if i else 0) < chars)
    start = rng.randrange(max(1, last_start))
    before = ends[start - 1] if start else 0
    end = next((i + 1 for i in range(start, len(ends)) if ends[i] - before >= chars), len(ends))
    return start, end


_SERVICES = ("billing", "search", "mailer", "scheduler", "gateway", "inventory")
_EVENTS = (
    "request {n} served in {ms} ms",
    "cache miss for key item-{n}",
    "retrying job {n} after timeout",
    "connection pool at {ms} of 500",
    "user {n} signed in",
)


def padding_log(rng: random.Random, chars: int) -> str:
    """A generated service log of about ``chars`` characters (not a question's subject)."""
    lines, size, second = [], 0, rng.randrange(86_400)
    while size < chars:
        second += rng.randrange(1, 30)
        stamp = f"2026-03-{1 + second // 86_400 % 28:02d} {second // 3600 % 24:02d}:"
        stamp += f"{second // 60 % 60:02d}:{second % 60:02d}"
        level = rng.choice(("INFO", "INFO", "INFO", "WARN", "ERROR"))
        event = rng.choice(_EVENTS).format(n=rng.randrange(10_000), ms=rng.randrange(1, 900))
        lines.append(f"{stamp} {level} {rng.choice(_SERVICES)}: {event}")
        size += len(lines[-1]) + 1
    return "\n".join(lines) + "\n"


def _padding(sources: list[LogSource], target: LogSource, chars: int, rng: random.Random):
    documents: list[tuple[str, str]] = []
    size = 0
    for other in sources:
        if other is not target and len(other.text) <= chars - size:
            documents.append((other.name, other.text))
            size += len(other.text)
    while size < chars:
        text = padding_log(rng, min(1 << 20, chars - size))
        documents.append((f"service-{len(documents):03d}.log", text))
        size += len(text)
    return documents


def log_task(kind: str, sources: list[LogSource], seed: int, chars: int) -> Task:
    """A ``kind`` question on one of ``sources`` (chosen by the seed), about ``chars`` long."""
    rng = random.Random(seed)
    ask = _QUESTIONS[kind]
    usable = [s for s in sources if kind in ("log-count", "log-first") or s.has("Component", 3)]
    if not usable:
        raise TaskUnavailable(f"{kind} needs a log with a Component column")
    source = rng.choice(usable)
    for _ in range(_ATTEMPTS):
        start, end = _window(source, chars, rng)
        try:
            asked = ask(source, source.rows[start:end], rng)
        except TaskUnavailable:
            if (start, end) == (0, len(source.lines)):
                raise
            continue
        break
    else:
        raise TaskUnavailable(f"no window of {source.name} this short can ask {kind}")
    text = "\n".join(source.lines[start:end]) + "\n"
    documents = [(source.name, text)]
    documents += _padding(sources, source, chars - len(text), rng)
    facts = {"log": source.name, "pattern": source.pattern, "lines": (start + 1, end)}
    return Task(
        kind,
        seed,
        documents,
        asked["question"],
        asked["answer"],
        asked["scorer"],
        [source.name],
        {**facts, **asked["facts"]},
    )


def log_generators(sources: list[LogSource]) -> dict[str, Generator]:
    """A generator per log question kind, over these logs."""

    def generator(kind: str) -> Generator:
        return lambda seed, chars: log_task(kind, sources, seed, chars)

    return {kind: generator(kind) for kind in KINDS}
