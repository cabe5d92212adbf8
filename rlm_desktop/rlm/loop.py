"""The root loop of one RLM: ask the model, run its code, show it the output, until FINAL.

A ``RunTree`` holds what the root RLM and its children share: the models, the budget, the
events and what reached a model. Sub-calls from the REPL are answered in ``subcalls``; when
the model gets nowhere, ``fallback`` answers.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

from rlm_desktop.llm.base import Backend, ContextOverflowError, GenerationSettings, Message, Usage
from rlm_desktop.rlm import fallback, prompts, subcalls
from rlm_desktop.rlm.budget import BudgetExceeded, Tracker
from rlm_desktop.rlm.events import CodeRun, Event, ModelText, Notice, TurnStarted
from rlm_desktop.rlm.outcome import Outcome, partial
from rlm_desktop.rlm.parsing import Final, after_final, code_blocks, find_final, prose
from rlm_desktop.sandbox.context import ContextBase
from rlm_desktop.sandbox.host import CellResult, Explored, Sandbox, SandboxLimits


@dataclass(frozen=True)
class LoopConfig:
    """Knobs of the loop (the budget lives in the Tracker)."""

    mode: str = "rlm"  # rlm, no-subcalls or direct
    root_max_tokens: int = 768
    sub_max_tokens: int = 512
    output_chars: int = 4000
    fallback_after: int = 3
    variant: str = "local"
    sandbox: SandboxLimits = field(default_factory=SandboxLimits)


class RunTree:
    """State shared by the root RLM and every child: models, budget, events, provenance."""

    def __init__(
        self,
        root: Backend,
        sub: Backend,
        config: LoopConfig,
        tracker: Tracker,
        emit: Callable[[Event], None],
    ) -> None:
        self.root, self.sub, self.config, self.tracker, self.emit = root, sub, config, tracker, emit
        self.explored: list[Explored] = []
        # The text the run's context came from, to trace what models read against it
        # (set by the engine; child RLMs' REPLs trace their output against it too).
        self.locator: Callable[[], ContextBase] | None = None
        self.sandboxes: set[Sandbox] = set()
        self.stopping: BudgetExceeded | None = None  # set by a sub-call the budget ended

    @contextmanager
    def repl(
        self,
        depth: int,
        *,
        library: Path | None = None,
        context: str | list[str] | None = None,
        variables: dict | None = None,
        only: list[int] | None = None,
    ) -> Iterator[Sandbox]:
        """A started REPL for an RLM at ``depth``, tracked while open so a cancel can kill it
        (``only``: the ids of the library's documents its ``context`` holds, else all)."""
        sandbox = Sandbox(
            library=library,
            context=context,
            only=only,
            limits=self.config.sandbox,
            on_subcall=lambda call: subcalls.answer(self, call, depth),
            variables=variables,
            depth=depth,
            child_rlms=self.config.mode != "no-subcalls"
            and depth + 1 < self.tracker.budget.max_depth,
            locator=self.locator,
        )
        self.sandboxes.add(sandbox)
        try:
            sandbox.start()
            yield sandbox
        finally:
            self.sandboxes.discard(sandbox)
            sandbox.close()

    def loop(
        self, question: str, sandbox: Sandbox, depth: int, overview: str, history: list[dict]
    ) -> Outcome:
        """The root loop of one RLM: ask, run code, show output, until FINAL or a budget."""
        messages: list[Message] = [
            {"role": "system", "content": prompts.system_prompt(self.config.variant)},
            {"role": "user", "content": prompts.first_message(question, overview, history)},
        ]
        no_code = 0
        last_failure: tuple[str, str] | None = None
        last_prose = ""
        for turn in range(1, self.tracker.budget.max_iterations + 1):
            self.emit(TurnStarted(depth, turn))
            try:
                reply = self.ask_root(messages, depth)
            except (BudgetExceeded, ContextOverflowError) as exc:
                return partial(exc, last_prose)
            messages.append({"role": "assistant", "content": reply})
            blocks, final = code_blocks(reply), find_final(reply)
            last_prose = prose(reply).strip() or last_prose
            if not blocks:
                if final is not None:
                    answer = self.resolve(final, sandbox)
                    if answer is not None:
                        tail = after_final(reply)
                        return Outcome(answer, cited=self.cited(sandbox), tail=tail, prose=True)
                    messages.append({"role": "user", "content": prompts.FINAL_VAR_UNKNOWN})
                    continue
                no_code += 1
                if no_code >= self.config.fallback_after:
                    return fallback.built_in(self, question, sandbox, depth)
                self.emit(Notice(depth, "no code in the reply: nudged"))
                messages.append({"role": "user", "content": prompts.NUDGE_NO_CODE})
                continue
            feedback = []
            runnable = False
            for number, code in enumerate(blocks, 1):
                if self.tracker.cancel.is_set():
                    return partial(self.tracker.stop_reason(), last_prose)
                result = self.run_cell(sandbox, code, depth)
                runnable = runnable or "SyntaxError" not in result.stderr
                if self.stopping is not None:
                    return partial(self.stopping, last_prose)
                feedback.append(self._show(number, result))
                if result.final is not None:
                    return Outcome(result.final, cited=result.citations)
                if result.error:
                    if last_failure == (code, result.stderr):
                        feedback.append(prompts.REPEATED_ERROR.format(error=result.message))
                        self.emit(Notice(depth, "the same code failed twice"))
                    last_failure = (code, result.stderr)
            no_code = 0 if runnable else no_code + 1
            if not runnable and no_code >= self.config.fallback_after:
                return fallback.built_in(self, question, sandbox, depth)
            if final is not None:
                feedback.append(prompts.FINAL_TOO_EARLY)
                self.emit(Notice(depth, "FINAL came with unseen code output: asked again"))
            messages.append({"role": "user", "content": "\n\n".join(feedback)})
        return fallback.last_call(self, messages, sandbox, depth, last_prose)

    def ask_root(self, messages: list[Message], depth: int) -> str:
        """One root-model turn, streamed; the oldest turns are dropped if the window is full."""
        while True:
            try:
                return self._stream(messages, depth)
            except ContextOverflowError:
                # Policy: keep the system prompt, the first message and the newest turns.
                if len(messages) <= 4:
                    raise
                del messages[2:4]
                self.emit(
                    Notice(
                        depth,
                        "the conversation outgrew the model's window: the "
                        "oldest step was dropped from the prompt",
                    )
                )

    def _stream(self, messages: list[Message], depth: int) -> str:
        self.tracker.check(self.config.root_max_tokens)
        usage = Usage()
        chunks: list[str] = []
        settings = GenerationSettings(max_tokens=self.config.root_max_tokens)
        try:
            with self.root.lock:
                for chunk in self.root.stream(messages, settings, usage, self.tracker.cancel):
                    chunks.append(chunk)
                    self.emit(ModelText(depth, chunk))
        finally:
            self.tracker.record(depth, usage, subcall=False)
        if self.tracker.cancel.is_set():
            raise self.tracker.stop_reason()
        return "".join(chunks)

    def run_cell(self, sandbox: Sandbox, code: str, depth: int, shown: bool = True) -> CellResult:
        """Run code in the REPL, keep what it explored, and report it as an event.

        ``shown`` says that a model will read the output (as much as ``_show`` shows), so
        that much is traced as read; a cell the app runs itself is read by no model.
        """
        result = sandbox.execute(code, shown_chars=self.config.output_chars if shown else 0)
        self.explored.extend(result.explored)
        self.emit(
            CodeRun(
                depth,
                code,
                result.stdout,
                result.stderr,
                result.error,
                result.duration_s,
                len(result.explored),
                _places_in_words(result.explored),
            )
        )
        return result

    @staticmethod
    def resolve(final: Final, sandbox: Sandbox) -> str | None:
        """The answer a FINAL(...) in prose gives; for FINAL_VAR, the variable's value, if any."""
        if final.kind == "FINAL":
            return final.argument
        name = final.argument.strip().strip("'\"")
        if not name.isidentifier():
            return None  # in prose, FINAL_VAR names a variable; a value goes in FINAL(...)
        return sandbox.execute(f"FINAL_VAR({name!r})", shown_chars=0).final

    @staticmethod
    def cited(sandbox: Sandbox) -> list[str]:
        """The snippets the REPL registered with cite() so far."""
        return sandbox.execute("pass", shown_chars=0).citations

    def _show(self, number: int, result: CellResult) -> str:
        """What the model sees of a cell: its output, cut to the limit, or its error."""
        limit = self.config.output_chars
        parts = [f"Output of block {number}:"]
        for label, text in (("", result.stdout), ("stderr: ", result.stderr)):
            if text:
                cut = (
                    f"\n[... {len(text) - limit:,} more characters not shown]"
                    if len(text) > limit
                    else ""
                )
                parts.append(label + text[:limit] + cut)
        if result.error in ("timeout", "memory", "killed"):
            parts.append(f"error: {result.message}")
        if len(parts) == 1:
            parts.append("(nothing printed)")
        return "\n".join(parts)


def _places_in_words(explored: list[Explored], shown: int = 2) -> str:
    """ "BGL.log lines 1-400, audit.pdf p. 3 lines 5-9 and 4 more" for a cell's reads."""
    places = []
    for record in explored:
        page = f" p. {record.page}" if record.page is not None else ""
        lines = f"line {record.line_start}"
        if record.line_end != record.line_start:
            lines = f"lines {record.line_start}-{record.line_end}"
        places.append(f"{record.document}{page} {lines}")
    more = f" and {len(places) - shown} more" if len(places) > shown else ""
    return ", ".join(places[:shown]) + more
