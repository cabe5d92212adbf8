"""Local inference that never throws work away, on the real demo GGUF (fast, and weak):
the root's cache survives sub-calls, sub-calls share one batching loop that never overflows
its cache, map_chunks pieces fit the window, and the system prompt's state is kept on disk."""

import json
import re
import shutil
import threading
import time

import pytest

from rlm_desktop import RLM
from rlm_desktop.ingest import pipeline
from rlm_desktop.llm import batching
from rlm_desktop.llm.base import GenerationSettings
from rlm_desktop.llm.llama import LlamaCppBackend
from rlm_desktop.llm.spec import ModelPool, demo_model_path
from rlm_desktop.rlm.budget import Budget
from rlm_desktop.rlm.events import CodeRun, SubCallEnded
from rlm_desktop.settings import Settings
from rlm_desktop.store import Library
from tests.conftest import SAMPLES, repl

SHORT = GenerationSettings(max_tokens=8, temperature=0.0)


@pytest.fixture(scope="module")
def model():
    backend = LlamaCppBackend(demo_model_path(), n_ctx=2048, sub_slots=4, spec="demo")
    yield backend
    backend.close()


def _ask(text):
    return [{"role": "user", "content": text}]


def test_the_root_cache_survives_sub_calls(model):
    model.reset()
    conversation = [
        {"role": "system", "content": "You answer by writing Python code. " * 12},
        *_ask("How many lines mention sshd? " * 3),
    ]
    first = model.complete(conversation, SHORT)
    # Between two root turns: a single sub-call and a batch, as a REPL cell makes them.
    model.batch([_ask("Which user is this? Invalid user admin from 10.0.0.1")], SHORT)
    model.batch([_ask(f"Summarise line {i}: sshd[{i}] failed") for i in range(6)], SHORT)
    conversation += [
        {"role": "assistant", "content": first.text},
        *_ask("Output of block 1:\n42"),
    ]
    second = model.complete(conversation, SHORT)
    # Everything up to the previous prompt was reused: only the reply and the output are new.
    assert second.usage.cached_tokens >= first.usage.prompt_tokens
    assert second.usage.evaluated_prompt_tokens < 0.2 * second.usage.prompt_tokens


def test_a_new_conversation_shares_the_system_prompt_of_another(model):
    model.reset()
    system = {"role": "system", "content": "You answer by writing Python code. " * 12}
    parent = model.complete([system, *_ask("The parent's question.")], SHORT)
    child = model.complete([system, *_ask("A child's question, about other text.")], SHORT)
    assert model.conversations.last.shared > 50  # the child started from the parent's cells
    followed = {"role": "assistant", "content": parent.text}
    again = model.complete(
        [system, *_ask("The parent's question."), followed, *_ask("Go on.")], SHORT
    )
    assert child.usage.cached_tokens > 50
    assert again.usage.cached_tokens >= parent.usage.prompt_tokens  # the parent's cache stayed


def test_the_system_prompt_state_is_saved_on_disk_and_loaded_warm(tmp_path):
    system = {"role": "system", "content": "You answer questions about logs. " * 10}
    first = LlamaCppBackend(demo_model_path(), n_ctx=1024)
    try:
        cold = first.complete([system, *_ask("Which hosts?")], SHORT)
    finally:
        first.close()
    assert cold.usage.cached_tokens == 0
    second = LlamaCppBackend(demo_model_path(), n_ctx=1024)  # a new run
    try:
        warm = second.complete([system, *_ask("Which users?")], SHORT)
        assert second.conversations.last.loaded > 50
    finally:
        second.close()
    assert warm.usage.cached_tokens == second.conversations.last.loaded


def test_sub_calls_that_outgrow_the_pool_are_set_aside_and_finished_later(monkeypatch):
    # Four slots share 256 cells; each prompt (~35 tokens) is admitted with room for a
    # 16-token answer, and the answers grow to 64 tokens: past what the pool holds.
    monkeypatch.setattr(batching, "ANSWER_RESERVE", 16)
    backend = LlamaCppBackend(demo_model_path(), n_ctx=1024, sub_slots=4, sub_ctx=256)
    try:
        answers = backend.batch(
            [_ask(f"Write a long story about the number {i}.") for i in range(5)],
            GenerationSettings(max_tokens=64, temperature=0.0),
        )
        stats = backend.subcalls.stats
    finally:
        backend.close()
    assert all(a.finish_reason in ("stop", "length") and a.text for a in answers)
    assert stats.preempted > 0  # some waited and were evaluated again; none failed


def test_stop_ends_a_batch_within_a_second(model):
    cancel = threading.Event()
    long = GenerationSettings(max_tokens=400, temperature=0.0)
    threading.Timer(1.0, cancel.set).start()
    started = time.monotonic()
    answers = model.batch(
        [_ask(f"Tell a long story about {i} owls.") for i in range(6)], long, cancel
    )
    assert time.monotonic() - started < 1.0 + 1.0  # within a second of the stop
    reasons = [a.finish_reason for a in answers]
    assert "cancelled" in reasons and set(reasons) <= {"cancelled", "stop"}


def test_a_budget_refuses_prompts_before_they_take_a_slot(model):
    allowed = iter([True, True, False, False])
    answers = model.batch(
        [_ask(f"Name a colour, {i}.") for i in range(4)], SHORT, admit=lambda: next(allowed)
    )
    assert [a.finish_reason for a in answers][2:] == ["refused", "refused"]
    assert answers[0].text and answers[2].text == ""


@pytest.fixture(scope="module")
def log_library(tmp_path_factory):
    """A library of one log of about 1,250 tokens: larger than the 1,024-token window."""
    folder = tmp_path_factory.mktemp("big-lib")
    lines = (SAMPLES / "OpenSSH_2k.log").read_text(encoding="utf-8").splitlines()[:22]
    (folder / "docs").mkdir()
    (folder / "docs" / "auth.log").write_text("\n".join(lines) + "\n", encoding="utf-8")
    with Library(folder / "lib") as lib:
        pipeline.ingest(lib, [folder / "docs"])
    return folder / "lib"


def test_map_chunks_over_a_library_larger_than_the_window_never_overflows(tmp_path, log_library):
    settings = Settings(n_ctx=1024, sub_slots=2)
    pool = ModelPool(settings)
    sub = pool.get("demo", "sub")
    text = (log_library.parent / "docs" / "auth.log").read_text(encoding="utf-8")
    assert sub.count_tokens(text) > 1024  # the whole library cannot fit one prompt
    script = tmp_path / "root.json"
    script.write_text(
        json.dumps(
            {
                "root": [
                    repl("answers = map_chunks('Which user names appear?')\nprint(len(answers))"),
                    "FINAL(done)",
                ]
            }
        )
    )
    events = []
    rlm = RLM(
        f"replay:{script}",
        "demo",
        settings=settings,
        sub_max_tokens=8,
        budget=Budget(max_subcalls=64, max_tokens=10**6),
        on_event=events.append,
        pool=pool,
    )
    try:
        result = rlm.completion("Which users?", log_library, save=False)
        (cell,) = [e for e in events if isinstance(e, CodeRun)]
        (ended,) = [e for e in events if isinstance(e, SubCallEnded)]
        assert not cell.stderr and not ended.error, cell.stderr
        assert int(cell.stdout) == len(ended.prompts) >= 3  # every piece answered
        window = sub.capacity().window
        assert all(sub.count_tokens(p) + 8 < window for p in ended.prompts)
    finally:
        rlm.close()
        pool.close()
    assert result.answer == "done"


def test_a_sub_call_prompt_too_long_for_the_window_is_refused_before_decoding(tmp_path):
    settings = Settings(n_ctx=1024)
    script = tmp_path / "root.json"
    script.write_text(json.dumps({"root": [repl("print(llm_query('word ' * 3000))"), "FINAL(ok)"]}))
    events = []
    rlm = RLM(f"replay:{script}", "demo", settings=settings, on_event=events.append)
    try:
        rlm.completion("q", ["alpha beta " * 100])
    finally:
        rlm.close()
    (cell,) = [e for e in events if isinstance(e, CodeRun)]
    assert "nothing was sent" in cell.stderr
    assert re.search(r"at most about [\d,]+ characters", cell.stderr)


def test_the_demo_run_keeps_its_root_cache_across_sub_calls(tmp_path):
    """A real run (REPL, map_chunks, llm_query) whose root replies are scripted while every
    prompt goes through llama.cpp: turns after the first evaluate only their new tokens."""
    shutil.copytree(SAMPLES, tmp_path / "docs", ignore=shutil.ignore_patterns("*.pdf", "*.docx"))
    with Library(tmp_path / "lib") as lib:
        pipeline.ingest(lib, [tmp_path / "docs"])
    from rlm_desktop.llm.replay import ScriptedOverModel

    settings = Settings(n_ctx=4096, sub_slots=4)
    pool = ModelPool(settings)
    model = pool.get("demo")
    root = ScriptedOverModel(
        model,
        [
            repl("print(llm_query('Say hi.'))"),
            repl("parts = llm_query_batched(['Name a colour.', 'Name a fruit.'])\nprint(parts)"),
            "FINAL(done)",
        ],
    )
    pool.add("scripted", root)
    rlm = RLM("scripted", "demo", settings=settings, sub_max_tokens=8, pool=pool)
    try:
        rlm.completion("Which users?", tmp_path / "lib", save=False)
    finally:
        rlm.close()
        pool.close()
    later = root.usages[1:]
    evaluated = sum(u.prompt_tokens - u.cached_tokens for u in later)
    assert evaluated < 0.2 * sum(u.prompt_tokens for u in later)
