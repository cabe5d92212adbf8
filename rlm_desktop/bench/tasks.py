"""Long-context tasks with known answers, generated from a seed: needle, aggregation, pairs,
multi-hop, and questions over a real log with its structured ground truth."""

from __future__ import annotations

import csv
import random
import re
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from itertools import combinations

from rlm_desktop.paths import resources_dir

CHARS_PER_TOKEN = 4
KINDS = ("needle", "aggregation", "pairs", "multihop", "logs")

_FILLER = (
    "the committee reviewed the quarterly figures before lunch",
    "a light rain fell over the harbour while the ferries waited",
    "engineers replaced the worn bearings on the second conveyor",
    "the archive kept every ledger since the founding of the town",
    "visitors queued outside the museum long before it opened",
    "the orchestra rehearsed the final movement twice that evening",
)
LABELS = ("location", "person", "number", "entity", "description", "abbreviation")
_INSTANCES = {
    "location": ["Where is the nearest {w} station?", "In which city was the {w} treaty signed?"],
    "person": ["Who painted the {w} portrait?", "Who founded the {w} company?"],
    "number": ["How many {w} are in a dozen boxes?", "What year did the {w} bridge open?"],
    "entity": ["Which animal is on the {w} flag?", "What instrument plays the {w} theme?"],
    "description": ["Why do {w} leaves change colour?", "What does the {w} ritual mean?"],
    "abbreviation": ["What does {W} stand for?", "What is the full form of {W}?"],
}
_WORDS = (
    "amber",
    "basalt",
    "cedar",
    "delta",
    "ember",
    "fjord",
    "garnet",
    "harbor",
    "iris",
    "juniper",
    "kestrel",
    "lagoon",
    "meadow",
    "nimbus",
    "onyx",
    "prairie",
)


@dataclass
class Task:
    """One question over generated documents, with its answer and how to score a reply."""

    kind: str
    seed: int
    tokens: int
    documents: list[tuple[str, str]]  # (file name, text)
    question: str
    answer: str
    score: Callable[[str], float] = field(repr=False)
    gold_documents: list[str] = field(default_factory=list)
    facts: dict = field(default_factory=dict)  # ground truth details, for tests and reports


def _filler(rng: random.Random, chars: int) -> list[str]:
    sentences, size = [], 0
    while size < chars:
        sentence = rng.choice(_FILLER).capitalize() + "."
        sentences.append(sentence)
        size += len(sentence) + 1
    return sentences


def score_exact(expected: str) -> Callable[[str], float]:
    """1 when the reply contains the expected answer (case-insensitive), else 0."""
    return lambda reply: float(expected.lower() in reply.lower())


def score_number(expected: int) -> Callable[[str], float]:
    """0.75 ** |error| of the first number in the reply (0 when there is none)."""

    def score(reply: str) -> float:
        found = re.search(r"-?\d+", reply.replace(",", ""))
        return 0.75 ** abs(int(found.group()) - expected) if found else 0.0

    return score


def score_pairs(expected: set[tuple[str, str]]) -> Callable[[str], float]:
    """F1 of the (user, user) pairs named in the reply against the expected pairs."""

    def score(reply: str) -> float:
        found = {tuple(sorted(p)) for p in re.findall(r"\(?\s*(\d+)\s*,\s*(\d+)\s*\)?", reply)}
        if not expected and not found:
            return 1.0
        hits = len(found & expected)
        if not hits:
            return 0.0
        precision, recall = hits / len(found), hits / len(expected)
        return 2 * precision * recall / (precision + recall)

    return score


def needle(seed: int, tokens: int) -> Task:
    """A "special magic number" hidden at a random depth of filler, with decoys for other keys."""
    rng = random.Random(seed)
    sentences = _filler(rng, tokens * CHARS_PER_TOKEN)
    key = f"{rng.choice(_WORDS)}-{rng.randrange(100, 999)}"
    number = str(rng.randrange(1_000_000, 9_999_999))
    for _ in range(3):
        decoy = f"{rng.choice(_WORDS)}-{rng.randrange(100, 999)}"
        if decoy != key:
            sentences.insert(
                rng.randrange(len(sentences)),
                f"The special magic number for {decoy} is {rng.randrange(10**6, 10**7)}.",
            )
    depth = rng.random()
    position = int(depth * len(sentences))
    sentences.insert(position, f"The special magic number for {key} is {number}.")
    text = "\n".join(sentences) + "\n"
    return Task(
        "needle",
        seed,
        tokens,
        [("haystack.txt", text)],
        f"What is the special magic number for {key}?",
        number,
        score_exact(number),
        ["haystack.txt"],
        {"key": key, "depth": depth, "line": position + 1},
    )


def _instances(rng: random.Random, tokens: int) -> list[tuple[str, int, str, str]]:
    rows, size, day = [], 0, 0
    while size < tokens * CHARS_PER_TOKEN:
        label = rng.choice(LABELS)
        word = rng.choice(_WORDS)
        text = rng.choice(_INSTANCES[label]).format(w=word, W=word[:3].upper())
        user = str(rng.randrange(10_000, 10_060))
        date = f"2026-{1 + day // 28 % 12:02d}-{1 + day % 28:02d}"
        day += rng.random() < 0.05
        rows.append((date, int(user), text, label))
        size += len(date) + len(user) + len(text) + 8
    return rows


def aggregation(seed: int, tokens: int) -> Task:
    """OOLONG-style: lines "Date || User || Instance"; the label of each line must be inferred."""
    rng = random.Random(seed)
    rows = _instances(rng, tokens)
    text = "".join(f"{d} || {u} || {t}\n" for d, u, t, _ in rows)
    counts = Counter(label for *_, label in rows)
    label = rng.choice(LABELS)
    question = (
        f"Each line is a question whose type is one of {', '.join(LABELS)}. "
        f"How many lines are questions of type {label}?"
    )
    return Task(
        "aggregation",
        seed,
        tokens,
        [("questions.txt", text)],
        question,
        str(counts[label]),
        score_number(counts[label]),
        ["questions.txt"],
        {"label": label, "counts": dict(counts)},
    )


def pairs(seed: int, tokens: int) -> Task:
    """OOLONG-Pairs-style: all pairs of users who both asked a location and a person question."""
    rng = random.Random(seed)
    rows = _instances(rng, tokens)
    text = "".join(f"{d} || {u} || {t}\n" for d, u, t, _ in rows)
    asked: dict[int, set[str]] = {}
    for _, user, _, label in rows:
        asked.setdefault(user, set()).add(label)
    both = sorted(u for u, labels in asked.items() if {"location", "person"} <= labels)
    expected = {(str(a), str(b)) for a, b in combinations(both, 2)}
    question = (
        "Each line is a question whose type is one of " + ", ".join(LABELS) + ". List "
        "every pair of user IDs (as (a, b)) where both users asked at least one location "
        "question and at least one person question."
    )
    answer = ", ".join(f"({a}, {b})" for a, b in sorted(expected))
    return Task(
        "pairs",
        seed,
        tokens,
        [("questions.txt", text)],
        question,
        answer,
        score_pairs(expected),
        ["questions.txt"],
        {"users": both},
    )


_FIRST = ("Zorvan", "Ilsa", "Bren", "Toma", "Quell", "Maro", "Ysolde", "Kerin")
_LAST = ("Kell", "Varos", "Dunmere", "Ashby", "Roke", "Tallis", "Fenwick", "Orrin")
_PLACES = ("Ystrad", "Corve", "Hallow", "Mirefield", "Skarn", "Ottering", "Brume", "Calder")
_LANDS = ("Merrow", "Tessaly", "Varn", "Oskar", "Lune", "Pellam")


def multihop(seed: int, tokens: int) -> Task:
    """Two hops over fictional biographies and gazetteers, with near-duplicate distractors."""
    rng = random.Random(seed)
    place_land = {p: rng.choice(_LANDS) for p in _PLACES}
    people = {}
    documents: list[tuple[str, str]] = []
    for _ in range(max(4, tokens * CHARS_PER_TOKEN // 1500)):
        name = f"{rng.choice(_FIRST)} {rng.choice(_LAST)}"
        if name in people:
            continue
        people[name] = rng.choice(_PLACES)
        bio = [f"{name} was born in {people[name]}.", *_filler(rng, 1200)]
        documents.append((f"bio-{len(documents):04d}.txt", " ".join(bio) + "\n"))
    for place, land in place_land.items():
        documents.append(
            (
                f"place-{place.lower()}.txt",
                f"{place} is a town in the country of {land}. "
                + " ".join(_filler(rng, 600))
                + "\n",
            )
        )
    target = rng.choice(sorted(people))
    first, last = target.split()
    # A near-duplicate: a different person whose name differs by one letter.
    documents.append(
        (
            "bio-distractor.txt",
            f"{first} {last}e was born in "
            f"{rng.choice([p for p in _PLACES if p != people[target]])}.\n",
        )
    )
    land = place_land[people[target]]
    gold = [
        name
        for name, text in documents
        if text.startswith(f"{target} was born") or name == f"place-{people[target].lower()}.txt"
    ]
    return Task(
        "multihop",
        seed,
        tokens,
        documents,
        f"In which country is the town where {target} was born?",
        land,
        score_exact(land),
        gold,
        {"person": target, "town": people[target]},
    )


def _log_rows() -> list[dict]:
    with open(resources_dir() / "bench" / "OpenSSH_2k.log_structured.csv", encoding="utf-8") as f:
        return list(csv.DictReader(f))


def logs(seed: int, tokens: int) -> Task:
    """A question over the OpenSSH loghub sample, answered from its structured ground truth."""
    rng = random.Random(seed)
    rows = _log_rows()
    text = (resources_dir() / "samples" / "OpenSSH_2k.log").read_text(encoding="utf-8")
    choice = rng.randrange(3)
    if choice == 0:
        event = rng.choice(
            sorted(
                {
                    r["EventTemplate"]
                    for r in rows
                    if "Failed password" in r["EventTemplate"]
                    or "Invalid user" in r["EventTemplate"]
                }
            )
        )
        count = sum(r["EventTemplate"] == event for r in rows)
        question = f"How many log lines match the event template '{event}'?"
        return Task(
            "logs",
            seed,
            tokens,
            [("OpenSSH_2k.log", text)],
            question,
            str(count),
            score_number(count),
            ["OpenSSH_2k.log"],
            {"template": event},
        )
    if choice == 1:
        breakins = [r for r in rows if "POSSIBLE BREAK-IN ATTEMPT" in r["Content"]]
        last = breakins[-1]
        stamp = f"{last['Date']} {last['Day']} {last['Time']}"
        return Task(
            "logs",
            seed,
            tokens,
            [("OpenSSH_2k.log", text)],
            "At what time (month, day, hh:mm:ss) was the last POSSIBLE BREAK-IN ATTEMPT?",
            stamp,
            score_exact(last["Time"]),
            ["OpenSSH_2k.log"],
            {"stamp": stamp},
        )
    busiest, _ = Counter(r["Pid"] for r in rows).most_common(1)[0]
    return Task(
        "logs",
        seed,
        tokens,
        [("OpenSSH_2k.log", text)],
        "Which sshd process id (pid) wrote the most log lines?",
        busiest,
        score_exact(busiest),
        ["OpenSSH_2k.log"],
        {"pid": busiest},
    )


GENERATORS: dict[str, Callable[[int, int], Task]] = {
    "needle": needle,
    "aggregation": aggregation,
    "pairs": pairs,
    "multihop": multihop,
    "logs": logs,
}
