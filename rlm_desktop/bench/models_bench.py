"""``rlm-desktop bench models``: batched sub-calls against sequential ones, and prefix reuse."""

from __future__ import annotations

import time
from collections.abc import Callable

from rlm_desktop.bench.report import BenchResult, judged
from rlm_desktop.llm.base import Backend, GenerationSettings, Message

_TOPICS = (
    "rivers",
    "volcanoes",
    "libraries",
    "bridges",
    "owls",
    "glaciers",
    "printing presses",
    "lighthouses",
    "tea",
    "comets",
    "bees",
    "canals",
    "deserts",
    "clocks",
    "maps",
    "salt",
)


def _prompts(n: int) -> list[list[Message]]:
    return [
        [{"role": "user", "content": f"Write three sentences about {_TOPICS[i % 16]}."}]
        for i in range(n)
    ]


def _reset(backend: Backend) -> None:
    # Each timing starts from an empty cache, so no run benefits from the previous one.
    llm = getattr(backend, "llm", None)
    if llm is not None:
        llm.reset()


def _throughput(backend: Backend, n: int, settings: GenerationSettings) -> tuple[float, float]:
    """Completion tokens per second: (batched, sequential) for n prompts."""
    prompts = _prompts(n)
    _reset(backend)
    started = time.perf_counter()
    batched = backend.batch(prompts, settings)
    batched_tps = sum(c.usage.completion_tokens for c in batched) / (time.perf_counter() - started)
    started = time.perf_counter()
    sequential = []
    for prompt in prompts:
        _reset(backend)
        sequential.append(backend.complete(prompt, settings))
    elapsed = time.perf_counter() - started
    return batched_tps, sum(c.usage.completion_tokens for c in sequential) / elapsed


def bench_batching(backend: Backend, quick: bool, log: Callable[[str], None]) -> list[BenchResult]:
    """Tokens per second for 1, 2, 4, 8, 16 sequences, batched and one by one. The goal is
    set for 64-token answers: shorter ones (--quick) are mostly prompt, so only indicative."""
    settings = GenerationSettings(max_tokens=24 if quick else 64, temperature=0.0)
    results = []
    for n in (1, 2, 4, 8) if quick else (1, 2, 4, 8, 16):
        log(f"{n} sequence(s): batched, then sequential")
        batched, sequential = _throughput(backend, n, settings)
        results.append(
            BenchResult(
                name=f"batched vs sequential, {n} sequences",
                value=batched,
                baseline=sequential,
                ratio=batched / sequential,
                goal=">= 1.5x at 8 sequences of 64 tokens" if n == 8 else "",
                met=judged(batched / sequential >= 1.5, not quick) if n == 8 else None,
                unit="tok/s",
                detail="greedy",
                size=f"{n} prompt(s), answers of up to {settings.max_tokens} tokens",
            )
        )
    return results


def bench_prefix_reuse(backend: Backend, quick: bool, log: Callable[[str], None]) -> BenchResult:
    """A root loop: each turn adds under 20% new text; how much of the prompt is evaluated?"""
    settings = GenerationSettings(max_tokens=16, temperature=0.0)
    table = "\n".join(f"  [{i}] report-{i:03d}.pdf (pdf, {i % 40 + 1} pages)" for i in range(60))
    conversation: list[Message] = [
        {"role": "system", "content": "You answer questions by writing Python code."},
        {"role": "user", "content": f"Question: how many reports mention delays?\n{table}"},
    ]
    _reset(backend)
    worst = 0.0
    worst_prompt = 1
    turns = 3 if quick else 5
    for turn in range(1, turns + 1):
        log(f"root turn {turn}")
        completion = backend.complete(conversation, settings)
        usage = completion.usage
        if turn > 1:
            share = usage.evaluated_prompt_tokens / usage.prompt_tokens
            if share >= worst:
                worst, worst_prompt = share, usage.prompt_tokens
        conversation += [
            {"role": "assistant", "content": completion.text},
            {"role": "user", "content": f"Output of turn {turn}: 3 matches in report-{turn}.pdf"},
        ]
    return BenchResult(
        name="root loop: prompt evaluated per turn",
        value=worst * 100,
        baseline=100.0,
        ratio=1 / worst if worst else float("inf"),
        goal="<= 20% of the prompt when < 20% is new",
        met=worst <= 0.2,
        unit="%",
        detail=f"worst of turns 2-{turns}; a share, judged at any length",
        size=f"{turns} root turns, the worst prompt {worst_prompt:,} tokens",
    )


def run_model_benchmarks(
    backend: Backend, quick: bool = False, log: Callable[[str], None] = lambda _msg: None
) -> list[BenchResult]:
    """All model benchmarks on one backend."""
    return [*bench_batching(backend, quick, log), bench_prefix_reuse(backend, quick, log)]
