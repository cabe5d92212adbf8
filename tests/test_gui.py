"""The window, driven as a person would (pytest-qt, offscreen): drop, ask, inspect, stop."""

import json
import os
import shutil
from pathlib import Path

import pytest
from PySide6.QtCore import QMimeData, QPoint, Qt, QUrl
from PySide6.QtGui import QDropEvent

from rlm_desktop.bench.pdfgen import write_text_pdf
from rlm_desktop.gui.window import MainWindow
from tests.conftest import SAMPLES

SHOTS = Path(os.environ.get("RLM_SCREENSHOTS", "")) if os.environ.get("RLM_SCREENSHOTS") else None


@pytest.fixture
def window(qtbot, tmp_path):
    win = MainWindow(tmp_path / "lib")
    qtbot.addWidget(win)
    win.resize(1280, 720)
    win.show()
    yield win
    win.close()


def shot(win, name):
    if SHOTS is not None:
        SHOTS.mkdir(parents=True, exist_ok=True)
        win.grab().save(str(SHOTS / f"{name}.png"))


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
    return sorted(Path(d.path).name for d in win.documents.documents)


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
    assert window.documents.rowCount() == 0
    for widget in (
        window.question,
        window.ask_button,
        window.stop_button,
        window.table,
        window.filter_box,
        window.answer,
    ):
        assert widget.accessibleName() and widget.toolTip()
    shot(window, "1-empty")


def test_dropping_a_folder_and_a_file_ingests_them_in_the_background(window, qtbot, docs, tmp_path):
    extra = tmp_path / "extra.log"
    extra.write_text("a separate log file\n")
    drop(window, [docs, extra])
    assert window.progress.isVisible()
    qtbot.waitUntil(lambda: len(window.documents.documents) == 11, timeout=30_000)
    assert "extra.log" in names(window) and "audit.pdf" in names(window)
    assert not window.progress.isVisible()
    assert "added" in window.status.text()
    window.filter_box.setText("audit")
    assert window.filtered.rowCount() == 1


def test_cancel_during_ingest_keeps_what_was_done(window, qtbot, tmp_path):
    folder = tmp_path / "many"
    folder.mkdir()
    for i in range(60):
        (folder / f"f{i:02d}.log").write_text(f"file {i}\n" * 500)
    window.ingest([str(folder)])
    shot(window, "2-ingesting")
    window._cancel_ingest()
    qtbot.waitUntil(lambda: not window.progress.isVisible(), timeout=30_000)
    assert "cancelled" in window.status.text() or "60 added" in window.status.text()


def _script(tmp_path, root, sub=()):
    path = tmp_path / "script.json"
    path.write_text(json.dumps({"root": list(root), "sub": list(sub)}))
    return f"replay:{path}"


def test_asking_shows_answer_citations_evidence_and_trajectory(window, qtbot, docs, tmp_path):
    window.ingest([str(docs)])
    qtbot.waitUntil(lambda: len(window.documents.documents) == 10, timeout=30_000)
    line = "Dec 10 06:55:46 LabSZ sshd[24200]: Invalid user webmaster from 173.234.31.186"
    window.model_box.setEditText(
        _script(
            tmp_path,
            [
                "```repl\nhits = context.grep('vault was open 3')\nprint(hits[0].text)\n```",
                "```repl\nFINAL('Open 3 times on page 3 ' + cite(hits[0].text) + ', webmaster '"
                f" + cite({line!r}) + ' ' + cite('a made-up quote'))\n```",
            ],
        )
    )
    window.question.setPlainText("How often was the vault open on page 3?")
    qtbot.keyClick(window.question, Qt.Key.Key_Return, Qt.KeyboardModifier.ControlModifier)
    qtbot.waitUntil(lambda: window.last_result is not None, timeout=60_000)
    html_text = window.answer.toHtml()
    assert "cite:1" in html_text and "unverified" in html_text
    assert "Open 3 times on page 3" in window.answer.toPlainText()
    assert "Turn 2" in window.trajectory.toPlainText()
    assert "vault was open 3" in window.trajectory.toPlainText()
    top = [
        window.evidence.tree.topLevelItem(i).text(0)
        for i in range(window.evidence.tree.topLevelItemCount())
    ]
    assert "audit.pdf (1)" in top and any(t.startswith("Unverified") for t in top)
    shot(window, "3-answered")

    window._anchor_clicked(QUrl("cite:1"))  # the PDF citation opens page-true at page 3
    source = window.evidence.source
    assert source.currentWidget() is source.pdf_view
    assert source.pdf_view.pageNavigator().currentPage() == 2
    qtbot.wait(300)  # pages render asynchronously
    shot(window, "4-pdf-source")

    window._anchor_clicked(QUrl("cite:2"))  # the log citation opens at its line, highlighted
    qtbot.waitUntil(lambda: source.currentWidget() is source.text_view, timeout=10_000)
    cursor = source.text_view.textCursor()
    assert cursor.selectedText() == line
    assert cursor.blockNumber() + 1 == 2
    shot(window, "5-text-source")
    assert window.history.count() == 1


def test_stop_ends_a_running_question_within_seconds(window, qtbot, tmp_path, docs):
    window.ingest([str(docs / "OpenSSH_2k.log")])
    qtbot.waitUntil(lambda: len(window.documents.documents) == 1, timeout=30_000)
    window.model_box.setEditText(_script(tmp_path, ["```repl\nwhile True:\n    pass\n```"]))
    window.question.setPlainText("Loop forever")
    window.ask()
    qtbot.waitUntil(lambda: "Turn 1" in window.trajectory.toPlainText(), timeout=20_000)
    qtbot.keyClick(window, Qt.Key.Key_Escape)
    qtbot.waitUntil(lambda: window.ask_button.isEnabled(), timeout=5_000)
    assert window.last_result.stop_reason == "cancelled"


def test_errors_show_as_a_readable_message(window, qtbot, docs):
    window.ingest([str(docs / "OpenSSH_2k.log")])
    qtbot.waitUntil(lambda: len(window.documents.documents) == 1, timeout=30_000)
    window.model_box.setEditText("no-such-model")
    window.question.setPlainText("Anything?")
    window.ask()
    qtbot.waitUntil(lambda: window.ask_button.isEnabled(), timeout=20_000)
    assert "unknown model 'no-such-model'" in window.answer.toPlainText()
    assert "Traceback" not in window.answer.toPlainText()
