"""``rlm-desktop bench quality``: the RLM method against the alternatives, on tasks with known
answers at a sweep of lengths — one row per task and method that records how the answer was
produced (its outcome), what it cost and how its citations checked out.

Three presets: ``quick`` (small tasks, short answers, a deadline shared out among the runs so
it ends within ten minutes), the default (8K, 32K, 128K tokens) and ``full`` (up to 1M).
"""

from __future__ import annotations

import tempfile
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from pathlib import Path

from rlm_desktop.bench.lengths import KINDS, generators, make_task
from rlm_desktop.bench.logtasks import LogSource, TaskUnavailable, bundled_sources
from rlm_desktop.bench.machine import describe_machine, describe_model_file
from rlm_desktop.bench.quality_report import write_outputs
from rlm_desktop.bench.scoring import citation_precision
from rlm_desktop.bench.scripted import SCRIPTED, script_for
from rlm_desktop.bench.tasks import Task
from rlm_desktop.bench.tokens import tokenizer_for
from rlm_desktop.errors import RlmDesktopError, UsageError
from rlm_desktop.ingest import pipeline
from rlm_desktop.records import CITATION_STATUSES, OUTCOMES
from rlm_desktop.rlm.budget import Budget
from rlm_desktop.store import Library
from rlm_desktop.version import __version__

METHODS = ("rlm", "no-subcalls", "direct", "retrieval")
MACHINERY = "machinery check, not a model"
_MIN_RUN_S = 5.0  # the least time a run is given, however late the suite is
_READING = 1_500  # tokens a run reads before it can be stopped: about a system prompt
_LATE = "not run, too close to the suite's deadline"


@dataclass(frozen=True)
class Preset:
    """What a suite runs and with which limits; ``deadline_s`` is the whole suite's time."""

    name: str
    kinds: tuple[str, ...]
    lengths: tuple[int, ...]
    budget: Budget
    root_max_tokens: int = 768
    sub_max_tokens: int = 512
    fallback_after: int = 3
    deadline_s: float | None = None
    longest_run_s: float = 900.0


DEFAULT = Preset(
    "default",
    KINDS,
    (8_000, 32_000, 128_000),
    Budget(max_iterations=6, max_subcalls=32, max_tokens=400_000, max_seconds=900),
)
FULL = replace(DEFAULT, name="full", lengths=(8_000, 32_000, 128_000, 1_000_000))
# Fewer, smaller tasks, short answers and a deadline shared out among the runs: under ten
# minutes on two cores. A run cannot be stopped while the model reads its prompt, so the
# lengths stay small; runs the deadline leaves no time for are listed as not run.
QUICK = Preset(
    "quick",
    ("needle", "aggregation", "pairs", "multihop", "log-count"),
    (1_000, 4_000),
    Budget(max_iterations=4, max_subcalls=8, max_tokens=60_000, max_seconds=120),
    root_max_tokens=200,
    sub_max_tokens=96,
    fallback_after=2,
    deadline_s=480.0,
    longest_run_s=60.0,
)
PRESETS = {p.name: p for p in (QUICK, DEFAULT, FULL)}


@dataclass
class Row:
    """One task answered by one method: how the answer came about, its score and its cost."""

    method: str
    task: str
    length: int  # tokens asked for
    tokens: int  # tokens measured in the documents, by the model's tokenizer
    seed: int
    outcome: str  # records.OUTCOMES: answer, fallback, best-effort, stopped, error
    score: float
    precision: float | None
    recall: float | None
    scorer: str
    expected: str
    answer: str
    read: str  # what the scorer read from the answer
    note: str
    stop_reason: str
    subcalls: int
    calls: int
    root_prompt_tokens: int
    root_generated_tokens: int
    sub_prompt_tokens: int
    sub_generated_tokens: int
    seconds: float
    time_limit_s: float
    citations: dict[str, int] = field(default_factory=dict)  # status -> how many
    citation_precision: float | None = None


@dataclass
class QualityRun:
    """The rows of a run and what they were measured on."""

    rows: list[Row]
    meta: dict


class _TimeShare:
    """Shares what is left of a deadline among the runs still to come: a run may take up to
    twice its share, so fast runs leave room for slow ones, and none gets under 5 s.

    A model cannot be stopped while it reads its prompt, so a run is not started (``next``
    returns None) when the deadline is too close for its prompt at the reading speed seen
    so far, or under 5 s away.
    """

    def __init__(self, deadline_s: float | None, runs: int, longest_s: float) -> None:
        self.ends = None if deadline_s is None else time.monotonic() + deadline_s
        self.runs_left = runs
        self.longest_s = longest_s
        self.read_tokens = 0
        self.read_seconds = 0.0

    def next(self, prompt_tokens: int = 0) -> float | None:
        """Seconds for the next run, or None when the deadline leaves it no time."""
        if self.ends is None:
            return self.longest_s
        left = self.ends - time.monotonic()
        reading = prompt_tokens * self.read_seconds / self.read_tokens if self.read_tokens else 0
        if left < max(_MIN_RUN_S, reading):
            return None
        share = 2 * left / max(1, self.runs_left)
        room = left - _MIN_RUN_S * (self.runs_left - 1)
        return max(_MIN_RUN_S, min(self.longest_s, share, room))

    def done(self, runs: int = 1) -> None:
        """Runs that ended (or will not start)."""
        self.runs_left -= runs

    def read(self, prompt_tokens: int, seconds: float) -> None:
        """A run's prompt tokens and its time: an upper bound of the time to read a token."""
        self.read_tokens += prompt_tokens
        self.read_seconds += seconds


def is_machinery(model: str) -> bool:
    """Whether a model spec is a scripted or replay model (a machinery check)."""
    return model == SCRIPTED or model.startswith("replay:")


def run_quality(
    model: str = SCRIPTED,
    sub_model: str | None = None,
    kinds: list[str] | None = None,
    lengths: list[int] | None = None,
    methods: list[str] | None = None,
    seed: int = 1,
    out: Path | None = None,
    log: Callable[[str], None] = lambda _m: None,
    preset: Preset = DEFAULT,
    logs: list[LogSource] | None = None,
) -> QualityRun:
    """Run every task kind at every length with every method; write results.json and
    report.html into ``out`` when given. ``logs`` replace the bundled logs of the log tasks."""
    started = time.monotonic()
    kinds = list(kinds or preset.kinds)
    lengths = sorted(lengths or preset.lengths)
    methods = list(methods or METHODS)
    unknown = [k for k in kinds if k not in KINDS] + [m for m in methods if m not in METHODS]
    if unknown:
        raise UsageError(
            f"unknown task kinds or methods: {', '.join(unknown)} (kinds: {', '.join(KINDS)}; "
            f"methods: {', '.join(METHODS)})"
        )
    meta = _meta(model, sub_model, preset, seed)
    made = generators(logs or bundled_sources())
    share = _TimeShare(
        preset.deadline_s, len(kinds) * len(lengths) * len(methods), preset.longest_run_s
    )
    rows: list[Row] = []
    tokenizer = tokenizer_for(model)
    meta["tokenizer"] = tokenizer.name
    try:
        with tempfile.TemporaryDirectory(prefix="rlm-quality-") as tmp:
            # Kind by kind, each at every length: a run cut short by the deadline still
            # leaves whole curves for the kinds before it.
            for kind in kinds:
                for length in lengths:
                    if share.next(_READING) is None:
                        meta["skipped"].append(f"{kind} at {length:,} tokens: {_LATE}")
                        share.done(len(methods))
                        continue
                    try:
                        task = make_task(made[kind], seed, length, tokenizer)
                    except TaskUnavailable as exc:
                        meta["skipped"].append(f"{kind} at {length:,} tokens: {exc}")
                        share.done(len(methods))
                        continue
                    rows += _run_task(
                        task, methods, model, sub_model, preset, share, Path(tmp), log, meta
                    )
    finally:
        tokenizer.close()
    meta["wall_seconds"] = round(time.monotonic() - started, 1)
    run = QualityRun(rows, meta)
    if out is not None:
        write_outputs(run, Path(out))
    return run


def _meta(model: str, sub_model: str | None, preset: Preset, seed: int) -> dict:
    machinery = is_machinery(model)
    return {
        "model": model,
        "sub_model": sub_model or model,
        "machinery_check": machinery,
        "label": MACHINERY if machinery else "",
        "model_file": describe_model_file(model),
        "sub_model_file": describe_model_file(sub_model) if sub_model else {},
        "machine": describe_machine(),
        "preset": preset.name,
        "limits": {
            "budget": {
                "max_iterations": preset.budget.max_iterations,
                "max_subcalls": preset.budget.max_subcalls,
                "max_tokens": preset.budget.max_tokens,
            },
            "root_max_tokens": preset.root_max_tokens,
            "sub_max_tokens": preset.sub_max_tokens,
            "fallback_after": preset.fallback_after,
            "deadline_s": preset.deadline_s,
        },
        "seed": seed,
        "version": __version__,
        "date": time.strftime("%Y-%m-%d %H:%M"),
        "skipped": [],
    }


def _run_task(
    task: Task,
    methods: list[str],
    model: str,
    sub_model: str | None,
    preset: Preset,
    share: _TimeShare,
    work: Path,
    log: Callable[[str], None],
    meta: dict,
) -> list[Row]:
    """Build the task's library once and answer its question with every method."""
    folder = work / f"{task.kind}-{task.length}-{task.seed}"
    (folder / "docs").mkdir(parents=True)
    for name, text in task.documents:
        (folder / "docs" / name).write_text(text, encoding="utf-8")
    rows, late = [], []
    with Library(folder / "lib") as library:
        report = pipeline.ingest(library, [folder / "docs"])
        if report.counts()["failed"]:
            raise RuntimeError(f"the task's documents failed to ingest: {report.to_json()}")
        for method in methods:
            # What the model must read before it can be stopped: the documents for direct,
            # up to eight passages for retrieval, a system prompt for the others.
            reading = {"direct": task.tokens, "retrieval": min(task.tokens, 4_000)}
            limit = share.next(reading.get(method, _READING))
            share.done()
            if limit is None:
                late.append(method)
                continue
            log(
                f"{task.kind} @ {task.length:,} tokens ({task.tokens:,} measured): {method}, "
                f"up to {limit:.0f} s"
            )
            spec = script_for(task, method, folder) if model == SCRIPTED else model
            rows.append(_answer(task, method, spec, sub_model, preset, limit, library, meta))
            if method in reading:  # one call, its whole prompt read: a reading speed
                share.read(rows[-1].root_prompt_tokens, rows[-1].seconds)
            log(f"  {rows[-1].outcome}, score {rows[-1].score:.2f}, {rows[-1].seconds:.1f} s")
    if late:
        meta["skipped"].append(f"{task.kind} at {task.length:,} tokens, {', '.join(late)}: {_LATE}")
    return rows


def _answer(
    task: Task,
    method: str,
    spec: str,
    sub_model: str | None,
    preset: Preset,
    limit: float,
    library: Library,
    meta: dict,
) -> Row:
    from rlm_desktop.rlm.engine import RLM

    budget = replace(preset.budget, max_seconds=limit)
    started = time.perf_counter()
    try:
        rlm = RLM(
            spec,
            None if spec.startswith("replay:") else sub_model,
            mode=method,
            budget=budget,
            root_max_tokens=preset.root_max_tokens,
            sub_max_tokens=preset.sub_max_tokens,
            fallback_after=preset.fallback_after,
        )
        try:
            result = rlm.completion(task.question, library, save=False)
            if "runtime" not in meta and not is_machinery(spec):
                meta["runtime"] = rlm.pool.get(rlm.model).describe()
        finally:
            rlm.close()
    except RlmDesktopError as exc:
        return _failed(task, method, exc.message, time.perf_counter() - started, limit)
    seconds = time.perf_counter() - started
    score = task.scorer(result.answer)
    usage = result.usage["by_depth"]
    root = usage.get("0", {})
    subs = [spent for depth, spent in usage.items() if depth != "0"]
    statuses = [c.status for c in result.citations]
    return Row(
        method=method,
        task=task.kind,
        length=task.length,
        tokens=task.tokens,
        seed=task.seed,
        outcome=result.outcome,
        score=round(score.value, 4),
        precision=score.precision,
        recall=score.recall,
        scorer=task.scorer.name,
        expected=task.answer[:300],
        answer=result.answer[:600],
        read=score.read[:200],
        note=result.note,
        stop_reason=result.stop_reason,
        subcalls=result.usage["subcalls"],
        calls=result.usage["total"]["calls"],
        root_prompt_tokens=root.get("prompt_tokens", 0),
        root_generated_tokens=root.get("completion_tokens", 0),
        sub_prompt_tokens=sum(s["prompt_tokens"] for s in subs),
        sub_generated_tokens=sum(s["completion_tokens"] for s in subs),
        seconds=round(seconds, 2),
        time_limit_s=round(limit, 1),
        citations={s: n for s, n in Counter(statuses).items() if s in CITATION_STATUSES},
        citation_precision=citation_precision(statuses),
    )


def _failed(task: Task, method: str, message: str, seconds: float, limit: float) -> Row:
    """The row of a run that raised before it could answer."""
    return Row(
        method=method,
        task=task.kind,
        length=task.length,
        tokens=task.tokens,
        seed=task.seed,
        outcome="error",
        score=0.0,
        precision=None,
        recall=None,
        scorer=task.scorer.name,
        expected=task.answer[:300],
        answer="",
        read="",
        note=f"{OUTCOMES['error']}: {message}",
        stop_reason="error",
        subcalls=0,
        calls=0,
        root_prompt_tokens=0,
        root_generated_tokens=0,
        sub_prompt_tokens=0,
        sub_generated_tokens=0,
        seconds=round(seconds, 2),
        time_limit_s=round(limit, 1),
    )
