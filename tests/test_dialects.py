"""Every RLM dialect: the reference protocol's answer dict, SHOW_VARS, batched child RLMs,
batches whose members fail alone, custom tools, and choosing the profile per model."""

import json

import pytest

from rlm_desktop import RLM
from rlm_desktop.llm.base import ModelError
from rlm_desktop.llm.replay import ReplayBackend, ReplayScript
from rlm_desktop.llm.spec import ModelPool, parse_spec
from rlm_desktop.rlm import profiles, turns
from rlm_desktop.rlm.budget import Budget
from rlm_desktop.rlm.events import CodeRun, Notice, SubCallEnded, TurnStarted
from rlm_desktop.sandbox.tools import ToolsError
from rlm_desktop.settings import Settings
from rlm_desktop.store import Library
from tests.conftest import repl, scripted


def root_calls(rlm):
    return rlm.pool.get(rlm.model, "root").calls


def test_a_ready_answer_dict_ends_the_run_with_its_content(tmp_path, library_dir):
    rlm, _ = scripted(
        tmp_path,
        [
            repl("hits = context.grep('webmaster')\nprint(len(hits))"),
            repl('answer["content"] = f"{len(hits)} lines name webmaster"\nanswer["ready"] = True'),
        ],
        profile="reference",
    )
    result = rlm.completion("How many lines name webmaster?", library_dir)
    assert result.outcome == "answer" and result.stop_reason == "final"
    assert result.answer.endswith("lines name webmaster") and result.profile == "reference"
    system = root_calls(rlm)[0][0]["content"]
    assert 'answer["ready"]' in system and "SHOW_VARS" in system
    assert "rlm_query_batched" in system and "FINAL_VAR" not in system
    (saved,) = Library(library_dir).runs(result.conversation)
    assert saved["profile"] == "reference"
    assert result.to_json()["profile"] == "reference"


def test_a_ready_answer_with_unseen_output_is_asked_again(tmp_path, library_dir):
    rlm, events = scripted(
        tmp_path,
        [
            repl('print("draft")\nanswer["content"] = "draft"\nanswer["ready"] = True'),
            repl('answer["ready"] = True'),
        ],
    )
    result = rlm.completion("q", library_dir)
    assert result.answer == "draft" and result.profile == "paper"
    assert any(isinstance(e, Notice) and "unseen" in e.message for e in events)
    second = root_calls(rlm)[1][-1]["content"]
    assert "draft" in second and 'answer["ready"] is False again' in second


def test_show_vars_lists_names_and_types_not_values(tmp_path, library_dir):
    rlm, events = scripted(
        tmp_path,
        [
            repl('counts = [1, 2, 3]\nsecret = "do not show this value"\nSHOW_VARS()'),
            repl("FINAL('done')"),
        ],
    )
    rlm.completion("q", library_dir)
    shown = next(e for e in events if isinstance(e, CodeRun)).stdout
    assert "counts: list of 3" in shown and "secret: str of 22 chars" in shown
    assert "answer: dict" in shown and "question: str" in shown
    assert "do not show" not in shown and "llm_query" not in shown and "context" not in shown


def test_rlm_query_batched_runs_one_child_per_prompt(tmp_path, library_dir):
    child = repl("FINAL('child read ' + str(len(context)))")
    rlm, events = scripted(
        tmp_path,
        [
            repl("out = rlm_query_batched(['q1', 'q2', 'q3'], ['a', 'bb', 'ccc'])\nprint(out)"),
            child,
            child,
            child,
            repl("FINAL(' | '.join(out))"),
        ],
        budget=Budget(max_depth=2),
    )
    result = rlm.completion("q", library_dir)
    assert result.answer == "child read 1 | child read 2 | child read 3"
    assert len([e for e in events if isinstance(e, TurnStarted) and e.depth == 1]) == 3


def test_rlm_query_batched_at_max_depth_asks_plain_sub_calls(tmp_path, library_dir):
    rlm, events = scripted(
        tmp_path,
        [
            repl("out = rlm_query_batched(['q1', 'q2', 'q3'], ['t1', 't2', 't3'])\nprint(out)"),
            repl("FINAL(' '.join(out))"),
        ],
        ["s1", "s2", "s3"],
    )
    result = rlm.completion("q", library_dir)
    assert result.answer == "s1 s2 s3"
    (ended,) = [e for e in events if isinstance(e, SubCallEnded)]
    assert ended.kind_of_call == "llm_query_batched" and "t2" in ended.prompts[1]


class FailsOnBad(ReplayBackend):
    """A scripted sub model that cannot answer a prompt that says BAD."""

    def stream(self, messages, settings, usage, cancel=None):
        if "BAD" in messages[-1]["content"]:
            raise ModelError("the model refused this prompt")
        return super().stream(messages, settings, usage, cancel)


def test_one_failed_member_of_a_batch_leaves_the_others(tmp_path, library_dir):
    script = ReplayScript(
        {
            "root": [
                repl("out = llm_query_batched(['one', 'BAD', 'three'])\nprint(out)"),
                repl("FINAL(repr(out))"),
            ],
            "sub": ["first", "third"],
        }
    )
    pool = ModelPool()
    pool.add("root", ReplayBackend(script, "root"))
    pool.add("sub", FailsOnBad(script, "sub"))
    events = []
    rlm = RLM("root", "sub", pool=pool, on_event=events.append)
    result = rlm.completion("q", library_dir)
    out = eval(result.answer)
    assert out[0] == "first" and out[2] == "third"
    assert "failed" in out[1] and "refused this prompt" in out[1]
    assert any(isinstance(e, Notice) and "item 2 of 3 failed" in e.message for e in events)


TOOLS = '''
import re


def word_count(text: str) -> int:
    """How many words ``text`` has."""
    return len(re.findall(r"\\w+", text))


def _private():
    return 1
'''


def test_a_custom_tool_is_described_and_callable(tmp_path, library_dir):
    tools = tmp_path / "tools.py"
    tools.write_text(TOOLS)
    rlm, events = scripted(
        tmp_path,
        [repl("print(word_count('a b c'))\nSHOW_VARS()"), repl("FINAL(str(word_count('a b')))")],
        tools=tools,
    )
    result = rlm.completion("q", library_dir)
    assert result.answer == "2"
    system = root_calls(rlm)[0][0]["content"]
    assert "word_count(text: str) -> int" in system and "How many words" in system
    assert "_private" not in system
    shown = next(e for e in events if isinstance(e, CodeRun)).stdout
    assert shown.startswith("3") and "word_count" not in shown


@pytest.mark.parametrize(
    ("source", "words"),
    [("def f(:\n    pass\n", "syntax error on line 1"), ("raise ValueError('no')\n", "failed")],
)
def test_a_broken_tools_file_stops_the_run_before_it_starts(tmp_path, library_dir, source, words):
    tools = tmp_path / "tools.py"
    tools.write_text(source + "\ndef g():\n    return 1\n")
    rlm, _ = scripted(tmp_path, [repl("FINAL('never')")], tools=tools)
    with pytest.raises(ToolsError, match=words):
        rlm.completion("q", library_dir)
    assert root_calls(rlm) == []


def test_auto_picks_the_training_protocol_of_known_recursive_models():
    assert profiles.resolve("auto", {"name": "RLM-Qwen3-8B", "path": "/m/x.gguf"}) == "reference"
    assert profiles.resolve("auto", {"name": "", "path": "/m/rlm-qwen3-8b.Q4_K_M.gguf"}) == (
        "reference"
    )
    assert profiles.resolve("auto", {"name": "Qwen3-8B", "path": "/m/Qwen3-8B-Q4.gguf"}) == "paper"
    adapter = {"name": "Qwen3-8B", "path": "/m/q.gguf", "lora": "/m/rlm-qwen3-8b-lora.gguf"}
    assert profiles.resolve("auto", adapter) == "reference"
    assert profiles.resolve("paper", {"name": "RLM-Qwen3-8B"}) == "paper"
    with pytest.raises(ValueError, match="unknown protocol profile"):
        profiles.resolve("fancy", {})


def test_a_follow_up_sees_earlier_turns_as_history_variables(tmp_path, library_dir):
    rlm, events = scripted(
        tmp_path,
        [
            repl("print(context.grep('webmaster')[0].text)"),
            "FINAL(webmaster)",
            repl("print(history_0['answer'], '|', history_0['trajectory'])\nSHOW_VARS()"),
            "FINAL(still webmaster)",
        ],
    )
    first = rlm.completion("Who?", library_dir)
    second = rlm.completion("And again?", library_dir, conversation=first.conversation)
    assert second.answer == "still webmaster"
    shown = [e for e in events if isinstance(e, CodeRun)][-1].stdout
    assert shown.startswith("webmaster | 1 code steps, 0 sub-calls")
    assert "context.grep('webmaster')" in shown and "history_0: dict" in shown
    assert "context_0" not in shown  # the same documents: no per-turn contexts


def test_a_follow_up_about_other_documents_sees_each_turns_context(tmp_path, library_dir):
    rlm, events = scripted(
        tmp_path,
        [
            "FINAL(one)",
            repl("print(len(context_0) > len(context_1), context_1 is context)"),
            "FINAL(two)",
        ],
    )
    with Library(library_dir) as lib:
        path = next(d.path for d in lib.documents() if d.path.endswith("OpenSSH_2k.log"))
    first = rlm.completion("Q1", library_dir)
    rlm.completion("Q2", library_dir, conversation=first.conversation, only=[path])
    assert [e for e in events if isinstance(e, CodeRun)][-1].stdout.strip() == "True True"
    assert "`context_0` to `context_0`" in root_calls(rlm)[1][1]["content"]


def test_a_long_history_is_summarised_not_dropped(tmp_path, library_dir, monkeypatch):
    monkeypatch.setattr(turns, "HISTORY_CHARS", 1_000)
    long_answer = "x" * 1_500
    rlm, _ = scripted(
        tmp_path,
        [f"FINAL({long_answer} {i})" for i in range(4)] + ["FINAL(done)"],
        ["the summary of turn 0", "the summary of turns 0 and 1"],
    )
    conversation = rlm.completion("Q0", library_dir).conversation
    for i in range(1, 4):
        rlm.completion(f"Q{i}", library_dir, conversation=conversation)
    rlm.completion("Q4", library_dir, conversation=conversation)
    first_message = root_calls(rlm)[-1][1]["content"]
    assert "2 earlier questions, summarised" in first_message
    assert "the summary of turns 0 and 1" in first_message
    assert "history_2: Q: Q2" in first_message and "history_3: Q: Q3" in first_message


def test_ask_takes_a_profile_and_tools_and_reports_the_profile(tmp_path, library_dir):
    from click.testing import CliRunner

    from rlm_desktop.cli import cli

    tools = tmp_path / "tools.py"
    tools.write_text(TOOLS)
    script = tmp_path / "script.json"
    code = 'answer["content"] = str(word_count("one two"))\nanswer["ready"] = True'
    script.write_text(json.dumps({"root": [repl(code)]}))
    args = ["ask", "q", "--library", str(library_dir), "--model", f"replay:{script}"]
    result = CliRunner().invoke(
        cli, [*args, "--profile", "reference", "--tools", str(tools), "--json"]
    )
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    assert data["answer"] == "2" and data["profile"] == "reference" and data["outcome"] == "answer"
    listed = CliRunner().invoke(cli, ["history", "--library", str(library_dir)])
    assert "rlm, reference, answer" in listed.stdout
    broken = tmp_path / "broken.py"
    broken.write_text("def f(:\n")
    failed = CliRunner().invoke(cli, [*args, "--tools", str(broken)])
    assert failed.exit_code != 0 and "syntax error on line 1" in failed.output


def test_a_model_spec_can_carry_its_own_profile(tmp_path, library_dir):
    script = tmp_path / "script.json"
    ready = repl('answer["content"] = "x"\nanswer["ready"] = True')
    script.write_text(json.dumps({"root": [ready]}))
    spec = f"replay:{script}+profile:reference"
    assert str(parse_spec(spec)) == spec and parse_spec(spec).profile == "reference"
    rlm = RLM(spec, settings=Settings(rlm_profile="paper"))
    result = rlm.completion("q", library_dir)
    assert result.profile == "reference" and result.answer == "x"
    assert "SHOW_VARS" in root_calls(rlm)[0][0]["content"]
    with pytest.raises(ModelError, match="the profile is one of auto, paper, reference"):
        parse_spec(f"replay:{script}+profile:fancy")
