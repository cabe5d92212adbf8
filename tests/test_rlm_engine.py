"""The RLM loop driven by scripted (replay) models: every path, on a real sandbox + library."""

import json
import re
import threading

import pytest

from rlm_desktop.rlm.budget import Budget
from rlm_desktop.rlm.events import CodeRun, Notice, SubCallEnded, TurnStarted
from rlm_desktop.store import Library
from tests.conftest import SAMPLES, repl, scripted

ROOT_LINE = "Dec 10 06:55:46 LabSZ sshd[24200]: Invalid user webmaster from 173.234.31.186"


def test_final_in_code_with_a_cited_snippet(tmp_path, library_dir):
    rlm, events = scripted(
        tmp_path,
        [
            repl("hits = context.grep('Invalid user webmaster')\nprint(hits[0].text)"),
            repl("FINAL('The first invalid user was webmaster ' + cite(hits[0].text.strip()))"),
        ],
    )
    result = rlm.completion("Who was the first invalid user?", library_dir)
    assert result.answer == "The first invalid user was webmaster [1]"
    assert result.stop_reason == "final" and not result.fallback
    (citation,) = result.citations
    assert citation.verified and citation.snippet == ROOT_LINE
    assert citation.path.endswith("OpenSSH_2k.log") and citation.line_start == 2
    assert any(e["via"] == "printed" and e["line_start"] == 2 for e in result.explored)
    assert [type(e) for e in events if isinstance(e, TurnStarted)] == [TurnStarted] * 2
    assert result.usage["total"]["calls"] == 2 and result.usage["subcalls"] == 0


def test_final_in_prose_parses_nested_parentheses_quotes_and_lines(tmp_path, library_dir):
    answer = (
        'It is "webmaster" (from 173.234.31.186 (a VPS)).\nSecond line, with ) inside "quotes )".'
    )
    rlm, _ = scripted(
        tmp_path,
        [
            f"I checked.\n\nFINAL({json.dumps(answer)})\n"
            f'[1] "{ROOT_LINE}"\n[2] "a sentence that is nowhere"'
        ],
    )
    result = rlm.completion("q", library_dir)
    assert result.answer == answer
    assert [(c.n, c.verified) for c in result.citations] == [(1, True), (2, False)]


def test_final_var_in_prose_reads_the_variable(tmp_path, library_dir):
    rlm, _ = scripted(
        tmp_path,
        [
            repl("count = len(context.grep('Failed password'))\nprint(count)"),
            "The count is computed.\nFINAL_VAR(count)",
        ],
    )
    result = rlm.completion("How many failed passwords?", library_dir)
    expected = sum(
        "Failed password" in line for line in (SAMPLES / "OpenSSH_2k.log").read_text().splitlines()
    )
    assert result.answer == str(expected)


def test_final_written_with_unseen_code_output_is_not_accepted(tmp_path, library_dir):
    rlm, events = scripted(
        tmp_path,
        [
            repl("print(len(context.documents))") + "\nFINAL(guessing 3)",
            "FINAL(9 documents)",
        ],
    )
    result = rlm.completion("How many documents?", library_dir)
    assert result.answer == "9 documents"
    assert any(isinstance(e, Notice) and "unseen code output" in e.message for e in events)
    second_prompt = rlm.pool.get(rlm.model, "root").calls[1][-1]["content"]
    assert "Output of block 1:\n9" in second_prompt and "before seeing" in second_prompt


def test_depth_two_runs_a_child_rlm_in_its_own_repl(tmp_path, library_dir):
    rlm, events = scripted(
        tmp_path,
        [
            repl(
                "sub = rlm_query('Which user?', 'log: Invalid user zorro from 10.0.0.1')\n"
                "print(sub)"
            ),
            repl("print(context.upper())"),  # the child's first turn: its context is the text
            repl("FINAL('zorro')"),  # the child's answer
            "FINAL(the child said zorro)",
        ],
        budget=Budget(max_depth=2),
    )
    result = rlm.completion("Who?", library_dir)
    assert result.answer == "the child said zorro"
    runs = [e for e in events if isinstance(e, CodeRun)]
    assert any(e.depth == 1 and "INVALID USER ZORRO" in e.stdout for e in runs)
    assert set(result.usage["by_depth"]) == {"0", "1"}


def test_at_the_depth_limit_rlm_query_is_a_plain_sub_call(tmp_path, library_dir):
    rlm, events = scripted(
        tmp_path,
        [
            repl("print(rlm_query('Which user?', 'Invalid user zorro'))"),
            "FINAL(done)",
        ],
        sub=["zorro (plain sub-call)"],
        budget=Budget(max_depth=1),
    )
    result = rlm.completion("Who?", library_dir)
    assert result.answer == "done"
    ended = [e for e in events if isinstance(e, SubCallEnded)]
    assert ended[0].responses == ["zorro (plain sub-call)"]
    assert "Invalid user zorro" in ended[0].prompts[0]


def test_batched_sub_calls_and_sub_call_budget(tmp_path, library_dir):
    rlm, events = scripted(
        tmp_path,
        [
            repl("answers = llm_query_batched(['a', 'b', 'c'])\nprint(answers)"),
            repl("llm_query_batched(['d', 'e', 'f'])"),
            "FINAL(ok)",
        ],
        sub=["A", "B", "C", "D", "E", "F"],
        budget=Budget(max_subcalls=4),
    )
    result = rlm.completion("q", library_dir)
    runs = [e for e in events if isinstance(e, CodeRun)]
    assert "['A', 'B', 'C']" in runs[0].stdout
    assert "allows 1 more, 3 were asked for" in runs[1].stderr
    assert result.usage["subcalls"] == 3 and result.answer == "ok"


def test_usage_counts_calls_and_tokens_by_depth_in_a_fixed_shape(tmp_path, library_dir):
    rlm, _ = scripted(tmp_path, [repl("print(llm_query('hi'))"), "FINAL(ok)"], sub=["hello"])
    usage = rlm.completion("q", library_dir).usage
    counts = ["calls", "prompt_tokens", "cached_tokens", "completion_tokens"]
    assert list(usage) == ["total", "by_depth", "subcalls", "seconds"]
    assert list(usage["by_depth"]) == ["0", "1"]
    assert all(list(spent) == counts for spent in [usage["total"], *usage["by_depth"].values()])
    assert [usage["by_depth"][d]["calls"] for d in ("0", "1")] == [2, 1]
    assert usage["total"]["calls"] == 3 and usage["subcalls"] == 1
    assert usage["total"]["prompt_tokens"] == sum(
        spent["prompt_tokens"] for spent in usage["by_depth"].values()
    )


def test_iteration_limit_asks_once_for_a_best_answer(tmp_path, library_dir):
    rlm, _ = scripted(
        tmp_path,
        [repl("x = 1"), repl("x += 1"), "FINAL(best guess)"],
        budget=Budget(max_iterations=2),
    )
    result = rlm.completion("q", library_dir)
    assert (result.answer, result.stop_reason, result.best_effort) == (
        "best guess",
        "max_iterations",
        True,
    )


def test_token_budget_ends_the_run_with_a_partial_answer(tmp_path, library_dir):
    rlm, _ = scripted(
        tmp_path,
        ["I think it is 42.\n" + repl("print(context[:4000])")] * 5,
        budget=Budget(max_tokens=3000),
    )
    result = rlm.completion("q", library_dir)
    assert result.stop_reason == "max_tokens" and result.best_effort
    assert "token budget" in result.answer and "42" in result.answer
    spent = result.usage["total"]["prompt_tokens"] + result.usage["total"]["completion_tokens"]
    assert spent < 3000 + 768 + 4000  # at most one call past the limit


def test_time_budget_interrupts_a_slow_cell_and_ends_the_run(tmp_path, library_dir):
    rlm, events = scripted(
        tmp_path,
        [repl("import time\ntime.sleep(30)"), "FINAL(never)"],
        budget=Budget(max_seconds=2),
    )
    result = rlm.completion("q", library_dir)
    (cell,) = [e for e in events if isinstance(e, CodeRun)]
    assert cell.error == "killed"  # the cell was stopped mid-way, not waited for
    assert result.stop_reason == "max_seconds" and result.best_effort
    assert "the time budget of 2 s ran out" in result.answer


def test_cancel_from_another_thread_interrupts_the_running_cell(tmp_path, library_dir):
    rlm, events = scripted(tmp_path, [repl("while True:\n    pass"), "FINAL(never)"])
    timer = threading.Timer(1.0, rlm.cancel)
    timer.start()
    result = rlm.completion("q", library_dir)
    (cell,) = [e for e in events if isinstance(e, CodeRun)]
    assert cell.error == "killed"
    assert result.stop_reason == "cancelled" and "the run was cancelled" in result.answer


def test_no_code_turns_are_nudged_then_the_fallback_answers(tmp_path, library_dir):
    rlm, events = scripted(
        tmp_path, ["I think so.", "Maybe.", "Hmm."], sub=["webmaster tried to log in"]
    )
    result = rlm.completion("Which invalid user tried webmaster logins?", library_dir)
    assert result.fallback and result.answer.startswith("webmaster tried to log in")
    assert sum(isinstance(e, Notice) and "nudged" in e.message for e in events) == 2
    assert result.citations and all(c.verified for c in result.citations)


def test_aggregation_questions_fall_back_to_map_reduce(tmp_path, library_dir):
    rlm, _ = scripted(
        tmp_path,
        ["no code", "still none", "nope"],
        sub=["part 1", "part 2", "part 3", "about 520 in total"],
        budget=Budget(max_subcalls=4),
    )
    result = rlm.completion("How many failed passwords are there in total?", library_dir)
    assert result.fallback and result.answer.startswith("about 520 in total")
    # It says how much the sub-call budget allowed (pieces of 20,000 characters: a scripted
    # model has no window to size them from).
    assert re.search(r"covers 3 of \d+ parts", result.answer)
    assert result.usage["subcalls"] == 4


def test_the_same_failing_code_twice_gets_plain_advice(tmp_path, library_dir):
    code = repl("print(context.documents[99])")
    rlm, _ = scripted(tmp_path, [code, code, "FINAL(gave up)"])
    rlm.completion("q", library_dir)
    third_prompt = rlm.pool.get(rlm.model, "root").calls[2][-1]["content"]
    assert "The same code failed twice" in third_prompt and "context.search" in third_prompt


def test_whitespace_normalised_quotes_verify_and_fabricated_ones_do_not(tmp_path, library_dir):
    squeezed = "Dec 10 06:55:46   LabSZ\nsshd[24200]:  Invalid user webmaster"
    rlm, _ = scripted(
        tmp_path,
        [repl(f"FINAL('a ' + cite({squeezed!r}) + ' b ' + cite('webmaster logged in at noon'))")],
    )
    result = rlm.completion("q", library_dir)
    assert [(c.snippet[:6], c.verified) for c in result.citations] == [
        ("Dec 10", True),
        ("webmas", False),
    ]
    assert result.citations[0].line_start == 2


def test_follow_up_questions_see_the_conversation_history(tmp_path, library_dir):
    rlm, _ = scripted(
        tmp_path,
        ["FINAL(webmaster)", repl("print(history[0]['answer'])"), "FINAL(still webmaster)"],
    )
    first = rlm.completion("Who?", library_dir)
    second = rlm.completion("And again?", library_dir, conversation=first.conversation)
    assert second.answer == "still webmaster"
    first_message = rlm.pool.get(rlm.model, "root").calls[1][1]["content"]
    assert "history_0: Q: Who?" in first_message and "A: webmaster" in first_message
    with Library(library_dir) as lib:
        runs = lib.runs(first.conversation)
    assert [r["question"] for r in runs] == ["Who?", "And again?"]
    saved = lib_run(library_dir, second.run_id)
    assert any(e["kind"] == "code_run" and "webmaster" in e["stdout"] for e in saved["events"])


def lib_run(library_dir, run_id):
    with Library(library_dir) as lib:
        return lib.run(run_id)


def test_no_subcalls_mode_refuses_sub_calls_inside_the_repl(tmp_path, library_dir):
    rlm, events = scripted(tmp_path, [repl("llm_query('hi')"), "FINAL(fine)"], mode="no-subcalls")
    result = rlm.completion("q", library_dir)
    runs = [e for e in events if isinstance(e, CodeRun)]
    assert "turned off in this mode" in runs[0].stderr and result.answer == "fine"


def test_direct_mode_sends_the_context_in_one_prompt(tmp_path, library_dir):
    rlm, _ = scripted(tmp_path, [f'webmaster\n[1] "{ROOT_LINE}"'], mode="direct")
    result = rlm.completion("Who?", library_dir)
    assert result.answer == "webmaster" and result.citations[0].verified
    prompt = rlm.pool.get(rlm.model, "root").calls[0][0]["content"]
    assert prompt.startswith("Documents:\n=== Document 1:") and "Question: Who?" in prompt


def test_plain_string_and_list_contexts_work_without_a_library(tmp_path):
    rlm, _ = scripted(tmp_path, [repl("FINAL(str(len(context)) + ' ' + cite('beta gamma'))")])
    result = rlm.completion("q", ["alpha", "beta gamma delta"])
    assert result.answer == "2 [1]" and result.run_id is None
    assert result.citations[0].status == "too-short" and result.citations[0].span is None


def test_a_replay_script_that_runs_out_is_a_clear_error(tmp_path, library_dir):
    rlm, _ = scripted(tmp_path, [repl("x = 1")])
    from rlm_desktop.llm.base import ModelError

    with pytest.raises(ModelError, match="no more 'root' replies"):
        rlm.completion("q", library_dir)


def test_retrieval_mode_answers_from_the_best_full_text_passages(tmp_path, library_dir):
    rlm, _ = scripted(tmp_path, [f'webmaster\n[1] "{ROOT_LINE}"'], mode="retrieval")
    result = rlm.completion('"Invalid user webmaster"', library_dir)
    prompt = rlm.pool.get(rlm.model, "root").calls[0][0]["content"]
    assert prompt.startswith("Passages:\n[1] OpenSSH_2k.log") and ROOT_LINE in prompt
    assert result.answer == "webmaster" and result.citations[0].verified
    assert result.usage["total"]["calls"] == 1
