"""The root loop of one RLM: ask the model, run its code, show it the output, until FINAL.

A ``RunTree`` holds what the root RLM and its children share: the models, the budget, the
events and what reached a model. Sub-calls from the REPL are answered in ``subcalls``; when
the model gets nowhere, ``fallback`` answers.

When the conversation nears the root model's window, its older steps are compacted: replaced
by a summary the model writes, their full text kept in the REPL (``earlier_steps``), so the
model's cache is rebuilt once rather than on every turn (dropping the oldest step each turn
would shift the whole prompt every time).
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

from rlm_desktop.llm.base import Backend, ContextOverflowError, GenerationSettings, Message, Usage
from rlm_desktop.rlm import fallback, profiles, prompts, subcalls
from rlm_desktop.rlm.budget import BudgetExceeded, Tracker
from rlm_desktop.rlm.events import CodeRun, Event, ModelText, Notice, TurnStarted
from rlm_desktop.rlm.outcome import Outcome, partial
from rlm_desktop.rlm.parsing import Final, after_final, code_blocks, find_final, prose
from rlm_desktop.rlm.subcalls import Sizes
from rlm_desktop.sandbox.context import ContextBase
from rlm_desktop.sandbox.host import CellResult, Explored, Sandbox, SandboxLimits
from rlm_desktop.sandbox.tools import Tools


@dataclass(frozen=True)
class LoopConfig:
    """Knobs of the loop (the budget lives in the Tracker)."""

    mode: str = "rlm"  # rlm, no-subcalls or direct
    # A root reply's limit (lowered to what the window has left); 0: ``reply_limit``.
    root_max_tokens: int = 0
    sub_max_tokens: int = 512
    output_chars: int = 4000
    fallback_after: int = 3
    variant: str = "local"
    profile: str = "paper"  # the protocol the prompt describes (rlm/profiles.py)
    sandbox: SandboxLimits = field(default_factory=SandboxLimits)
    tools: Tools | None = None  # the user's custom tools, loaded into every REPL


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
        self.sizes: dict[Sandbox, Sizes] = {}  # what a sub-call prompt holds, per REPL

    @contextmanager
    def repl(
        self,
        depth: int,
        *,
        library: Path | None = None,
        context: str | list[str] | None = None,
        variables: dict | None = None,
        only: list[int] | None = None,
        earlier: list[list[int] | None] | None = None,
    ) -> Iterator[Sandbox]:
        """A started REPL for an RLM at ``depth``, tracked while open so a cancel can kill it
        (``only``: the ids of the library's documents its ``context`` holds, else all;
        ``earlier``: those of earlier turns, as ``context_0 …``)."""
        room = subcalls.sizes(self.sub, self.config.sub_max_tokens, self._text_of(context))
        sandbox = Sandbox(
            library=library,
            context=context,
            only=only,
            limits=self.config.sandbox,
            on_subcall=lambda call: subcalls.answer(self, call, depth, room),
            variables=variables,
            depth=depth,
            child_rlms=self.config.mode != "no-subcalls"
            and depth + 1 < self.tracker.budget.max_depth,
            locator=self.locator,
            chunk_chars=room.chunk_chars,
            tools=self.config.tools,
            earlier=earlier,
        )
        self.sandboxes.add(sandbox)
        self.sizes[sandbox] = room
        try:
            sandbox.start()
            yield sandbox
        finally:
            self.sandboxes.discard(sandbox)
            self.sizes.pop(sandbox, None)
            sandbox.close()

    def _text_of(self, context: str | list[str] | None) -> str | ContextBase:
        """The text a REPL will hold (the library's when it is given none, which may be a
        mapped large context: only samples of it are read), to measure."""
        if isinstance(context, str):
            return context
        if context is not None:
            return "\n".join(context)
        return self.locator() if self.locator is not None else ""

    def loop(
        self, question: str, sandbox: Sandbox, depth: int, overview: str, history: list[dict]
    ) -> Outcome:
        """The root loop of one RLM: ask, run code, show output, until FINAL or a budget."""
        config = self.config
        tools = config.tools.prompt() if config.tools is not None else ""
        system = profiles.system_prompt(config.profile, config.variant, tools)
        first = prompts.first_message(question, overview, history, profiles.helpers(config.profile))
        messages: list[Message] = [
            {"role": "system", "content": system},
            {"role": "user", "content": first},
        ]
        no_code = 0
        last_failure: tuple[str, str] | None = None
        last_prose = ""
        for turn in range(1, self.tracker.budget.max_iterations + 1):
            self.emit(TurnStarted(depth, turn))
            try:
                reply = self.ask_root(messages, depth, sandbox)
            except (BudgetExceeded, ContextOverflowError) as exc:
                return partial(exc, last_prose)
            messages.append({"role": "assistant", "content": without_thinking(reply)})
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
            runnable = printed = False
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
                # Like FINAL in prose, a ready answer counts once the model saw the output.
                printed = printed or bool(result.stdout or result.stderr)
                if result.answer is not None:
                    if not printed:
                        return Outcome(result.answer, cited=result.citations)
                    self.run_cell(sandbox, 'answer["ready"] = False', depth, shown=False)
                    feedback.append(prompts.ANSWER_TOO_EARLY)
                    self.emit(Notice(depth, "answer came with unseen code output: asked again"))
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

    @property
    def reply_tokens(self) -> int:
        """The root reply's limit (the configured one, else the model's own)."""
        return self.config.root_max_tokens or reply_limit(self.root.describe())

    def ask_root(self, messages: list[Message], depth: int, sandbox: Sandbox) -> str:
        """One root-model turn, streamed. A conversation near the window is compacted first."""
        if self._crowded(messages):
            self.compact(messages, depth, sandbox)
        try:
            return self._stream(messages, depth)
        except ContextOverflowError:
            if not self.compact(messages, depth, sandbox):
                raise
            return self._stream(messages, depth)

    def _crowded(self, messages: list[Message]) -> bool:
        """True when the prompt leaves the reply less room than it should have (a quarter
        of the window, or root_max_tokens if that is less)."""
        window = self.root.describe().get("n_ctx") or 0
        if not window:
            return False  # a remote model: compacted only if it says the prompt is too long
        used = sum(self.root.count_tokens(m["content"]) + _MESSAGE_TOKENS for m in messages)
        return used + min(self.reply_tokens, window // 4) > window

    def compact(self, messages: list[Message], depth: int, sandbox: Sandbox) -> bool:
        """Replace the steps before the latest one by a summary the model writes; their full
        text goes to the REPL variable ``earlier_steps``. False when there is nothing older
        than the latest step to replace."""
        latest = max((i for i, m in enumerate(messages) if m["role"] == "assistant"), default=0)
        older = messages[2:latest]
        if len(older) < 2:
            return False
        summary = self._summary(messages, older, depth)
        steps = json.dumps([{"role": m["role"], "content": m["content"]} for m in older])
        self.run_cell(sandbox, _KEEP_STEPS.format(steps=steps), depth, shown=False)
        note = prompts.compacted(summary, len(older) // 2)
        tail = messages[latest:]
        tail[0] = {"role": "assistant", "content": f"{note}\n\n{tail[0]['content']}"}
        messages[2:] = tail
        self.emit(
            Notice(
                depth,
                f"the conversation neared the model's window: {len(older) // 2} earlier steps "
                "were replaced by the model's summary (their full text is in earlier_steps)",
            )
        )
        return True

    def _summary(self, messages: list[Message], older: list[Message], depth: int) -> str:
        """The model's summary of the run so far; a list of the code that ran when even the
        request for a summary does not fit."""
        last = messages[-1]
        if last["role"] == "user":
            asking = [*messages[:-1], {"role": "user", "content": f"{last['content']}\n\n"}]
            asking[-1]["content"] += prompts.COMPACT
        else:
            asking = [*messages, {"role": "user", "content": prompts.COMPACT}]
        try:
            reply = self._stream(asking, depth, max_tokens=prompts.COMPACT_TOKENS, shown=False)
        except ContextOverflowError:
            reply = ""
        summary = prose(reply).strip()
        if summary:
            return summary
        ran = [code.strip().splitlines()[0] for m in older for code in code_blocks(m["content"])]
        return "Code I ran: " + "; ".join(f"`{line}`" for line in ran) if ran else "(none)"

    def _stream(
        self,
        messages: list[Message],
        depth: int,
        max_tokens: int | None = None,
        shown: bool = True,
    ) -> str:
        """Ask the root model; ``shown`` streams the reply to the events as it comes."""
        max_tokens = max_tokens or self.reply_tokens
        self.tracker.check(max_tokens)
        usage = Usage()
        chunks: list[str] = []
        settings = GenerationSettings(max_tokens=max_tokens)
        try:
            with self.root.lock:
                for chunk in self.root.stream(messages, settings, usage, self.tracker.cancel):
                    chunks.append(chunk)
                    if shown:
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


# Tokens a chat template adds around each message (a cautious figure for a size check).
_MESSAGE_TOKENS = 8
_THINKING = re.compile(r"<think>.*?(?:</think>\s*|\Z)", re.DOTALL | re.I)
# The app's own cell that keeps compacted steps in the REPL.
_KEEP_STEPS = """
import json as _json
try:
    earlier_steps
except NameError:
    earlier_steps = []
earlier_steps += _json.loads({steps!r})
"""


def reply_limit(description: dict) -> int:
    """A root reply's limit for a model: room for a <think> block and the reply for one that
    reasons (or a remote one, which may reason unseen), else room for code and prose. A small
    model that rambles on is cut off at the lower limit."""
    if description.get("thinks") or description.get("kind") == "openai-compatible":
        return 4096
    return 1024


def without_thinking(reply: str) -> str:
    """A reply as it is sent back on the next turn: without its <think> block."""
    return _THINKING.sub("", reply).strip() or "(reasoning only, no reply)"


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
