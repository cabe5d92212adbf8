"""Speed rows tell the truth at any size: each names its input, and a row measured on an input
too small for a goal set at full scale says it is indicative instead of giving a verdict."""

import io
import json

from rich.console import Console

from rlm_desktop.bench.models_bench import run_model_benchmarks
from rlm_desktop.bench.report import INDICATIVE, BenchResult, judged, print_results
from rlm_desktop.llm.base import Backend


class CountingBackend(Backend):
    """A model that answers instantly: one token per word, half its prompt already cached."""

    spec = "counting"

    def stream(self, messages, settings, usage, cancel=None):
        words = sum(len(m["content"].split()) for m in messages)
        usage.prompt_tokens, usage.cached_tokens = words, words // 2
        for _ in range(settings.max_tokens):
            usage.completion_tokens += 1
            yield "word "


def _table(results: list[BenchResult]) -> str:
    buffer = io.StringIO()
    print_results(results, False, Console(file=buffer, width=250, color_system=None))
    return buffer.getvalue()


def test_a_verdict_only_at_the_scale_the_goal_was_set_for():
    assert judged(True, full_scale=True) is True and judged(False, full_scale=True) is False
    assert judged(False, full_scale=False) is None
    row = BenchResult("locate", 1.0, 2.0, 2.0, "at least 10x faster", None, size="100 snippets")
    assert row.verdict == INDICATIVE and row.to_json()["verdict"] == INDICATIVE
    assert BenchResult("x", 1, 1, 1, "", None).verdict == "no goal"
    assert BenchResult("x", 1, 1, 1, "fast", False).verdict == "not met"


def test_quick_model_rows_name_their_input_and_do_not_judge_full_scale_goals():
    quick = run_model_benchmarks(CountingBackend(), quick=True)
    full = run_model_benchmarks(CountingBackend(), quick=False)
    assert all(r.size for r in quick + full)
    eight = {r.name: r for r in quick}["batched vs sequential, 8 sequences"]
    assert eight.met is None and "24 tokens" in eight.size
    assert {r.name: r for r in full}["batched vs sequential, 8 sequences"].met is not None
    scaling = [r for r in quick if "sequences" in r.name and "8 " not in r.name]
    assert all(r.verdict == "no goal" for r in scaling)
    prefix = quick[-1]  # a share of the prompt: judged at any length
    assert isinstance(prefix.met, bool) and "root turns" in prefix.size
    text = _table(quick)
    assert INDICATIVE in text and "input" in text and "24 tokens" in text
    json.dumps([r.to_json() for r in quick])  # what speed.json holds
