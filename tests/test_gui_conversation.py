"""The conversation: follow-ups see earlier answers, Ctrl+N starts afresh, Markdown answers,
Find (Ctrl+F) in the source and the answer, and the keyboard shortcuts."""

import json

from PySide6.QtCore import QModelIndex, QUrl
from PySide6.QtGui import QGuiApplication, QKeySequence, QShortcut
from PySide6.QtWidgets import QMessageBox

from rlm_desktop.bench.pdfgen import write_text_pdf
from rlm_desktop.store import Library
from tests import test_gui
from tests.test_export import four_status_run

window, docs = test_gui.window, test_gui.docs
no_models_on_this_computer = test_gui.no_models_on_this_computer


def _ask(window, qtbot, tmp_path, question, replies):
    script = tmp_path / f"script-{len(list(tmp_path.glob('script-*')))}.json"
    script.write_text(json.dumps({"root": replies, "sub": []}))
    conversation = window.conversation
    conversation.model_box.setEditText(f"replay:{script}")
    conversation.question.setPlainText(question)
    conversation.ask()
    qtbot.waitUntil(lambda: conversation.last_result is not None, timeout=30_000)
    return conversation.last_result


def shortcut(window, keys):
    return next(s for s in window.findChildren(QShortcut) if s.key() == QKeySequence(keys))


def test_a_follow_up_sees_the_earlier_answer_and_ctrl_n_starts_afresh(
    window, qtbot, tmp_path, docs
):
    window.ingest([str(docs / "OpenSSH_2k.log")])
    qtbot.waitUntil(lambda: len(window.library_panel.documents.documents) == 1, timeout=30_000)
    conversation = window.conversation
    first = _ask(
        window,
        qtbot,
        tmp_path,
        "What colour is the key?",
        ["```repl\nFINAL('The key is **blue**:\\n\\n- one\\n- two')\n```"],
    )
    assert "<script" not in conversation.answer.toHtml()
    assert "**" not in conversation.answer.toPlainText()  # Markdown is rendered
    second = _ask(
        window,
        qtbot,
        tmp_path,
        "And why?",
        [
            "```repl\nprint('EARLIER:', history[0]['answer'])\n```",
            "```repl\nFINAL('Because.')\n```",
        ],
    )
    assert second.conversation == first.conversation
    assert "EARLIER: The key is **blue**" in conversation.trajectory.toPlainText()
    shown = conversation.answer.toPlainText()
    assert (
        shown.index("What colour is the key?") < shown.index("And why?") < shown.index("Because.")
    )
    conversation.answer.open_link(QUrl("copy:answer"))
    assert QGuiApplication.clipboard().text() == "Because."

    shortcut(window, "Ctrl+N").activated.emit()
    assert conversation.conversation_id is None and not conversation.answer.toPlainText()
    third = _ask(
        window,
        qtbot,
        tmp_path,
        "Anything before?",
        ["```repl\nprint('EARLIER RUNS:', len(history))\n```", "```repl\nFINAL('No.')\n```"],
    )
    assert third.conversation != first.conversation
    assert "EARLIER RUNS: 0" in conversation.trajectory.toPlainText()
    with Library(window.library_dir) as library:
        assert len(library.runs(first.conversation)) == 2

    # Reopening the first answer from the history shows its whole conversation.
    qtbot.waitUntil(lambda: conversation.history.count() == 3, timeout=5_000)
    conversation.reopen(first.run_id)
    qtbot.waitUntil(lambda: conversation.current_run_id == first.run_id, timeout=5_000)
    assert conversation.conversation_id == first.conversation
    assert "And why?" not in conversation.answer.toPlainText()  # later turns are not shown


def test_find_and_the_keyboard_shortcuts(window, qtbot, tmp_path):
    source = window.evidence.source
    source.show_text("/docs/a.log", "alpha\nbeta\ngamma beta\n", 6, 10, 2)
    source.text_view.setFocus()
    window.find_text()
    bar = window.evidence.find_bar
    assert bar.isVisibleTo(window)
    bar.box.setText("beta")
    assert bar.count.text() == "2 found"
    assert source.text_view.textCursor().selectedText() == "beta"
    bar.box.setText("delta")
    assert bar.count.text() == "not found"

    window.conversation.answer.show_answer("The answer is 42.", [], "")
    window.conversation.answer.setFocus()
    window.find_text()
    assert window.conversation.find_bar.isVisibleTo(window)
    window.conversation.find_bar.box.setText("42")
    assert window.conversation.answer.textCursor().selectedText() == "42"

    pdf = tmp_path / "pages.pdf"
    write_text_pdf(pdf, ["Nothing here.", "Nothing here either.", "The vault was open."])
    source.show_pdf(str(pdf), 1, "Nothing here.")
    bar.box.setText("vault")
    qtbot.waitUntil(lambda: source.pdf_search.rowCount(QModelIndex()) == 1, timeout=5_000)
    bar.find_next()  # to the match on page 3
    qtbot.waitUntil(lambda: source.pdf_view.pageNavigator().currentPage() == 2, timeout=5_000)

    shortcut(window, "Ctrl+L").activated.emit()
    assert QGuiApplication.focusObject() is window.conversation.question or (
        window.focusWidget() is window.conversation.question
    )
    for keys in ("Ctrl+Return", "Ctrl+N", "Ctrl+F"):
        assert shortcut(window, keys)


def test_asking_about_the_selected_documents_only(window, qtbot, tmp_path, docs):
    window.ingest([str(docs / "OpenSSH_2k.log"), str(docs / "Apache_2k.log")])
    qtbot.waitUntil(lambda: len(window.library_panel.documents.documents) == 2, timeout=30_000)
    panel, conversation = window.library_panel, window.conversation
    conversation.only_selected.setChecked(True)
    assert "select documents" in conversation.scope_label.text()
    row = next(
        r for r in range(panel.filtered.rowCount()) if "Apache" in panel.filtered.index(r, 0).data()
    )
    panel.table.selectRow(row)
    assert conversation.scope_label.text() == "Asking about 1 document: Apache_2k.log"
    result = _ask(
        window,
        qtbot,
        tmp_path,
        "Which documents?",
        [
            "```repl\nheads = [l for l in str(context).splitlines() if l.startswith('===')]\n"
            "FINAL(str(len(heads)) + ' ' + str('sshd' in context))\n```"
        ],
    )
    assert result.answer == "1 False" and result.scope[0].endswith("Apache_2k.log")
    assert "Asked about 1 document: Apache_2k.log" in conversation.status.toolTip()


def test_history_entries_are_renamed_and_deleted(window, qtbot):
    with Library(window.library_dir) as library:
        first = library.save_run(four_status_run())
        second = library.save_run(four_status_run(question="Second?"))
    conversation = window.conversation
    conversation.refresh_history()
    qtbot.waitUntil(lambda: conversation.history.count() == 2, timeout=5_000)
    conversation.rename_run(first, "Key colour")
    qtbot.waitUntil(
        lambda: conversation.history.item(1).text() == f"#{first}  Key colour", timeout=5_000
    )
    box = conversation.confirm_delete_run(second)  # asks first
    assert conversation.history.count() == 2
    box.button(QMessageBox.StandardButton.Yes).click()
    qtbot.waitUntil(lambda: conversation.history.count() == 1, timeout=5_000)
    assert conversation.runs[0]["id"] == first


def test_the_library_sorts_by_size_and_asks_before_removing(window, qtbot, docs):
    window.ingest([str(docs / "OpenSSH_2k.log"), str(docs / "test.docx")])
    qtbot.waitUntil(lambda: len(window.library_panel.documents.documents) == 2, timeout=30_000)
    panel = window.library_panel
    panel.table.sortByColumn(3, test_gui.Qt.SortOrder.DescendingOrder)  # size, largest first
    assert panel.filtered.index(0, 0).data() == "OpenSSH_2k.log"
    assert panel.filtered.index(0, 3).data().endswith(" KB")
    assert panel.filtered.index(0, 5).data().endswith("k words")
    panel.table.selectRow(0)
    box = panel.confirm_remove()
    box.button(QMessageBox.StandardButton.Cancel).click()
    qtbot.wait(100)
    assert len(panel.documents.documents) == 2
    panel.confirm_remove().button(QMessageBox.StandardButton.Yes).click()
    qtbot.waitUntil(lambda: len(panel.documents.documents) == 1, timeout=5_000)
    assert panel.documents.documents[0].path.endswith("test.docx")
