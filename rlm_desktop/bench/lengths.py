"""Tasks at a length in the model's own tokens: every generator is asked for characters,
and the documents are measured with the model's tokenizer until they are within 3% of the
length asked for (text tokenizes differently: prose, logs and numbers)."""

from __future__ import annotations

from rlm_desktop.bench.logtasks import KINDS as LOG_KINDS
from rlm_desktop.bench.logtasks import LogSource, log_generators
from rlm_desktop.bench.tasks import SYNTHETIC, Generator, Task
from rlm_desktop.bench.tokens import CHARS_PER_TOKEN, Tokenizer

KINDS = (*SYNTHETIC, *LOG_KINDS)
TOLERANCE = 0.03
_TRIES = 5


def generators(logs: list[LogSource]) -> dict[str, Generator]:
    """Every task kind; the log kinds ask about ``logs``."""
    return {**SYNTHETIC, **log_generators(logs)}


def make_task(generator: Generator, seed: int, tokens: int, tokenizer: Tokenizer) -> Task:
    """The generator's task whose documents hold ``tokens`` tokens (within 3%) as the
    tokenizer counts them; the closest one found when the generator moves in steps."""
    chars = tokens * CHARS_PER_TOKEN
    best: Task | None = None
    for _ in range(_TRIES):
        task = generator(seed, chars)
        task.tokens = tokenizer.count_all([text for _, text in task.documents])
        if best is None or abs(task.tokens - tokens) < abs(best.tokens - tokens):
            best = task
        if abs(task.tokens - tokens) <= TOLERANCE * tokens:
            break
        chars = max(200, round(task.chars * tokens / max(1, task.tokens)))
    assert best is not None
    best.length = tokens
    return best
