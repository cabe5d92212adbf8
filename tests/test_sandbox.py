"""The REPL child: persistence, helpers, provenance, and adversarial cells."""

import contextlib
import os
import shutil
import socket
import subprocess
import threading

import pytest

from rlm_desktop.bench.pdfgen import write_text_pdf
from rlm_desktop.ingest import pipeline
from rlm_desktop.sandbox.host import Sandbox, SandboxLimits
from rlm_desktop.store import Library
from tests.conftest import SAMPLES


@pytest.fixture(scope="module")
def library_dir(tmp_path_factory):
    folder = tmp_path_factory.mktemp("sandbox-lib")
    docs = folder / "docs"
    shutil.copytree(SAMPLES, docs)
    pages = [
        f"Page {n} of the audit.\nFinding {n}: the vault door was left open {n} times."
        for n in range(1, 6)
    ]
    write_text_pdf(docs / "audit.pdf", pages, title="Audit")
    with Library(folder / "lib") as lib:
        pipeline.ingest(lib, [docs])
    return folder / "lib"


@pytest.fixture(scope="module")
def calls():
    return []


@pytest.fixture(scope="module")
def sandbox(library_dir, calls):
    def answer(call):
        calls.append(call)
        return [f"answer to: {p[:30]}" for p in call.prompts]

    limits = SandboxLimits(timeout_s=10, memory_mb=1024)
    with Sandbox(library=library_dir, limits=limits, on_subcall=answer) as box:
        yield box


def test_context_behaves_like_the_whole_library_text(sandbox, library_dir):
    with Library(library_dir) as lib:
        docs = lib.documents(include_unreadable=False)
        texts = [lib.document_text(d.id) for d in docs]
    result = sandbox.execute(
        "import re\n"
        "print(len(context), isinstance(context, str), len(context.documents))\n"
        "print(context[:2000].splitlines()[0])\n"
        "print(len(re.findall(r'Failed password', context)))\n"
        "print(sum(d.length for d in context.documents))\n"
        "print(context.documents[0].name, context.documents[0].kind)"
    )
    assert result.error is None, result.stderr
    lines = result.stdout.splitlines()
    total, is_str, count = lines[0].split()
    assert is_str == "True" and int(count) == len(docs)
    assert int(total) > sum(len(t) for t in texts)
    assert lines[1].startswith("=== Document 1: ") and docs[0].path in lines[1]
    assert int(lines[2]) == sum(t.count("Failed password") for t in texts)
    assert int(lines[3]) == sum(len(t) for t in texts)


def test_variables_persist_and_changes_are_reported(sandbox):
    first = sandbox.execute("counter = 41\nnotes = ['a']")
    assert sorted(first.changed) == ["counter", "notes"]
    second = sandbox.execute("counter += 1\ncounter")
    assert second.stdout == "42\n" and second.changed == ["counter"]
    assert second.duration_s >= 0


def test_exceptions_come_back_with_a_traceback_and_the_repl_survives(sandbox):
    result = sandbox.execute("def f():\n    return 1 / 0\nf()")
    assert result.error == "exception"
    assert "ZeroDivisionError" in result.stderr and 'File "<cell>", line 2' in result.stderr
    assert sandbox.execute("print('still here')").stdout == "still here\n"


def test_grep_search_chunks_and_locate_know_their_sources(sandbox):
    result = sandbox.execute(
        "m = context.grep(r'vault door was left open 3 ')[0]\n"
        "print(m.document, m.page, m.line)\n"
        "hit = context.search('vault door', k=1)[0]\n"
        "print(hit.document, hit.page is not None)\n"
        "parts = context.chunks(50_000)\n"
        "print(len(parts), ''.join(parts) == context)\n"
        "loc = locate(context.documents[1].text[10:200])\n"
        "print(loc.document, loc.start, loc.end)\n"
        "print(locate('this sentence is not in any document at all'))"
    )
    assert result.error is None, result.stderr
    lines = result.stdout.splitlines()
    assert lines[0] == "audit.pdf 3 8"  # 3 lines a page: text, text, blank
    assert lines[1] == "audit.pdf True"
    assert lines[2].endswith("True")
    assert lines[3].split()[1:] == ["10", "200"]
    assert lines[4] == "None"


def test_printed_library_text_is_recorded_with_its_page_and_lines(sandbox):
    result = sandbox.execute(
        "doc = [d for d in context.documents if d.name == 'audit.pdf'][0]\n"
        "i = doc.text.index('Page 4 of the audit')\n"
        "print('noise before')\n"
        "print(doc.text[i:i + 69])"  # two lines; print's newline is the second line's own
    )
    (explored,) = result.explored
    assert explored.document == "audit.pdf" and explored.page == 4
    assert explored.via == "printed"
    assert (explored.line_start, explored.line_end) == (10, 11)
    assert explored.end - explored.start == 70


def test_sub_calls_reach_the_parent_and_their_prompts_are_provenance(sandbox, calls):
    calls.clear()
    result = sandbox.execute(
        "log = [d for d in context.documents if d.name == 'OpenSSH_2k.log'][0]\n"
        "one = llm_query('Summarise: ' + log.text[:400])\n"
        "many = llm_query_batched(['q1', 'q2', 'q3'])\n"
        "deep = rlm_query('who?', [log.text[1000:1300]])\n"
        "print(one)\nprint(many)\nprint(deep)"
    )
    assert result.error is None, result.stderr
    assert [c.kind for c in calls] == ["llm_query", "llm_query_batched", "rlm_query"]
    assert calls[1].prompts == ["q1", "q2", "q3"]
    assert calls[2].context and calls[2].context[0].startswith(calls[2].context[0][:10])
    assert "answer to: Summarise:" in result.stdout
    via_subcall = [e for e in result.explored if e.via == "subcall"]
    assert next((e.document, e.line_start, e.start, e.end) for e in via_subcall) == (
        "OpenSSH_2k.log",
        1,
        0,
        400,
    )
    assert any(e.start == 1000 and e.end == 1300 for e in via_subcall)


def test_final_and_final_var_end_with_an_answer(sandbox):
    assert sandbox.execute("FINAL('done (really)')").final == "done (really)"
    assert sandbox.execute("answer = 6 * 7\nFINAL_VAR('answer')").final == "42"
    missing = sandbox.execute("FINAL_VAR('nope')")
    assert missing.final is None and "no variable named 'nope'" in missing.stderr


def test_huge_output_is_truncated_with_a_marker(sandbox):
    result = sandbox.execute("print('x' * 100_000_000)")
    assert result.error is None
    assert len(result.stdout) < 25_000
    assert "output truncated: 99,980,001 more characters" in result.stdout
    assert sandbox.execute("print(2 + 2)").stdout == "4\n"


@pytest.mark.parametrize(
    ("code", "expected"),
    [
        ("open('/etc/passwd', 'w')", "PermissionError"),
        ("import os\nos.system('echo hacked')", "PermissionError"),
        ("import subprocess\nsubprocess.run(['ls'])", "PermissionError"),
        ("import os\nfor _ in range(3):\n    os.fork()", "PermissionError"),
        ("import ctypes\nctypes.CDLL(None).system(b'echo hacked')", "PermissionError"),
        ("import os\nos.kill(os.getppid(), 9)", "PermissionError"),
        ("print(open('/root/.bashrc').read())", "Error"),
    ],
)
def test_escapes_are_refused_and_the_next_cell_works(sandbox, code, expected):
    result = sandbox.execute(code)
    assert result.error == "exception" and expected in result.stderr
    assert "hacked" not in result.stdout
    assert sandbox.execute("print('ok')").stdout == "ok\n"


def test_the_library_file_cannot_be_written(sandbox, library_dir):
    db = library_dir / "library.db"
    before = db.read_bytes()
    for code in (
        f"open({str(db)!r}, 'r+b').write(b'junk')",
        f"import os\nos.open({str(db)!r}, os.O_WRONLY)",
    ):
        assert sandbox.execute(code).error == "exception"
    assert db.read_bytes() == before


def test_no_api_key_reaches_the_child(library_dir, monkeypatch):
    monkeypatch.setenv("OPENAI_API_KEY", "sk-planted-test-key")
    with Sandbox(library=library_dir) as box:
        result = box.execute(
            "import os\nprint(sorted(os.environ))\n"
            "try:\n    print(open(f'/proc/{os.getppid()}/environ', 'rb').read())\n"
            "except OSError as e:\n    print('denied', type(e).__name__)"
        )
    assert "sk-planted-test-key" not in result.stdout
    assert "OPENAI_API_KEY" not in result.stdout
    assert "denied" in result.stdout


def test_network_is_unreachable_even_on_localhost(sandbox):
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen(1)
    server.settimeout(0.5)
    port = server.getsockname()[1]
    accepted = []

    def accept():
        with contextlib.suppress(OSError):
            accepted.append(server.accept())

    thread = threading.Thread(target=accept)
    thread.start()
    result = sandbox.execute(f"import socket\nsocket.create_connection(('127.0.0.1', {port}), 2)")
    thread.join()
    server.close()
    assert result.error == "exception" and accepted == []


def test_infinite_loop_is_stopped_and_the_repl_restarts(library_dir):
    with Sandbox(library=library_dir, limits=SandboxLimits(timeout_s=1)) as box:
        box.execute("kept = 1")
        result = box.execute("while True:\n    pass")
        assert result.error == "timeout" and result.state_lost
        after = box.execute("print('kept' in globals(), len(context) > 0)")
        assert after.stdout == "False True\n" and after.state_lost


def test_memory_bomb_fails_with_a_memory_error_and_the_repl_survives(library_dir):
    with Sandbox(library=library_dir, limits=SandboxLimits(memory_mb=1024)) as box:
        box.execute("kept = 1")
        result = box.execute("blob = bytearray(20 * 1024**3)")
        assert result.error == "memory"
        assert box.execute("print(kept)").stdout == "1\n"


@pytest.mark.parametrize(
    "code", ["import os\nos._exit(3)", "import signal\nsignal.raise_signal(signal.SIGKILL)"]
)
def test_a_cell_that_kills_its_process_is_reported_and_replaced(library_dir, code):
    with Sandbox(library=library_dir) as box:
        result = box.execute(code)
        assert result.error == "killed" and result.state_lost
        assert "died" in result.message
        assert box.execute("print(len(context) > 0)").stdout == "True\n"


def test_cancel_from_another_thread_stops_a_running_cell(library_dir):
    with Sandbox(library=library_dir) as box:
        timer = threading.Timer(0.5, box.cancel)
        timer.start()
        result = box.execute("while True:\n    pass", timeout=30)
        assert result.error == "killed" and result.state_lost


def test_plain_string_and_list_contexts(tmp_path):
    with Sandbox(context="alpha line one\nbeta line two\n") as box:
        result = box.execute(
            "print(context == 'alpha line one\\nbeta line two\\n')\n"
            "print(context.grep('beta')[0].line)"
        )
        assert result.stdout == "True\n2\n"
    pieces = [
        "the first piece of text, long enough to be traced back",
        "the second piece of text, long enough to be traced back",
    ]
    with Sandbox(context=pieces) as box:
        result = box.execute("print(type(context).__name__, len(context))\nprint(context[1])")
        assert result.stdout.splitlines()[0] == "list 2"
        assert result.explored[0].document == "document 2"


def test_isolation_is_the_strongest_the_kernel_allows(sandbox):
    isolation = sandbox.isolation
    assert isolation.audit_hook and isolation.rlimits["RLIMIT_CORE"] == 0
    userns = subprocess.run(["unshare", "-Urn", "true"], capture_output=True).returncode == 0
    assert isolation.network_namespace == userns
    if userns and isolation.landlock_abi:
        assert isolation.level == "strong"


def test_the_repl_sees_documents_added_after_an_earlier_repl(tmp_path):
    docs = tmp_path / "docs"
    docs.mkdir()
    (docs / "one.log").write_text("the first document mentions apples\n")
    with Library(tmp_path / "lib") as lib:
        pipeline.ingest(lib, [docs])
    with Sandbox(library=tmp_path / "lib") as box:
        assert box.execute("print('pears' in context)").stdout == "False\n"
    (docs / "two.log").write_text("the second document mentions pears\n")
    with Library(tmp_path / "lib") as lib:
        pipeline.ingest(lib, [docs])
    with Sandbox(library=tmp_path / "lib") as box:
        assert box.execute("print('pears' in context)").stdout == "True\n"
    cache = tmp_path / "lib" / "context-cache"
    assert len(list(cache.glob("*.json"))) == 1  # the stale snapshot was removed
    for text_file in cache.glob("*.txt"):
        text_file.write_text("corrupted")
    with Sandbox(library=tmp_path / "lib") as box:
        result = box.execute(
            "print('pears' in context, 'corrupted' in context)\n"
            "print(locate('the second document mentions pears').document)"
        )
        assert result.stdout == "True False\ntwo.log\n"


def test_without_os_confinement_the_audit_hook_still_refuses(library_dir):
    with Sandbox(library=library_dir, isolate=False) as box:
        assert box.isolation.level == "basic"
        assert not box.isolation.network_namespace and box.isolation.landlock_abi == 0
        for code in (
            "open('/etc/passwd', 'a')",
            "import socket\nsocket.socket()",
            "import subprocess\nsubprocess.run(['true'])",
        ):
            result = box.execute(code)
            assert result.error == "exception" and "sandbox:" in result.stderr


def test_the_private_folder_is_removed_when_the_repl_closes(library_dir):
    box = Sandbox(library=library_dir)
    box.start()
    folder = box.execute("import os\nprint(os.getcwd())").stdout.strip()
    assert box.execute("open('scratch.txt', 'w').write('temporary')").error is None
    box.close()
    assert folder.startswith("/") and not os.path.exists(folder)


def test_a_library_with_windows_line_ends_is_read_from_its_snapshot(tmp_path):
    from rlm_desktop.sandbox import snapshot
    from rlm_desktop.store.reader import LibraryReader

    docs = tmp_path / "docs"
    docs.mkdir()
    (docs / "windows.log").write_bytes(b"2026-01-01 service started\r\nready\r\n" * 40)
    with Library(tmp_path / "lib") as lib:
        pipeline.ingest(lib, [docs])
    db = tmp_path / "lib" / "library.db"
    snapshot.ensure(db)
    reader = LibraryReader.open(db)
    try:
        text, documents, index = snapshot.load(db, reader)
    finally:
        reader.close()
    # The cached text is used (not rebuilt from the passages); ingest made the line ends plain.
    assert index is not None and documents[0]["name"] == "windows.log"
    assert "\r" not in text and text.count("\nready\n") == 40
