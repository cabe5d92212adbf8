"""Root and sub-calls on one loaded model: one context or two? (issue 17, measured once).

Layout "one context": the root conversation in sequence 0 and eight sub-call slots in
sequences 1-8 of a single context of window + pool cells. Layout "two contexts": the root in
a context of its own (the window) and the sub-calls in a second context (the pool) on the
same weights. Both hold the same cells in all. The workload is a root loop whose turns are
each followed by a batch of eight sub-calls over pieces of a log, as an RLM run does.

    .venv/bin/python benchmarks/kv_layouts.py [--model PATH] [--rounds 2]

It prints, per layout, the seconds spent in root turns and in sub-call batches, and the
prompt tokens evaluated; the backend uses the faster layout (two contexts, at the time of
writing: see the README's Performance section for the figures).
"""

from __future__ import annotations

import argparse
import statistics
import time
from pathlib import Path

from rlm_desktop.llm.base import GenerationSettings
from rlm_desktop.llm.batching import Request, Scheduler
from rlm_desktop.llm.conversations import Conversations
from rlm_desktop.llm.hardware import threads
from rlm_desktop.llm.llama import LlamaCppBackend
from rlm_desktop.llm.native import NativeContext
from rlm_desktop.llm.spec import demo_model_path
from rlm_desktop.paths import samples_dir

WINDOW, POOL, SLOTS, TURNS = 4096, 4096, 8, 3


def _context(backend: LlamaCppBackend, n_ctx: int, n_seq: int) -> NativeContext:
    generation, batches = threads(0)
    return NativeContext(
        backend.model,
        n_ctx=n_ctx,
        n_seq=n_seq,
        threads=generation,
        threads_batch=batches,
        flash_attn=True,
    )


def _layout(backend: LlamaCppBackend, shared: bool):
    """(root scheduler, root conversations, sub scheduler, contexts) of one layout."""
    if shared:
        context = _context(backend, WINDOW + POOL, 1 + SLOTS)
        conversations = Conversations(1, None)
        scheduler = Scheduler(
            context, backend.model, slots=range(1, 1 + SLOTS), pool=POOL, threads=lambda: threads(0)
        )
        return scheduler, conversations, scheduler, [context]
    root_context = _context(backend, WINDOW, 1)
    sub_context = _context(backend, POOL, SLOTS)
    root = Scheduler(root_context, backend.model, threads=lambda: threads(0))
    sub = Scheduler(
        sub_context, backend.model, slots=range(SLOTS), pool=POOL, threads=lambda: threads(0)
    )
    return root, Conversations(1, None), sub, [root_context, sub_context]


def run(backend: LlamaCppBackend, shared: bool, log_text: str) -> dict:
    """One root loop of TURNS turns, each followed by a batch of SLOTS sub-calls."""
    root, conversations, sub, contexts = _layout(backend, shared)
    settings = GenerationSettings(max_tokens=32)
    lines = log_text.splitlines()
    messages = [
        {"role": "system", "content": "You answer questions about logs by writing Python. " * 20},
        {
            "role": "user",
            "content": "Question: which users failed to log in?\n" + "\n".join(lines[:40]),
        },
    ]
    spent = {"root_s": 0.0, "sub_s": 0.0, "root_evaluated": 0, "root_prompt": 0}
    for turn in range(TURNS):
        tokens, stops = backend.prompt_tokens(messages)
        plan = conversations.turn(tokens, 0)
        request = Request(tokens, 32, settings, stops, prepare=plan.prepare, release=plan.release)
        started = time.perf_counter()
        (answer,) = root.run([request])
        spent["root_s"] += time.perf_counter() - started
        if turn:
            spent["root_prompt"] += answer.usage.prompt_tokens
            spent["root_evaluated"] += answer.usage.evaluated_prompt_tokens
        pieces = [
            lines[60 + (turn * SLOTS + i) * 5 : 65 + (turn * SLOTS + i) * 5] for i in range(SLOTS)
        ]
        prompts = [
            backend.prompt_tokens(
                [{"role": "user", "content": "Which users appear here?\n" + "\n".join(p)}]
            )[0]
            for p in pieces
        ]
        started = time.perf_counter()
        sub.run([Request(p, 48, settings, stops) for p in prompts])
        spent["sub_s"] += time.perf_counter() - started
        messages += [
            {"role": "assistant", "content": answer.text or "```repl\nprint(x)\n```"},
            {
                "role": "user",
                "content": "Output of block 1:\n"
                + "\n".join(lines[500 + turn * 4 : 504 + turn * 4]),
            },
        ]
    for scheduler in {id(root): root, id(sub): sub}.values():
        scheduler.close()
    for context in contexts:
        context.close()
    return spent


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", type=Path, default=None)
    parser.add_argument("--rounds", type=int, default=2)
    args = parser.parse_args()
    backend = LlamaCppBackend(args.model or demo_model_path(), n_ctx=WINDOW)
    log_text = (samples_dir() / "OpenSSH_2k.log").read_text(encoding="utf-8")
    results: dict[str, list[dict]] = {"one context": [], "two contexts": []}
    try:
        for _ in range(args.rounds):  # interleaved, so that a busy spell hits both
            for name in results:
                results[name].append(run(backend, name == "one context", log_text))
                print(name, results[name][-1], flush=True)
    finally:
        backend.close()
    for name, runs in results.items():
        root_s = statistics.median(r["root_s"] for r in runs)
        sub_s = statistics.median(r["sub_s"] for r in runs)
        share = runs[0]["root_evaluated"] / max(1, runs[0]["root_prompt"])
        print(
            f"{name:13}: root turns {root_s:6.2f} s, sub-call batches {sub_s:6.2f} s "
            f"(medians of {len(runs)}); root prompt evaluated on turns 2+: {share:.2f}; "
            f"all runs: {[(round(r['root_s'], 1), round(r['sub_s'], 1)) for r in runs]}"
        )


if __name__ == "__main__":
    main()
