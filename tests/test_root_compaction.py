"""A root conversation near the window is compacted, not cut: older steps become the model's
summary, their full text stays in the REPL, and it happens once, not on every turn."""

import json

from rlm_desktop import RLM
from rlm_desktop.llm.replay import ReplayBackend, ReplayScript
from rlm_desktop.rlm import prompts
from rlm_desktop.rlm.budget import Budget, Tracker
from rlm_desktop.rlm.events import Notice
from rlm_desktop.rlm.loop import LoopConfig, RunTree


def _tree(replies, window=0):
    root = ReplayBackend(ReplayScript({"root": replies}), "root")
    if window:
        root.describe = lambda: {"kind": "replay", "n_ctx": window}  # type: ignore[method-assign]
    events = []
    tree = RunTree(root, root, LoopConfig(), Tracker(Budget()), events.append)
    return tree, root, events


def _steps(n, size=30):
    messages = [
        {"role": "system", "content": "system"},
        {"role": "user", "content": "first message"},
    ]
    for i in range(1, n + 1):
        messages += [
            {"role": "assistant", "content": f"```repl\nprint({i})\n```"},
            {"role": "user", "content": f"Output of block 1:\n{str(i) * size}"},
        ]
    return messages


def test_older_steps_become_the_models_summary_and_stay_in_the_repl():
    tree, root, events = _tree(["Found 3 users so far; `hits` holds them."])
    messages = _steps(3)
    with tree.repl(0, context="some text") as sandbox:
        assert tree.compact(messages, 0, sandbox)
        kept = sandbox.execute("print(len(earlier_steps), earlier_steps[1]['content'])").stdout
    assert kept.startswith("4 Output of block 1:\n111")  # two steps, reply and output each
    assert [m["role"] for m in messages] == ["system", "user", "assistant", "user"]
    latest = messages[2]["content"]
    assert latest.startswith("(My 2 earlier steps were replaced") and "Found 3 users" in latest
    assert latest.endswith("```repl\nprint(3)\n```") and messages[3]["content"].endswith("333")
    # The summary was asked for at the end of the whole conversation (its cache reused).
    (asked,) = root.calls
    assert asked[-1]["content"].endswith(prompts.COMPACT) and len(asked) == 8
    assert sum(isinstance(e, Notice) and "earlier steps" in e.message for e in events) == 1


def test_a_conversation_near_the_window_is_compacted_once_then_grows_again():
    tree, root, events = _tree(["summary", "reply 1", "reply 2"], window=600)
    messages = _steps(4, size=300)  # ~4 x 100 tokens of output: near a 600-token window
    with tree.repl(0, context="some text") as sandbox:
        assert tree.ask_root(messages, 0, sandbox) == "reply 1"
        assert len(messages) == 4
        messages += [
            {"role": "assistant", "content": "reply 1"},
            {"role": "user", "content": "Output of block 1:\nshort"},
        ]
        assert tree.ask_root(messages, 0, sandbox) == "reply 2"
    notices = [e for e in events if isinstance(e, Notice) and "earlier steps" in e.message]
    assert len(notices) == 1  # the next turn continued the compacted conversation
    assert len(root.calls[2]) == 6


def test_nothing_older_than_the_latest_step_cannot_be_compacted():
    tree, _, _ = _tree([])
    messages = _steps(1)
    with tree.repl(0, context="x") as sandbox:
        assert not tree.compact(messages, 0, sandbox)
    assert len(messages) == 4


def test_the_thinking_of_a_reasoning_model_is_not_sent_back(tmp_path):
    thinking = "<think>\nLet me plan at length. " + "Hmm. " * 50 + "\n</think>\n"
    script = tmp_path / "script.json"
    script.write_text(
        json.dumps({"root": [thinking + "```repl\nprint(6 * 7)\n```", "FINAL(42)"], "sub": []})
    )
    rlm = RLM(f"replay:{script}")
    try:
        result = rlm.completion("q", ["some text"])
        second = rlm.pool.get(rlm.model, "root").calls[1]
    finally:
        rlm.close()
    assert result.answer == "42"
    assert second[2] == {"role": "assistant", "content": "```repl\nprint(6 * 7)\n```"}
