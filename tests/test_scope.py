"""Asking about some documents: the REPL's context holds only those, and the run says so."""

import json
import shutil

from click.testing import CliRunner

from rlm_desktop.cli import cli
from rlm_desktop.store import Library
from tests.conftest import SAMPLES


def test_a_scoped_question_s_repl_sees_only_the_chosen_documents(tmp_path):
    docs = tmp_path / "docs"
    shutil.copytree(SAMPLES, docs)
    lib = str(tmp_path / "lib")
    runner = CliRunner()
    assert runner.invoke(cli, ["ingest", str(docs), "--library", lib]).exit_code == 0
    script = tmp_path / "script.json"
    code = (
        "```repl\nheads = [line for line in str(context).splitlines() if line.startswith('===')]\n"
        "names = ','.join(d.name for d in context.documents)\n"
        "hits = [h.document for h in context.search('jk2_init', k=3)]\n"
        "print(context.grep('jk2_init')[0])\n"
        "FINAL(str(len(context)) + ' ' + str(len(heads)) + ' ' + str('Invalid user' in context)"
        " + ' ' + names + ' ' + ','.join(sorted(set(hits))))"
        "\n```"
    )
    script.write_text(json.dumps({"root": [code], "sub": []}))
    chosen = [docs / "Apache_2k.log", docs / "test.docx"]
    result = runner.invoke(
        cli,
        ["ask", "What is there?", "--library", lib, "--model", f"replay:{script}", "--json"]
        + [arg for path in chosen for arg in ("--only", str(path))],
    )
    assert result.exit_code == 0, result.output
    run = json.loads(result.output)
    size, headers, has_ssh_text, names, hit_documents = run["answer"].split(" ")
    with Library(lib) as library:
        docs_in = {d.path: d for d in library.documents()}
        wanted = [docs_in[str(p.resolve())] for p in chosen]
        saved = library.runs()[0]
    # Only the two documents' text (the OpenSSH log's lines are not in it).
    assert headers == "2" and has_ssh_text == "False"
    # Its helpers know the documents (search finds only theirs), and what was printed is
    # traced to its line in the chosen log.
    assert names == "Apache_2k.log,test.docx" and hit_documents == "Apache_2k.log"
    assert [e["document"] for e in run["explored"]] == ["Apache_2k.log"]
    assert int(size) < sum(d.chars for d in wanted) + 500
    assert run["scope"] == saved["scope"] == [d.path for d in wanted]

    missing = runner.invoke(
        cli, ["ask", "?", "--library", lib, "--model", f"replay:{script}", "--only", "/nope"]
    )
    assert missing.exit_code != 0 and "none of /nope" in missing.output
