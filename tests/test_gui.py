"""The window, driven as a person would (pytest-qt, offscreen): drop, ask, inspect, stop."""

import json
import os
import shutil
import tempfile
from pathlib import Path

import pytest
from PySide6.QtCore import QMimeData, QPoint, Qt, QUrl
from PySide6.QtGui import QDropEvent

from rlm_desktop.bench.pdfgen import write_text_pdf
from rlm_desktop.gui.answer import AnswerView
from rlm_desktop.gui.evidence import EvidencePanel
from rlm_desktop.gui.window import MainWindow
from tests.conftest import SAMPLES
from tests.model_layouts import empty_home
from tests.test_export import NOTE, STATUS_WORDS, four_status_run

# Screenshots of the main states go to $RLM_SCREENSHOTS, or to a temporary folder that the
# first test prints (run pytest with -s to see it).
SHOTS = Path(os.environ.get("RLM_SCREENSHOTS") or tempfile.mkdtemp(prefix="rlm-screenshots-"))


@pytest.fixture(autouse=True)
def no_models_on_this_computer(tmp_path, monkeypatch):
    """The welcome screen and Settings look for models: not in the developer's home."""
    empty_home(tmp_path / "home", monkeypatch)


@pytest.fixture
def window(qtbot, tmp_path):
    win = MainWindow(tmp_path / "lib", first_launch=False)
    qtbot.addWidget(win)
    win.resize(1280, 720)
    win.show()
    yield win
    win.close()


def shot(win, name):
    SHOTS.mkdir(parents=True, exist_ok=True)
    assert win.grab().save(str(SHOTS / f"{name}.png"))


def drop(win, paths):
    mime = QMimeData()
    mime.setUrls([QUrl.fromLocalFile(str(p)) for p in paths])
    event = QDropEvent(
        QPoint(10, 10),
        Qt.DropAction.CopyAction,
        mime,
        Qt.MouseButton.NoButton,
        Qt.KeyboardModifier.NoModifier,
    )
    win.dropEvent(event)


def names(win):
    return sorted(Path(d.path).name for d in win.library_panel.documents.documents)


@pytest.fixture
def docs(tmp_path):
    folder = tmp_path / "docs"
    shutil.copytree(SAMPLES, folder)
    write_text_pdf(
        folder / "audit.pdf",
        [f"Audit page {n}.\nThe vault was open {n} times." for n in range(1, 5)],
    )
    return folder


def test_the_window_opens_empty_with_its_title_and_named_controls(window):
    assert window.windowTitle().startswith("RLM Desktop")
    assert window.library_panel.documents.rowCount() == 0
    for widget in (
        window.conversation.question,
        window.conversation.ask_button,
        window.conversation.stop_button,
        window.library_panel.table,
        window.library_panel.filter_box,
        window.conversation.answer,
    ):
        assert widget.accessibleName() and widget.toolTip()
    # The document names stay readable next to the other columns at the default size.
    assert window.library_panel.table.columnWidth(0) >= 150
    shot(window, "1-empty")
    print(f"screenshots of the window's main states: {SHOTS}")


def test_dropping_a_folder_and_a_file_ingests_them_in_the_background(window, qtbot, docs, tmp_path):
    extra = tmp_path / "extra.log"
    extra.write_text("a separate log file\n")
    drop(window, [docs, extra])
    assert window.library_panel.progress.isVisible()
    qtbot.waitUntil(lambda: not window.library_panel.progress.isVisible(), timeout=30_000)
    qtbot.waitUntil(lambda: len(window.library_panel.documents.documents) == 11, timeout=10_000)
    assert "extra.log" in names(window) and "audit.pdf" in names(window)
    assert "added" in window.conversation.status.text()
    window.library_panel.filter_box.setText("audit")
    assert window.library_panel.filtered.rowCount() == 1


def test_cancel_during_ingest_keeps_what_was_done(window, qtbot, tmp_path):
    folder = tmp_path / "many"
    folder.mkdir()
    for i in range(60):
        (folder / f"f{i:02d}.log").write_text(f"file {i}\n" * 500)
    window.ingest([str(folder)])
    shot(window, "2-ingesting")
    window.library_panel.cancel_ingest()
    qtbot.waitUntil(lambda: not window.library_panel.progress.isVisible(), timeout=30_000)
    assert (
        "cancelled" in window.conversation.status.text()
        or "60 added" in window.conversation.status.text()
    )


def _script(tmp_path, root, sub=()):
    path = tmp_path / "script.json"
    path.write_text(json.dumps({"root": list(root), "sub": list(sub)}))
    return f"replay:{path}"


def test_asking_shows_answer_citations_evidence_and_trajectory(window, qtbot, docs, tmp_path):
    window.ingest([str(docs)])
    qtbot.waitUntil(lambda: len(window.library_panel.documents.documents) == 10, timeout=30_000)
    line = "Dec 10 06:55:46 LabSZ sshd[24200]: Invalid user webmaster from 173.234.31.186"
    window.conversation.model_box.setEditText(
        _script(
            tmp_path,
            [
                "```repl\nhits = context.grep('vault was open 3')\nprint(hits[0].text)\n```",
                "```repl\nFINAL('Open 3 times on page 3 ' + cite(hits[0].text) + ', webmaster '"
                f" + cite({line!r}) + ' ' + cite('a made-up quote'))\n```",
            ],
        )
    )
    window.conversation.question.setPlainText("How often was the vault open on page 3?")
    qtbot.keyClick(
        window.conversation.question, Qt.Key.Key_Return, Qt.KeyboardModifier.ControlModifier
    )
    qtbot.waitUntil(lambda: window.conversation.last_result is not None, timeout=60_000)
    html_text = window.conversation.answer.toHtml()
    # The made-up quote is never shown as real (too short to check, or not found).
    unproven = ("✗ not found", "– too short")
    assert "cite:1" in html_text and "unverified" not in html_text
    assert any(words in html_text for words in unproven)
    assert "Open 3 times on page 3" in window.conversation.answer.toPlainText()
    assert "Turn 2" in window.conversation.trajectory.toPlainText()
    assert "vault was open 3" in window.conversation.trajectory.toPlainText()
    top = [
        window.evidence.tree.topLevelItem(i).text(0)
        for i in range(window.evidence.tree.topLevelItemCount())
    ]
    assert any(t.startswith("audit.pdf (") for t in top)
    assert any(t.startswith(unproven) for t in top)
    assert top[0].startswith(("✓ read", "○ in library"))  # citations before the documents
    assert not any(t.startswith("Unverified") for t in top)
    shot(window, "3-answered")

    window.conversation.answer.open_link(
        QUrl("cite:1")
    )  # the PDF citation opens page-true at page 3
    source = window.evidence.source
    assert source.currentWidget() is source.pdf_pane
    assert source.pdf_view.pageNavigator().currentPage() == 2
    assert source.pdf_pane.page_words() == "page 3 of 4"
    qtbot.wait(300)  # pages render asynchronously
    shot(window, "4-pdf-source")

    window.conversation.answer.open_link(
        QUrl("cite:2")
    )  # the log citation opens at its line, highlighted
    qtbot.waitUntil(lambda: source.currentWidget() is source.text_view, timeout=10_000)
    selection = source.text_view.extraSelections()[0]
    assert selection.cursor.selectedText() == line
    assert source.text_view.first_line + selection.cursor.blockNumber() == 2
    shot(window, "5-text-source")
    assert window.conversation.history.count() == 1

    dialog = window.open_export()  # Ctrl+E: a format picker, then a save dialog
    assert dialog.format() == "md" and dialog.this_answer.isChecked()
    dialog.reject()
    target = tmp_path / "answer.html"
    window.export_to(target, "html", whole_history=False, trajectory=True)
    qtbot.waitUntil(lambda: "Exported to" in window.conversation.status.text(), timeout=10_000)
    page = target.read_text()
    assert "Invalid user webmaster" in page and "Appendix" in page
    assert any(words in page for words in unproven)


def test_stop_ends_a_running_question_within_seconds(window, qtbot, tmp_path, docs):
    window.ingest([str(docs / "OpenSSH_2k.log")])
    qtbot.waitUntil(lambda: len(window.library_panel.documents.documents) == 1, timeout=30_000)
    window.conversation.model_box.setEditText(
        _script(tmp_path, ["```repl\nwhile True:\n    pass\n```"])
    )
    window.conversation.question.setPlainText("Loop forever")
    window.conversation.ask()
    qtbot.waitUntil(
        lambda: "Turn 1" in window.conversation.trajectory.toPlainText(), timeout=20_000
    )
    qtbot.keyClick(window, Qt.Key.Key_Escape)
    qtbot.waitUntil(lambda: window.conversation.ask_button.isEnabled(), timeout=5_000)
    assert window.conversation.last_result.stop_reason == "cancelled"


def test_errors_show_as_a_readable_message(window, qtbot, docs):
    window.ingest([str(docs / "OpenSSH_2k.log")])
    qtbot.waitUntil(lambda: len(window.library_panel.documents.documents) == 1, timeout=30_000)
    window.conversation.model_box.setEditText("no-such-model")
    window.conversation.question.setPlainText("Anything?")
    window.conversation.ask()
    qtbot.waitUntil(lambda: window.conversation.ask_button.isEnabled(), timeout=20_000)
    assert "unknown model 'no-such-model'" in window.conversation.answer.toPlainText()
    assert "Traceback" not in window.conversation.answer.toPlainText()


def test_settings_are_saved_reloaded_and_the_key_goes_to_the_keychain_only(
    window, qtbot, isolated_home
):
    import keyring

    from tests.test_llm_openai_keys import MemoryKeyring

    previous = keyring.get_keyring()
    memory = MemoryKeyring()
    keyring.set_keyring(memory)
    try:
        dialog = window.open_settings()
        dialog.max_iterations.setValue(7)
        dialog.offline.setChecked(False)
        dialog.theme.setCurrentText("dark")
        dialog.base_url.setText("http://127.0.0.1:8080/v1")
        dialog.api_key.setText("sk-gui-secret-123")
        dialog.mode.setCurrentText("no-subcalls")
        dialog.ocr.setCurrentText("off")
        dialog.check_support.setChecked(True)
        dialog.large_context.setValue(-1)  # "always map"
        dialog.save()
        qtbot.waitUntil(lambda: window.settings.max_iterations == 7, timeout=5_000)
        from rlm_desktop.settings import load_settings

        saved = load_settings()
        assert (saved.max_iterations, saved.offline, saved.theme, saved.mode) == (
            7,
            False,
            "dark",
            "no-subcalls",
        )
        assert (saved.ocr, saved.check_support) == ("off", True)
        assert saved.large_context_mb == -1
        assert window.conversation.mode_box.currentText() == "no-subcalls"
        assert memory.store == {("rlm-desktop", "127.0.0.1:8080"): "sk-gui-secret-123"}
        for path in isolated_home.rglob("*"):
            assert not path.is_file() or b"sk-gui-secret" not in path.read_bytes()
        reopened = window.open_settings()
        assert reopened.max_iterations.value() == 7 and reopened.api_key.text() == ""
        qtbot.waitUntil(lambda: reopened.isolation.text() != "checking…", timeout=10_000)
        assert reopened.isolation.text().startswith(("strong", "standard", "basic"))
        reopened.reject()
    finally:
        keyring.set_keyring(previous)
        from rlm_desktop.gui.theme import apply_theme

        apply_theme("system")


def test_first_launch_offers_the_demo_model_and_loads_the_samples(qtbot, tmp_path):
    win = MainWindow(tmp_path / "lib", first_launch=True)
    qtbot.addWidget(win)
    win.show()
    dialog = win.first_launch_dialog
    assert dialog.isVisible() and dialog.samples.isChecked()
    shot(dialog, "0-first-launch")
    dialog.accept()
    # The samples' licence files are shipped and shown in About, not ingested as documents.
    qtbot.waitUntil(lambda: len(win.library_panel.documents.documents) == 6, timeout=30_000)
    assert not any(name.startswith("LICENSE") for name in names(win))
    assert win.conversation.model_box.currentText() == "demo"
    win.close()


def test_watched_folders_are_rescanned_when_files_change(window, qtbot, tmp_path):
    folder = tmp_path / "watched"
    folder.mkdir()
    (folder / "first.log").write_text("one\n")
    window.ingest([str(folder)])
    qtbot.waitUntil(lambda: len(window.library_panel.documents.documents) == 1, timeout=20_000)
    window.watch_action.setChecked(True)
    qtbot.waitUntil(lambda: bool(window.library_panel.watcher.directories()), timeout=5_000)
    (folder / "second.log").write_text("two\n")
    qtbot.waitUntil(lambda: len(window.library_panel.documents.documents) == 2, timeout=20_000)


def test_the_trajectory_streams_and_sub_calls_open_in_full(window, qtbot, tmp_path, docs):
    window.ingest([str(docs / "OpenSSH_2k.log")])
    qtbot.waitUntil(lambda: len(window.library_panel.documents.documents) == 1, timeout=30_000)
    window.conversation.model_box.setEditText(
        _script(
            tmp_path,
            [
                "```repl\nimport time\nanswers = llm_query_batched(['first question', 'second'])\n"
                "time.sleep(1.5)\nprint(answers)\n```",
                "FINAL(done)",
            ],
            sub=["answer one", "answer two"],
        )
    )
    window.conversation.question.setPlainText("Fan out")
    window.conversation.ask()
    qtbot.waitUntil(
        lambda: "2 sub-calls, 2 done" in window.conversation.status.text(), timeout=20_000
    )
    shot(window, "3a-answering")
    qtbot.waitUntil(lambda: window.conversation.last_result is not None, timeout=20_000)
    assert "def" not in window.conversation.trajectory.toPlainText()  # code is shown as written
    assert "llm_query_batched" in window.conversation.trajectory.toPlainText()
    index = next(
        i
        for i, e in enumerate(window.conversation.trajectory.events)
        if type(e).__name__ == "SubCallEnded"
    )
    window.conversation.trajectory.open_link(QUrl(f"subcall:{index}"))
    box = window.conversation.trajectory.subcall_dialog
    assert "first question" in box.text.toPlainText() and "answer two" in box.text.toPlainText()
    assert box.width() >= 700 and box.height() >= 500  # big enough to read, not a tiny box


def test_closing_the_window_during_a_run_stops_it(qtbot, tmp_path, docs):
    win = MainWindow(tmp_path / "lib", first_launch=False)
    qtbot.addWidget(win)
    win.ingest([str(docs / "OpenSSH_2k.log")])
    qtbot.waitUntil(lambda: len(win.library_panel.documents.documents) == 1, timeout=30_000)
    win.conversation.model_box.setEditText(
        _script(tmp_path, ["```repl\nwhile True:\n    pass\n```"])
    )
    win.conversation.question.setPlainText("Loop")
    win.conversation.ask()
    qtbot.waitUntil(lambda: "Turn 1" in win.conversation.trajectory.toPlainText(), timeout=20_000)
    win.close()
    assert not win.session.runner.tasks or all(
        not t.thread.is_alive() for t in win.session.runner.tasks
    )


def test_the_latest_benchmark_report_can_be_opened(window, isolated_home, monkeypatch):
    from PySide6.QtGui import QDesktopServices

    opened = []
    monkeypatch.setattr(QDesktopServices, "openUrl", lambda url: opened.append(url) or True)
    assert not window.open_benchmark_report()
    assert "No benchmark report yet" in window.conversation.status.text()
    from rlm_desktop.bench.quality import run_quality

    run_quality(
        kinds=["needle"], lengths=[2000], methods=["rlm"], out=isolated_home / "bench" / "latest"
    )
    assert window.open_benchmark_report()
    assert opened[0].toLocalFile().endswith("bench/latest/report.html")


def _tree_texts(tree):
    """Every item's text in both columns, depth first."""
    texts = []

    def walk(item):
        texts.append((item.text(0), item.text(1)))
        for i in range(item.childCount()):
            walk(item.child(i))

    for i in range(tree.topLevelItemCount()):
        walk(tree.topLevelItem(i))
    return texts


def test_a_shown_run_says_each_citation_status_and_the_note(window):
    run = {**four_status_run(), "id": 1}
    window.conversation.show_run(run)
    answer = window.conversation.answer.toPlainText()
    for words in STATUS_WORDS.values():
        assert words in answer
    assert "· supports" in answer and "· does not support" in answer
    assert "not checked" not in answer
    assert answer.index(NOTE) < answer.index("The key is blue")  # the note comes first
    assert "Stopped by" not in answer and "fallback strategy" not in answer
    assert "report.pdf — page 3 (printed iii), lines 1-1" in answer

    texts = _tree_texts(window.evidence.tree)
    tops = [
        window.evidence.tree.topLevelItem(i).text(0)
        for i in range(window.evidence.tree.topLevelItemCount())
    ]
    # Citations grouped by status, read first; then the explored passages by document.
    assert tops[:4] == [
        "✓ read (1)",
        "○ in library, not read (1)",
        "✗ not found (1)",
        "– too short (1)",
    ]
    assert tops[4:] == ["report.pdf (1 explored)", "web.log (1 explored)"]
    # Each passage says who read it, and when its place is one of several.
    assert ("root · page 3 (printed iii), lines 1-2", "") in texts  # as the export says
    assert ("sub-call (depth 1) · lines 7-7 · one of 3 places", "") in texts
    assert ("[1] ✓ report.pdf — page 3 (printed iii), lines 1-1 · supports", "") in texts
    assert ("[2] ○ web.log — lines 2-2 · does not support", "") in texts
    assert ('[3] ✗ "words nobody wrote"', "") in texts and ('[4] – "yes"', "") in texts
    web_log = window.evidence.tree.topLevelItem(5)  # its coverage strip, then its passages
    tip = web_log.child(1).toolTip(0)
    assert "Read by: sub-call (depth 1)" in tip and "occurs at 3 places" in tip
    shot(window, "6-citation-statuses")


def test_a_run_saved_before_outcomes_shows_the_outcome_words(window):
    old = {**four_status_run(stop_reason="max_iterations", fallback=0), "id": 2}
    del old["outcome"], old["note"]
    old["explored"] = [
        {k: v for k, v in e.items() if k not in ("reader", "depth", "occurrences")}
        for e in old["explored"]
    ]
    window.conversation.show_run(old)
    assert window.conversation.answer.toPlainText().startswith("a best-effort answer")
    assert "stop reason: max_iterations" in window.conversation.status.text()
    texts = _tree_texts(window.evidence.tree)
    assert ("root · page 3 (printed iii), lines 1-2", "") in texts  # as the export says
    assert ("sub-call (depth 1) · lines 7-7", "") in texts  # it went into a sub-call prompt


def test_only_citations_with_a_place_open_their_source(qtbot):
    view = AnswerView()
    qtbot.addWidget(view)
    view.show_answer("See [1] [2] [3] [4].", four_status_run()["citations"], NOTE)
    opened = []
    view.citation_activated.connect(lambda record: opened.append(record["n"]))
    for n in (1, 2, 3, 4):
        view.open_link(QUrl(f"cite:{n}"))
    assert opened == [1, 2]  # read and in library; not found and too short have no place
    html_text = view.toHtml()
    assert "✓" in html_text and html_text.count("✓") == 1  # only the read quote is ticked

    panel = EvidencePanel()
    qtbot.addWidget(panel)
    panel.show_result(four_status_run()["citations"], [], {})
    read_group = panel.tree.topLevelItem(0)
    assert read_group.text(0) == "✓ read (1)"
    assert read_group.child(0).data(0, Qt.ItemDataRole.UserRole)["n"] == 1
    not_found = panel.tree.topLevelItem(2)
    assert not_found.child(0).data(0, Qt.ItemDataRole.UserRole) is None
