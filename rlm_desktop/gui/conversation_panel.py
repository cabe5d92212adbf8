"""The Conversation side: question, model and mode, answer, earlier questions, trajectory."""

from __future__ import annotations

from typing import TYPE_CHECKING

from PySide6.QtCore import QPoint, Qt, QTimer, Signal
from PySide6.QtGui import QKeyEvent
from PySide6.QtWidgets import (
    QCheckBox,
    QComboBox,
    QHBoxLayout,
    QInputDialog,
    QLabel,
    QListWidget,
    QListWidgetItem,
    QMenu,
    QMessageBox,
    QPlainTextEdit,
    QTabWidget,
    QVBoxLayout,
    QWidget,
)

from rlm_desktop.export.content import run_note, scope_words
from rlm_desktop.gui.answer import AnswerView, usage_line
from rlm_desktop.gui.find_bar import FindBar
from rlm_desktop.gui.library_session import Change, LibrarySession
from rlm_desktop.gui.trajectory import TrajectoryView
from rlm_desktop.gui.widgets import StatusLabel, button, confirm
from rlm_desktop.gui.workers import Task
from rlm_desktop.settings import Settings
from rlm_desktop.store import Library
from rlm_desktop.textsafe import printable

if TYPE_CHECKING:
    from rlm_desktop.rlm.engine import RLM, RLMResult


class QuestionBox(QPlainTextEdit):
    """The question editor: Ctrl+Enter asks (Enter alone starts a new line)."""

    submitted = Signal()

    def keyPressEvent(self, event: QKeyEvent) -> None:
        enter = event.key() in (Qt.Key.Key_Return, Qt.Key.Key_Enter)
        if enter and event.modifiers() & Qt.KeyboardModifier.ControlModifier:
            self.submitted.emit()
            return
        super().keyPressEvent(event)


class ConversationPanel(QTabWidget):
    """Asks questions of the library and shows the answers, live and from the history."""

    run_shown = Signal(list, list)  # the shown run's citations and explored passages
    run_started = Signal()  # a new question runs: every pane about the last one is cleared
    error = Signal(str)  # a message the window shows in a dialog

    def __init__(self, session: LibrarySession, settings: Settings) -> None:
        super().__init__()
        self.session = session
        session.changed.connect(self._library_changed)
        self.settings = settings
        self.rlm: RLM | None = None
        self.last_result: RLMResult | None = None
        self.runs: list[dict] = []
        self.current_run_id: int | None = None
        self.conversation_id: str | None = None  # None: the next question starts one
        self.thread_runs: list[dict] = []  # the conversation's runs so far, oldest first
        self.asked = ""  # the question running
        self.selection: list[str] = []  # the documents selected in the library
        self.status_timer = QTimer(self, interval=500)
        self.status_timer.timeout.connect(self._update_status)
        self._build()
        self._show_scope()

    def _build(self) -> None:
        self.question = QuestionBox(placeholderText="Ask a question about your documents…")
        self.question.submitted.connect(self.ask)
        self.question.setAccessibleName("Question")
        self.question.setToolTip("Ctrl+Enter asks")
        self.question.setMaximumHeight(90)
        self.model_box = QComboBox()
        self.model_box.setEditable(True)
        self.model_box.addItems(
            list(dict.fromkeys([self.settings.model, "demo", *self.settings.recent_models]))
        )
        self.model_box.setAccessibleName("Model")
        # A long model path must not widen the panel: the box shrinks and scrolls its text.
        self.model_box.setSizeAdjustPolicy(
            QComboBox.SizeAdjustPolicy.AdjustToMinimumContentsLengthWithIcon
        )
        self.model_box.setMinimumContentsLength(8)
        self.model_box.setToolTip("demo, a .gguf file, openai:MODEL or replay:FILE.json")
        self.mode_box = QComboBox()
        self.mode_box.addItems(["rlm", "no-subcalls", "direct"])
        self.mode_box.setCurrentText(self.settings.mode)
        self.mode_box.setAccessibleName("Mode")
        self.mode_box.setSizeAdjustPolicy(
            QComboBox.SizeAdjustPolicy.AdjustToMinimumContentsLengthWithIcon
        )
        self.mode_box.setMinimumContentsLength(5)
        self.mode_box.setToolTip("rlm: the method; direct: the whole context in one prompt")
        self.ask_button = button("Ask", "Ask the question (Ctrl+Enter)", self.ask)
        self.stop_button = button("Stop", "Stop the run (Esc)", self.stop)
        self.stop_button.setEnabled(False)
        for small in (self.ask_button, self.stop_button):
            small.setMinimumWidth(56)  # the style's 80 px would widen a narrow panel
        controls = QHBoxLayout()
        for widget in (
            QLabel("Model:"),
            self.model_box,
            QLabel("Mode:"),
            self.mode_box,
            self.ask_button,
            self.stop_button,
        ):
            controls.addWidget(widget)
        self.only_selected = QCheckBox("Only the selected documents")
        self.only_selected.setToolTip(
            "Ask about the documents selected in the library only: the REPL's context then "
            "holds only them (as `ask --only PATH`)"
        )
        self.only_selected.toggled.connect(lambda _on: self._show_scope())
        self.scope_label = StatusLabel()
        self.scope_label.setAccessibleName("Question scope")
        scope_row = QHBoxLayout()
        scope_row.addWidget(self.only_selected)
        scope_row.addWidget(self.scope_label, 1)
        self.status = StatusLabel("Ready.")
        self.status.setAccessibleName("Run status")
        self.answer = AnswerView()
        self.answer.run_activated.connect(self.reopen)
        self.history = QListWidget()
        self.history.setAccessibleName("Earlier questions")
        self.history.setToolTip(
            "Earlier questions of this library; click one to reopen it, right-click to rename "
            "or delete it"
        )
        self.history.itemClicked.connect(self._reopen)
        self.history.setContextMenuPolicy(Qt.ContextMenuPolicy.CustomContextMenu)
        self.history.customContextMenuRequested.connect(self._history_menu)
        self.history.setMaximumHeight(110)
        conversation = QWidget()
        layout = QVBoxLayout(conversation)
        layout.addWidget(self.question)
        layout.addLayout(controls)
        layout.addLayout(scope_row)
        layout.addWidget(self.status)
        layout.addWidget(self.answer, 1)
        self.find_bar = FindBar(lambda: self.answer, "answer")
        layout.addWidget(self.find_bar)
        layout.addWidget(QLabel("Earlier questions"))
        layout.addWidget(self.history)
        self.trajectory = TrajectoryView()
        self.addTab(conversation, "Conversation")
        self.addTab(self.trajectory, "Trajectory")

    # ------------------------------------------------------------------ settings

    def apply_settings(self, settings: Settings) -> None:
        """Ask with these settings from now on; the model and mode boxes show theirs."""
        self.settings = settings
        self.use_model(settings.model)
        self.mode_box.setCurrentText(settings.mode)

    def restyle(self) -> None:
        """Draw the answer and the trajectory again after the theme changed."""
        self.answer.restyle()
        self.trajectory.restyle()

    def use_model(self, model: str) -> None:
        """Put ``model`` in the model box (the next question uses it)."""
        self.model_box.setEditText(model)

    # ------------------------------------------------------------------ asking

    def ask(self) -> None:
        """Run the question in the background; the trajectory streams in as it happens."""
        from rlm_desktop.rlm.budget import Budget
        from rlm_desktop.rlm.engine import RLM
        from rlm_desktop.sandbox.host import SandboxLimits

        question = self.question.toPlainText().strip()
        if self.session.busy("ask"):
            self.status.setText("A question is running: wait for it, or stop it (Esc).")
            return
        if not question:
            return
        self.trajectory.start_run()
        self.answer.set_thread(self.thread_runs, question)
        self.answer.show_working()
        self.question.clear()  # the question now heads its card
        self.asked = question
        self.history.clearSelection()
        self.current_run_id = None
        self.last_result = None
        self.run_started.emit()
        self.ask_button.setEnabled(False)
        self.stop_button.setEnabled(True)
        settings = self.settings
        rlm = self.rlm = RLM(
            self.model_box.currentText().strip() or "demo",
            settings.sub_model or None,
            mode=self.mode_box.currentText(),
            budget=Budget.from_settings(settings),
            settings=settings,
            sandbox_limits=SandboxLimits.from_settings(settings),
        )

        conversation, only = self.conversation_id, self.scope() or None

        def work(library: Library, task: Task) -> RLMResult:
            rlm.on_event = task.report
            try:
                return rlm.completion(question, library, conversation=conversation, only=only)
            finally:
                rlm.close()

        self.status_timer.start()
        self.session.run_long(
            "ask",
            work,
            self._answered,
            self._ask_failed,
            self.trajectory.add_event,
            changes=Change.RUNS,
        )

    def stop(self) -> None:
        """Stop a running question: generation stops and the REPL is killed."""
        if self.rlm is not None and self.session.busy("ask"):
            self.rlm.cancel()
            self.status.setText("Stopping…")

    def _update_status(self) -> None:
        progress = self.rlm.progress() if self.rlm is not None else None
        if progress is not None:
            self.status.setText(progress_words(self.trajectory, progress))

    def new_conversation(self) -> None:
        """Start a new conversation: the next question has no earlier answers (Ctrl+N)."""
        if self.session.busy("ask"):
            return
        self.conversation_id, self.thread_runs = None, []
        self.current_run_id = self.last_result = None
        self.answer.set_thread([])
        self.answer.show_nothing()
        self.trajectory.start_run()
        self.history.clearSelection()
        self.run_started.emit()  # the evidence and the source viewer are cleared too
        self.status.setText("New conversation.")
        self.question.setFocus()

    def _answered(self, result: RLMResult) -> None:
        self.current_run_id = result.run_id
        self.conversation_id = result.conversation
        self.thread_runs.append(
            {"id": result.run_id, "question": self.asked, "answer": result.answer}
        )
        self.status_timer.stop()
        self.ask_button.setEnabled(True)
        self.stop_button.setEnabled(False)
        self.last_result = result
        self.show_run(result.to_json())

    def _ask_failed(self, message: str) -> None:
        if not self.question.toPlainText().strip():
            self.question.setPlainText(self.asked)  # to edit and ask again
        self.status_timer.stop()
        self.ask_button.setEnabled(True)
        self.stop_button.setEnabled(False)
        self.answer.show_failure(message)
        self.status.setText("The run failed.")

    def show_run(self, run: dict) -> None:
        """Render a run (``RLMResult.to_json()`` or a saved run): its answer introduced by its
        note, with clickable citation markers; and ask for its evidence."""
        self.answer.show_answer(run["answer"], run["citations"], run_note(run))
        self.status.setText(usage_line(run["usage"], run["stop_reason"]))
        if run.get("profile"):
            self.status.setText(f"{self.status.text()} Protocol: {run['profile']}.")
        if run.get("scope"):
            self.status.setText(f"{self.status.text()} Asked about {scope_words(run['scope'])}.")
        self.run_shown.emit(run["citations"], run["explored"])

    # ------------------------------------------------------------------ scope

    def set_selection(self, paths: list[str]) -> None:
        """The documents selected in the library (asked about when "only" is ticked)."""
        self.selection = list(paths)
        self._show_scope()

    def scope(self) -> list[str]:
        """The documents the next question is about ([]: the whole library)."""
        return self.selection if self.only_selected.isChecked() else []

    def _show_scope(self) -> None:
        if self.only_selected.isChecked() and not self.selection:
            self.scope_label.setText("select documents in the library")
        else:
            self.scope_label.setText(f"Asking about {scope_words(self.scope())}")

    # ------------------------------------------------------------------ history

    def refresh_history(self) -> None:
        """Re-read the earlier questions of the library in the background."""
        self.session.run("history", Library.runs, self._fill_history, self.error.emit)

    def _library_changed(self, change: Change) -> None:
        if change & Change.RUNS:
            self.refresh_history()

    def _fill_history(self, runs: list[dict]) -> None:
        self.history.clear()
        self.runs = runs
        for run in runs:
            self.history.addItem(f"#{run['id']}  {run.get('title') or run['question']}")
        self._select_current()

    def _select_current(self) -> None:
        """Highlight the shown run in the history (nothing while a new one runs)."""
        self.history.clearSelection()
        for row, run in enumerate(self.runs):
            if run["id"] == self.current_run_id:
                self.history.setCurrentRow(row)

    def _reopen(self, item: QListWidgetItem) -> None:
        self.reopen(self.runs[self.history.row(item)]["id"])

    def reopen(self, run_id: int) -> None:
        """Show a saved run in its conversation (the next question follows it up)."""

        def work(library: Library) -> tuple[dict, list[dict]]:
            run = library.run(run_id)
            return run, library.runs(run["conversation"])

        self.session.run("reopen", work, self._show_saved, self.error.emit)

    def _show_saved(self, found: tuple[dict, list[dict]]) -> None:
        run, thread = found
        self.current_run_id = run["id"]
        self.conversation_id = run["conversation"]
        self.thread_runs = thread
        self.answer.set_thread([r for r in thread if r["id"] < run["id"]], run["question"])
        self.trajectory.show_saved(run.get("events") or [])
        self.show_run(run)
        self._select_current()

    def _history_menu(self, at: QPoint) -> None:
        item = self.history.itemAt(at)
        if item is None:
            return
        run = self.runs[self.history.row(item)]
        menu = QMenu(self)
        menu.addAction("Rename…", lambda: self.rename_run(run["id"]))
        menu.addAction("Delete…", lambda: self.confirm_delete_run(run["id"]))
        menu.popup(self.history.viewport().mapToGlobal(at))

    def rename_run(self, run_id: int, title: str | None = None) -> None:
        """Name a saved run in the history (asks for the name when none is given)."""
        if title is None:
            current = next(
                (r.get("title") or r["question"] for r in self.runs if r["id"] == run_id), ""
            )
            title, ok = QInputDialog.getText(self, "Rename", "Name in the history:", text=current)
            if not ok:
                return
        self.session.run(
            "rename run",
            lambda library: library.rename_run(run_id, title),
            on_error=self.error.emit,
            changes=Change.RUNS,
        )

    def confirm_delete_run(self, run_id: int) -> QMessageBox:
        """Ask, then forget a saved run."""
        text = f"Delete question #{run_id} and its answer from the history?"
        box = confirm(self, "Delete", text, lambda: self.delete_run(run_id))
        return box

    def delete_run(self, run_id: int) -> None:
        """Forget a saved run (its answer is cleared if it is the one shown)."""
        if run_id == self.current_run_id:
            self.current_run_id = None
            self.answer.show_nothing()
        self.session.run(
            "delete run",
            lambda library: library.delete_run(run_id),
            on_error=self.error.emit,
            changes=Change.RUNS,
        )


def progress_words(view: TrajectoryView, progress: dict) -> str:
    """A running question's progress in words: "Turn 2 · reading BGL.log lines 1-400 (3
    passages so far) · 8 sub-calls, 3 done · 1,234 tokens · 12 s (588 s left)"."""
    parts = [f"Turn {view.turn or 1}"]
    if view.passages_read:
        where = f"reading {printable(view.last_read)} (" if view.last_read else "reading: "
        close = ")" if view.last_read else ""
        parts.append(f"{where}{view.passages_read} passage(s) so far{close}")
    if view.subcalls_queued:
        parts.append(f"{view.subcalls_queued} sub-calls, {view.subcalls_done} done")
    left = f" ({progress['seconds_left']:.0f} s left)" if progress["seconds_left"] else ""
    parts.append(f"{progress['tokens']:,} tokens · {progress['elapsed']:.0f} s{left}")
    return " · ".join(parts)
