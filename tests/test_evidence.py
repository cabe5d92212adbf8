"""Evidence a user can trust: whatever way code prints library text, the app knows which
passage reached a model; each citation says whether it was read, only in the library, not
found, or too short to prove anything; fallback answers say so everywhere."""

import json
import shutil
import time

import pytest

from rlm_desktop import RLM
from rlm_desktop.ingest import pipeline
from rlm_desktop.rlm.budget import Budget
from rlm_desktop.sandbox.host import Sandbox, SandboxLimits
from rlm_desktop.store import Library
from tests.conftest import SAMPLES, repl

HEARTBEAT = "2026-03-01 heartbeat from the cluster manager: all nodes report ok"
SSH_LINE = "Dec 10 06:55:46 LabSZ sshd[24200]: Invalid user webmaster from 173.234.31.186"


def _repeat_log() -> str:
    lines = []
    for i in range(1, 61):
        lines.append(HEARTBEAT if i % 2 else f"2026-03-01 event {i:03d}: disk {i} replaced by tech")
    return "\n".join(lines) + "\n"


@pytest.fixture(scope="module")
def library_dir(tmp_path_factory):
    folder = tmp_path_factory.mktemp("evidence")
    docs = folder / "docs"
    shutil.copytree(SAMPLES, docs)
    (docs / "repeat.log").write_text(_repeat_log())
    with Library(folder / "lib") as lib:
        pipeline.ingest(lib, [docs])
    return folder / "lib"


@pytest.fixture(scope="module")
def sandbox(library_dir):
    limits = SandboxLimits(timeout_s=30)
    with Sandbox(
        library=library_dir, limits=limits, on_subcall=lambda c: ["ok"] * len(c.prompts)
    ) as box:
        yield box


def places(result):
    """(document, first line, last line) of each explored passage."""
    return {(e.document, e.line_start, e.line_end) for e in result.explored}


# ------------------------------------------------------------------ printing patterns


@pytest.mark.parametrize(
    "code",
    [
        # grep results printed as the helper formats them ('name:line N: text')
        "for m in context.grep('24200.: Invalid user webmaster'): print(m)",
        # numbered lines
        "lines = [m.text for m in context.grep('24200.: Invalid user webmaster')]\n"
        "for i, line in enumerate(lines, 1): print(f'{i}. {line}')",
        # a list's repr: quotes and commas around each line
        "print([m.text for m in context.grep('24200.: Invalid user webmaster')][:1])",
        # an f-string around the line
        "t = context.grep('24200.: Invalid user webmaster')[0].text\n"
        "print(f'Found: <{t}> (first)')",
        # a line from the document's own text, stripped
        "doc = [d for d in context.documents if d.name == 'OpenSSH_2k.log'][0]\n"
        "print(doc.text.splitlines()[1].strip())",
    ],
    ids=["grep", "numbered", "list-repr", "f-string", "splitlines"],
)
def test_each_way_of_printing_a_line_is_traced_to_that_line(sandbox, code):
    result = sandbox.execute(code)
    assert result.error is None, result.stderr
    assert ("OpenSSH_2k.log", 2, 2) in places(result)
    (record,) = [e for e in result.explored if e.document == "OpenSSH_2k.log"]
    assert record.reader == "root" and record.depth == 0 and record.occurrences == 1
    assert record.span.text.rstrip("\n") in SSH_LINE and len(record.span.text) >= 40


def test_a_slice_starting_mid_line_and_spanning_lines_is_traced(sandbox):
    result = sandbox.execute(
        "doc = [d for d in context.documents if d.name == 'OpenSSH_2k.log'][0]\n"
        "i = doc.text.index('LabSZ sshd[24200]: Invalid')\n"
        "print('>>', doc.text[i:i + 300], '<<')"
    )
    (record,) = result.explored
    assert record.document == "OpenSSH_2k.log" and record.line_start == 2 and record.line_end >= 4
    # What surrounds it in the output (the print separator's space) is not part of it.
    assert record.span.text.startswith("LabSZ sshd[24200]: Invalid")


def test_a_repeated_line_is_attributed_to_the_copy_the_code_was_handed(sandbox):
    # The heartbeat line occurs 30 times; grep hands out line 41, and only that is recorded.
    result = sandbox.execute(
        "hits = [m for m in context.grep('heartbeat') if m.line == 41]\nprint(hits[0].text)"
    )
    assert result.error is None, result.stderr
    assert places(result) == {("repeat.log", 41, 41)}
    assert result.explored[0].occurrences == 1


def test_a_repeated_line_printed_from_nowhere_in_particular_says_so(library_dir):
    with Sandbox(library=library_dir) as fresh:  # no helper has handed out any copy yet
        result = fresh.execute(f"print({HEARTBEAT!r})")
    # The code wrote the text itself: every copy is a candidate, and the record says so.
    assert result.explored and all(e.occurrences > 1 for e in result.explored)
    assert {e.document for e in result.explored} == {"repeat.log"}


def test_a_short_grep_line_is_traced_through_what_grep_handed_out(sandbox):
    # "disk 7 replaced by tech" lines are short; the grep prefix and a label surround it.
    result = sandbox.execute("for m in context.grep('event 006'): print('->', m)")
    assert ("repeat.log", 6, 6) in places(result)


def test_text_that_is_not_in_the_library_is_not_traced(sandbox):
    result = sandbox.execute("print('a sentence the model made up, long enough to be traced!' * 2)")
    assert result.explored == []


def test_only_a_sub_call_that_answered_read_its_prompt(library_dir):
    def refuse(call):
        raise RuntimeError("the prompt overflows the model's window")

    with Sandbox(library=library_dir, on_subcall=refuse) as box:
        result = box.execute(
            "t = context.grep('24200.: Invalid user webmaster')[0].text\n"
            "try:\n    llm_query('Summarise: ' + t)\nexcept RuntimeError as e:\n    pass"
        )
    assert result.error is None and result.explored == []


# ------------------------------------------------------------------ the engine


def scripted(tmp_path, root, sub=(), **kwargs):
    script = tmp_path / f"script-{time.monotonic_ns()}.json"
    script.write_text(json.dumps({"root": list(root), "sub": list(sub)}))
    return RLM(f"replay:{script}", **kwargs)


def test_each_citation_gets_the_status_of_what_the_run_did_with_it(tmp_path, library_dir):
    apache = "[Sun Dec 04 04:47:44 2005] [error] mod_jk child workerEnv in error state 6"
    rlm = scripted(
        tmp_path,
        [
            repl("print(context.grep('24200.: Invalid user webmaster')[0])"),
            repl(
                "FINAL('Read ' + cite('Invalid user webmaster from 173.234.31.186') + "
                f"' library ' + cite({apache!r}) + ' made up ' + "
                "cite('the vault door was left open all night long') + ' short ' + cite('1'))"
            ),
        ],
    )
    result = rlm.completion("q", library_dir)
    statuses = [(c.n, c.status, c.verified) for c in result.citations]
    assert statuses == [
        (1, "read", True),
        (2, "in-library", True),
        (3, "not-found", False),
        (4, "too-short", False),
    ]
    read = result.citations[0]
    assert read.document == "OpenSSH_2k.log" and read.line_start == 2
    record = result.to_json()
    assert [c["status"] for c in record["citations"]] == [s for _, s, _ in statuses]
    assert record["outcome"] == "answer" and record["note"] == ""
    assert all({"reader", "depth", "occurrences"} <= set(e) for e in record["explored"])


def test_a_phrase_repeated_in_the_library_is_located_where_it_was_read(tmp_path, library_dir):
    rlm = scripted(
        tmp_path,
        [
            repl("print([m for m in context.grep('heartbeat') if m.line == 41][0])"),
            repl(f"FINAL('Healthy ' + cite({HEARTBEAT!r}))"),
        ],
    )
    (citation,) = rlm.completion("q", library_dir).citations
    assert citation.status == "read" and citation.line_start == 41


def test_prose_quote_numbers_never_collide_with_cite_numbers(tmp_path, library_dir):
    rlm = scripted(
        tmp_path,
        [
            repl("x = cite('Invalid user webmaster from 173.234.31.186')\nprint(x)"),
            "The user was webmaster [1].\nFINAL(The user was webmaster [1].)\n"
            '[1] "input_userauth_request: invalid user webmaster [preauth]"',
        ],
    )
    result = rlm.completion("q", library_dir)
    numbered = {c.n: c.snippet for c in result.citations}
    # The prose answer's [1] is its own quote line; the cite() registration follows as [2].
    assert numbered[1].startswith("input_userauth_request") and numbered[2].startswith("Invalid")


def test_a_child_rlms_citations_reach_the_parents_answer(tmp_path, library_dir):
    rlm = scripted(
        tmp_path,
        [
            repl(
                "x = cite('pam_unix(sshd:auth): check pass; user unknown')\n"
                "t = '\\n'.join(m.text for m in context.grep('webmaster'))\n"
                "sub = rlm_query('Which user?', t)\nprint(sub)"
            ),
            repl("print(context.search('invalid user webmaster')[0])"),  # the child reads
            repl("FINAL('webmaster ' + cite('Invalid user webmaster from 173.234.31.186'))"),
            repl("FINAL(sub)"),
        ],
        budget=Budget(max_depth=2),
    )
    result = rlm.completion("Who?", library_dir)
    # The parent's own cite() is [1]; the child's [1] became the parent's [2].
    assert result.answer == "webmaster [2]"
    by_n = {c.n: c for c in result.citations}
    assert by_n[1].snippet.startswith("pam_unix")
    assert by_n[2].snippet.startswith("Invalid user webmaster") and by_n[2].status == "read"
    child_reads = [e for e in result.explored if e["reader"] == "sub-call" and e["depth"] == 1]
    assert child_reads and all(e["document"] == "OpenSSH_2k.log" for e in child_reads)


def test_sub_call_prompts_are_read_by_the_sub_call_one_level_down(tmp_path, library_dir):
    rlm = scripted(
        tmp_path,
        [
            repl(
                "t = context.grep('24200.: Invalid user webmaster')[0].text\n"
                "r = llm_query('Who? ' + t)"
            ),
            "FINAL(webmaster)",
        ],
        sub=["webmaster"],
    )
    result = rlm.completion("q", library_dir)
    (record,) = result.explored
    assert (record["reader"], record["depth"], record["via"]) == ("sub-call", 1, "subcall")


def test_final_var_takes_a_value_as_well_as_a_name(tmp_path, library_dir):
    rlm = scripted(tmp_path, [repl("answer = 'forty-two'\nFINAL_VAR(answer)")])
    assert rlm.completion("q", library_dir).answer == "forty-two"
    rlm = scripted(tmp_path, [repl("answer = 'by name'\nFINAL_VAR('answer')")])
    assert rlm.completion("q", library_dir).answer == "by name"


def test_a_fallback_answer_says_so_and_cites_only_what_it_used(tmp_path, library_dir):
    rlm = scripted(tmp_path, ["I think so.", "Maybe.", "Hmm."], sub=["webmaster tried to log in"])
    result = rlm.completion("Which invalid user tried webmaster logins?", library_dir)
    record = result.to_json()
    assert record["outcome"] == "fallback" and record["fallback"] is True
    assert record["note"].startswith("answered by the built-in search-then-read strategy")
    assert "no runnable code" in record["note"]
    # Its quotes come from the passages it gave the sub model, which read them.
    assert result.citations and all(c.status in ("read", "too-short") for c in result.citations)
    assert all(e["via"] == "subcall" for e in result.explored)
    saved = Library(library_dir).run(result.run_id)
    assert saved["outcome"] == "fallback" and saved["note"] == record["note"]


def test_a_fallback_with_nothing_matching_cites_nothing(tmp_path, library_dir):
    rlm = scripted(tmp_path, ["no", "no", "no"])
    result = rlm.completion("Zyxwvut qwertyuiop?", library_dir)
    assert result.outcome == "fallback" and result.citations == []
    assert "nothing to answer from" in result.answer


def test_the_support_check_asks_once_per_citation(tmp_path, library_dir):
    from rlm_desktop.settings import Settings

    rlm = scripted(
        tmp_path,
        [
            repl("print(context.grep('24200.: Invalid user webmaster')[0])"),
            repl(
                "FINAL('The user was webmaster ' + "
                "cite('Invalid user webmaster from 173.234.31.186') + '. It rained ' + "
                "cite('input_userauth_request: invalid user webmaster [preauth]') + '.')"
            ),
        ],
        sub=["Yes.", "no"],
        settings=Settings(check_support=True),
    )
    result = rlm.completion("q", library_dir)
    assert [c.support for c in result.citations] == ["supports", "does not support"]
    prompts = [c[0]["content"] for c in rlm.pool.get(rlm.sub_model, "sub").calls]
    assert "Claim: The user was webmaster" in prompts[0] and "It rained" in prompts[1]


def test_without_the_support_check_nothing_is_asked(tmp_path, library_dir):
    rlm = scripted(
        tmp_path, [repl("FINAL('x ' + cite('Invalid user webmaster from 173.234.31.186'))")]
    )
    result = rlm.completion("q", library_dir)
    assert result.citations[0].support == "not checked"
    assert result.usage["subcalls"] == 0


def test_runs_saved_before_outcomes_existed_read_with_one(tmp_path):
    with Library(tmp_path / "lib") as lib:
        old = {
            "conversation": "c",
            "question": "q",
            "answer": "a",
            "stop_reason": "final",
            "fallback": 1,
            "mode": "rlm",
            "models": {},
            "citations": [{"n": 1, "snippet": "some words of a quote", "verified": True}],
            "explored": [],
            "usage": {},
            "settings": {},
            "events": [],
        }
        run = lib.run(lib.save_run(old))
    assert run["outcome"] == "fallback" and run["note"] == ""
    from rlm_desktop.rlm.citations import Citation

    # v1's "verified" meant "somewhere in the library".
    assert Citation.from_json(run["citations"][0]).status == "in-library"


def test_places_the_child_claims_are_checked_before_use():
    from rlm_desktop.sandbox.cells import read_places

    claimed = {"reads": [[0, 10], [5, 5], [-1, 3], [8, 99], ["a", 2], [1, 2, 3], [True, 4], 7]}
    # Only ranges inside the context count; anything else is dropped, never trusted.
    assert read_places(claimed, 50) == [(0, 10)]
    assert read_places({"reads": "everything"}, 50) == []


def test_repeated_lines_printed_among_others_are_placed_by_their_neighbours(library_dir):
    # Lines 40-44 of repeat.log: the heartbeat lines (41, 43) occur 30 times each, and the
    # code reads them out of a list, which no helper can follow; the lines printed around
    # them settle which copies they are.
    with Sandbox(library=library_dir) as fresh:
        result = fresh.execute(
            "doc = [d for d in context.documents if d.name == 'repeat.log'][0]\n"
            "lines = doc.text.splitlines()\n"
            "for n in range(40, 45): print(f'{n}. {lines[n - 1]}')"
        )
    assert places(result) == {("repeat.log", 40, 44)}
    assert all(e.occurrences == 1 for e in result.explored)


def test_each_cell_says_in_words_where_it_read(tmp_path, library_dir):
    from rlm_desktop.gui.conversation_panel import progress_words
    from rlm_desktop.gui.trajectory import TrajectoryView
    from rlm_desktop.rlm.events import CodeRun

    events = []
    script = tmp_path / "words.json"
    code = "print(context.grep('24200.: Invalid user webmaster')[0])"
    script.write_text(json.dumps({"root": [repl(code), "FINAL(done)"], "sub": []}))
    RLM(f"replay:{script}", on_event=events.append).completion("q", library_dir)
    (cell,) = [e for e in events if isinstance(e, CodeRun)]
    assert cell.read == "OpenSSH_2k.log line 2"
    # The window's live progress line says the same.
    from PySide6.QtWidgets import QApplication

    QApplication.instance() or QApplication([])
    view = TrajectoryView()
    view.add_event(cell)
    words = progress_words(view, {"tokens": 10, "elapsed": 1.0, "seconds_left": 0})
    assert "reading OpenSSH_2k.log line 2 (1 passage(s) so far)" in words
