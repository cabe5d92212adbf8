"""End-to-end with the real demo GGUF through llama.cpp (a 135M model: fast, and weak)."""

import os
import threading

import pytest

from rlm_desktop.llm.base import ContextOverflowError, GenerationSettings
from rlm_desktop.llm.llama import LlamaCppBackend
from rlm_desktop.llm.spec import ModelPool, demo_model_path

GREEDY = GenerationSettings(max_tokens=32, temperature=0.0)
QUESTIONS = ["What is 2+2?", "Name a colour.", "Say hello.", "What is the capital of Spain?"]


@pytest.fixture(scope="module")
def model():
    backend = LlamaCppBackend(demo_model_path(), n_ctx=2048, spec="demo")
    yield backend
    backend.close()


def _ask(text):
    return [{"role": "user", "content": text}]


def test_demo_model_loads_with_its_metadata(model):
    info = model.describe()
    assert info["architecture"] == "llama" and info["quantization"] == "Q4_1"
    assert 100e6 < info["parameters"] < 200e6
    assert info["trained_context"] == 8192 and info["n_ctx"] == 2048
    assert info["chat_template"] is True


def test_streaming_a_chat_completion_reports_usage(model):
    completion = model.complete(_ask("What is the capital of France?"), GREEDY)
    assert completion.text.strip()
    usage = completion.usage
    assert usage.prompt_tokens > 10
    assert 0 < usage.completion_tokens <= GREEDY.max_tokens
    assert usage.time_to_first_token_s > 0 and usage.total_s >= usage.time_to_first_token_s


def test_cancel_stops_generation_mid_stream(model):
    cancel = threading.Event()
    chunks = []
    usage_settings = GenerationSettings(max_tokens=200, temperature=0.0)
    from rlm_desktop.llm.base import Usage

    usage = Usage()
    with model.lock:
        for chunk in model.stream(
            _ask("Tell me a long story about a dragon."), usage_settings, usage, cancel
        ):
            chunks.append(chunk)
            if len(chunks) == 5:
                cancel.set()
    assert len(chunks) == 5
    assert usage.completion_tokens < 10


def test_the_growing_conversation_reuses_its_prefix(model):
    model.reset()
    conversation = [{"role": "system", "content": "You are terse. " * 40}, *_ask("Hi there.")]
    first = model.complete(conversation, GREEDY)
    assert first.usage.cached_tokens == 0
    conversation += [{"role": "assistant", "content": first.text}, *_ask("And again?")]
    second = model.complete(conversation, GREEDY)
    assert second.usage.cached_tokens > 0.8 * first.usage.prompt_tokens
    assert second.usage.evaluated_prompt_tokens < 0.25 * second.usage.prompt_tokens


def test_batched_generation_matches_sequential_greedy_decoding(model):
    sequential = [model.batch([_ask(question)], GREEDY)[0] for question in QUESTIONS]
    batched = model.batch([_ask(q) for q in QUESTIONS], GREEDY)
    assert len(batched) == 4 and all(isinstance(c.text, str) for c in batched)
    pairs = list(zip(sequential, batched, strict=True))
    agree = [len(os.path.commonprefix([s.text, b.text])) for s, b in pairs]  # noqa: RUF071
    # Alone, a batched sequence decodes exactly as sequentially (the next test); together,
    # steps run in batches of other shapes, which round differently, and a 135M model's
    # greedy choice flips on that: measured here, answers 2-4 diverge at characters 67, 78
    # and 43 of 32-token answers. Bound it: every answer agrees for its first 30 characters.
    assert all(n >= 30 or s.text == b.text for n, (s, b) in zip(agree, pairs, strict=True)), agree
    assert any(s.text == b.text for s, b in pairs), agree
    assert all(b.usage.completion_tokens <= GREEDY.max_tokens for b in batched)


def test_a_single_prompt_batched_equals_the_root_answer_exactly(model):
    model.reset()
    alone = model.complete(_ask(QUESTIONS[1]), GREEDY)  # the root's context
    (batched,) = model.batch([_ask(QUESTIONS[1])], GREEDY)  # the sub-call loop's
    assert batched.text == alone.text


def test_a_prompt_that_cannot_fit_is_refused_before_decoding(model):
    huge = _ask("word " * 3000)
    with pytest.raises(ContextOverflowError, match="context holds 2,048"):
        model.complete(huge, GREEDY)
    with pytest.raises(ContextOverflowError):
        model.batch([huge, _ask("short")], GREEDY)
    assert model.complete(_ask("Still fine?"), GREEDY).text


def test_the_pool_loads_a_model_once_for_root_and_sub_calls():
    pool = ModelPool()
    try:
        assert pool.get("demo", "root") is pool.get("demo", "sub")
        assert pool.get(str(demo_model_path())) is pool.get("demo")
    finally:
        pool.close()
