"""The Conversation side: question, model and mode, answer, earlier questions, trajectory."""

from __future__ import annotations

from typing import TYPE_CHECKING

from PySide6.QtCore import Qt, QTimer, Signal
from PySide6.QtGui import QKeyEvent
from PySide6.QtWidgets import (
    QComboBox,
    QHBoxLayout,
    QLabel,
    QListWidget,
    QListWidgetItem,
    QPlainTextEdit,
    QTabWidget,
    QVBoxLayout,
    QWidget,
)

from rlm_desktop.export.content import run_note
from rlm_desktop.gui.answer import AnswerView, usage_line
from rlm_desktop.gui.library_session import Change, LibrarySession
from rlm_desktop.gui.trajectory import TrajectoryView
from rlm_desktop.gui.widgets import button
from rlm_desktop.gui.workers import Task
from rlm_desktop.settings import Settings
from rlm_desktop.store import Library

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
        self.status_timer = QTimer(self, interval=500)
        self.status_timer.timeout.connect(self._update_status)
        self._build()

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
        self.model_box.setToolTip("demo, a .gguf file, openai:MODEL or replay:FILE.json")
        self.mode_box = QComboBox()
        self.mode_box.addItems(["rlm", "no-subcalls", "direct"])
        self.mode_box.setCurrentText(self.settings.mode)
        self.mode_box.setAccessibleName("Mode")
        self.mode_box.setToolTip("rlm: the method; direct: the whole context in one prompt")
        self.ask_button = button("Ask", "Ask the question (Ctrl+Enter)", self.ask)
        self.stop_button = button("Stop", "Stop the run (Esc)", self.stop)
        self.stop_button.setEnabled(False)
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
        self.status = QLabel("Ready.")
        self.status.setTextFormat(Qt.TextFormat.PlainText)  # messages may quote file names
        self.status.setAccessibleName("Run status")
        self.answer = AnswerView()
        self.history = QListWidget()
        self.history.setAccessibleName("Earlier questions")
        self.history.setToolTip("Earlier questions of this library; click one to reopen it")
        self.history.itemClicked.connect(self._reopen)
        self.history.setMaximumHeight(110)
        conversation = QWidget()
        layout = QVBoxLayout(conversation)
        layout.addWidget(self.question)
        layout.addLayout(controls)
        layout.addWidget(self.status)
        layout.addWidget(self.answer, 1)
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
        if not question or self.session.busy("ask"):
            return
        self.trajectory.start_run()
        self.answer.show_working()
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

        def work(library: Library, task: Task) -> RLMResult:
            rlm.on_event = task.report
            try:
                return rlm.completion(question, library)
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
        if progress is None:
            return
        view = self.trajectory
        self.status.setText(
            f"Turn {view.turn} · sub-calls {view.subcalls_done} done / "
            f"{view.subcalls_queued - view.subcalls_done} running · "
            f"{progress['tokens']:,} tokens · {progress['elapsed']:.0f} s · "
            f"budget left: {progress['seconds_left']:.0f} s, {progress['tokens_left']:,} tokens"
        )

    def _answered(self, result: RLMResult) -> None:
        self.current_run_id = result.run_id
        self.status_timer.stop()
        self.ask_button.setEnabled(True)
        self.stop_button.setEnabled(False)
        self.last_result = result
        self.show_run(result.to_json())

    def _ask_failed(self, message: str) -> None:
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
        self.run_shown.emit(run["citations"], run["explored"])

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
            self.history.addItem(f"#{run['id']}  {run['question']}")

    def _reopen(self, item: QListWidgetItem) -> None:
        run_id = self.runs[self.history.row(item)]["id"]
        self.session.run(
            "reopen", lambda library: library.run(run_id), self._show_saved, self.error.emit
        )

    def _show_saved(self, run: dict) -> None:
        self.current_run_id = run["id"]
        self.question.setPlainText(run["question"])
        self.show_run(run)
