"""Generated long-context tasks with known answers, from a seed and a size in characters:
needle (S-NIAH), aggregation (OOLONG), pairs (OOLONG-Pairs) and multi-hop (BrowseComp-like).
``lengths.make_task`` sizes them in the model's tokens; ``logtasks`` adds tasks on real logs."""

from __future__ import annotations

import random
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from itertools import combinations

from rlm_desktop.bench.scoring import ExactName, ExactNumber, Needle, PairF1, Scorer, pair


@dataclass
class Task:
    """One question over documents, with its answer and the scorer that grades a reply.

    ``length`` is the size asked for and ``tokens`` the size measured (both in the model's
    tokens, set by ``lengths.make_task``); ``facts`` are ground-truth details for tests, the
    scripted strategies and the report.
    """

    kind: str
    seed: int
    documents: list[tuple[str, str]]  # (file name, text)
    question: str
    answer: str
    scorer: Scorer = field(repr=False)
    gold_documents: list[str] = field(default_factory=list)
    facts: dict = field(default_factory=dict)
    length: int = 0
    tokens: int = 0

    @property
    def chars(self) -> int:
        """Characters in all its documents."""
        return sum(len(text) for _, text in self.documents)


Generator = Callable[[int, int], Task]  # (seed, characters) -> task

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


def filler(rng: random.Random, chars: int) -> list[str]:
    """Plain sentences adding up to about ``chars`` characters."""
    sentences, size = [], 0
    while size < chars:
        sentence = rng.choice(_FILLER).capitalize() + "."
        sentences.append(sentence)
        size += len(sentence) + 1
    return sentences


def needle(seed: int, chars: int) -> Task:
    """A "special magic number" hidden at a random depth of filler, with decoys for other keys."""
    rng = random.Random(seed)
    sentences = filler(rng, chars)
    key = f"{rng.choice(_WORDS)}-{rng.randrange(100, 999)}"
    number = str(rng.randrange(1_000_000, 9_999_999))
    decoys = []
    for _ in range(3):
        decoy = f"{rng.choice(_WORDS)}-{rng.randrange(100, 999)}"
        if decoy != key:
            decoys.append(str(rng.randrange(10**6, 10**7)))
            sentences.insert(
                rng.randrange(len(sentences)),
                f"The special magic number for {decoy} is {decoys[-1]}.",
            )
    depth = rng.random()
    position = int(depth * len(sentences))
    sentences.insert(position, f"The special magic number for {key} is {number}.")
    text = "\n".join(sentences) + "\n"
    return Task(
        "needle",
        seed,
        [("haystack.txt", text)],
        f"What is the special magic number for {key}?",
        number,
        Needle(number, tuple(decoys)),
        ["haystack.txt"],
        {"key": key, "depth": depth, "line": position + 1},
    )


def _instances(rng: random.Random, chars: int) -> list[tuple[str, int, str, str]]:
    """Lines of ``chars`` characters; fewer users in shorter texts (60 from 48,000 characters
    on), so that users ask several questions each at any length."""
    users = max(4, min(60, chars // 800))
    rows, size, day = [], 0, 0
    while size < chars:
        label = rng.choice(LABELS)
        word = rng.choice(_WORDS)
        text = rng.choice(_INSTANCES[label]).format(w=word, W=word[:3].upper())
        user = str(rng.randrange(10_000, 10_000 + users))
        date = f"2026-{1 + day // 28 % 12:02d}-{1 + day % 28:02d}"
        day += rng.random() < 0.05
        rows.append((date, int(user), text, label))
        size += len(date) + len(user) + len(text) + 8
    return rows


def aggregation(seed: int, chars: int) -> Task:
    """OOLONG-style: lines "Date || User || Instance"; the label of each line must be inferred.
    Scored as OOLONG scores counts: 0.75 ** |error|."""
    rng = random.Random(seed)
    rows = _instances(rng, chars)
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
        [("questions.txt", text)],
        question,
        str(counts[label]),
        ExactNumber(counts[label], partial=True),
        ["questions.txt"],
        {"label": label, "counts": dict(counts)},
    )


def _asked_both(asked: dict[int, Counter[str]], least: int) -> list[int]:
    """Users who asked at least ``least`` location and ``least`` person questions."""
    return sorted(u for u, c in asked.items() if min(c["location"], c["person"]) >= least)


def pairs(seed: int, chars: int) -> Task:
    """OOLONG-Pairs-style: all pairs of users who both asked at least ``k`` location and ``k``
    person questions. ``k`` grows with the length, as the largest that still leaves a third of
    the users, so that long texts do not make every pair an answer; texts are drawn again until
    at least two users qualify (an empty answer tests nothing)."""
    rng = random.Random(seed)
    both: list[int] = []
    while len(both) < 2:
        rows = _instances(rng, chars)
        asked: dict[int, Counter[str]] = {}
        for _, user, _, label in rows:
            asked.setdefault(user, Counter())[label] += 1
        least = 1
        while len(_asked_both(asked, least + 1)) >= max(2, len(asked) // 3):
            least += 1
        both = _asked_both(asked, least)
    text = "".join(f"{d} || {u} || {t}\n" for d, u, t, _ in rows)
    expected = frozenset(pair(str(a), str(b)) for a, b in combinations(both, 2))
    times = "once" if least == 1 else f"{least} times"
    question = (
        "Each line is a question whose type is one of " + ", ".join(LABELS) + ". List "
        f"every pair of user IDs (as (a, b)) where both users asked a location question at "
        f"least {times} and a person question at least {times}."
    )
    answer = ", ".join(f"({a}, {b})" for a, b in sorted(expected))
    return Task(
        "pairs",
        seed,
        [("questions.txt", text)],
        question,
        answer,
        PairF1(expected),
        ["questions.txt"],
        {"users": both, "least": least},
    )


_FIRST = ("Zorvan", "Ilsa", "Bren", "Toma", "Quell", "Maro", "Ysolde", "Kerin")
_LAST = ("Kell", "Varos", "Dunmere", "Ashby", "Roke", "Tallis", "Fenwick", "Orrin")
_PLACES = ("Ystrad", "Corve", "Hallow", "Mirefield", "Skarn", "Ottering", "Brume", "Calder")
_LANDS = ("Merrow", "Tessaly", "Varn", "Oskar", "Lune", "Pellam")


def multihop(seed: int, chars: int) -> Task:
    """Two hops over fictional biographies and gazetteers, with a near-duplicate distractor.
    Past the 64 distinct people, more biographies repeat people under other file names."""
    rng = random.Random(seed)
    place_land = {p: rng.choice(_LANDS) for p in _PLACES}
    born: dict[str, str] = {}
    documents: list[tuple[str, str]] = []
    gazetteer = 8 * 700
    while not documents or sum(len(t) for _, t in documents) + gazetteer < chars:
        name = f"{rng.choice(_FIRST)} {rng.choice(_LAST)}"
        born.setdefault(name, rng.choice(_PLACES))
        bio = [f"{name} was born in {born[name]}.", *filler(rng, 1200)]
        documents.append((f"bio-{len(documents):04d}.txt", " ".join(bio) + "\n"))
    for place, land in place_land.items():
        documents.append(
            (
                f"place-{place.lower()}.txt",
                f"{place} is a town in the country of {land}. " + " ".join(filler(rng, 600)) + "\n",
            )
        )
    target = rng.choice(sorted(born))
    first, last = target.split()
    # A near-duplicate: a different person whose name differs by one letter.
    documents.append(
        (
            "bio-distractor.txt",
            f"{first} {last}e was born in "
            f"{rng.choice([p for p in _PLACES if p != born[target]])}.\n",
        )
    )
    land = place_land[born[target]]
    gold = [
        name
        for name, text in documents
        if text.startswith(f"{target} was born") or name == f"place-{born[target].lower()}.txt"
    ]
    return Task(
        "multihop",
        seed,
        documents,
        f"In which country is the town where {target} was born?",
        land,
        ExactName(land, _LANDS),
        gold,
        {"person": target, "town": born[target]},
    )


SYNTHETIC: dict[str, Generator] = {
    "needle": needle,
    "aggregation": aggregation,
    "pairs": pairs,
    "multihop": multihop,
}
