"""One run tree of the RLM method: the root loop, its sub-calls, child RLMs and fallbacks."""

from __future__ import annotations

import logging
import re
from collections.abc import Callable
from dataclasses import dataclass, field

from rlm_desktop.llm.base import (
    Backend,
    ContextOverflowError,
    GenerationSettings,
    Message,
    ModelError,
    Usage,
)
from rlm_desktop.rlm import prompts
from rlm_desktop.rlm.budget import BudgetExceeded, Tracker
from rlm_desktop.rlm.events import (
    CodeRun,
    Event,
    ModelText,
    Notice,
    SubCallEnded,
    SubCallStarted,
    TurnStarted,
)
from rlm_desktop.rlm.parsing import Final, code_blocks, find_final, prose
from rlm_desktop.sandbox.host import CellResult, Explored, Sandbox, SandboxLimits, SubCall

log = logging.getLogger(__name__)

_AGGREGATION = re.compile(
    r"\b(how many|count|number of|list (all|every)|all the|every|each|total|most|least|"
    r"frequen|distribution|compare|pairs?)\b",
    re.I,
)

_FALLBACK_LOOKUP = """
_q = {question!r}
try:
    _texts = [h.text for h in context.search(_q, k=5)]
except Exception:
    _texts = []
if not _texts:
    _texts = context.chunks(4000)[:3]
_passages = "\\n\\n".join(f"Passage {{i + 1}}:\\n{{t[:2000]}}" for i, t in enumerate(_texts))
try:
    _answer = llm_query(
        "Answer the question using only these passages. Be brief.\\n"
        f"Question: {{_q}}\\n\\n{{_passages}}"
    ).strip()
except Exception:
    _answer = "The most relevant passage reads: " + _texts[0].strip()[:500]
_marks = "".join(cite(t.strip().split("\\n")[0][:200]) for t in _texts[:3] if t.strip())
FINAL(f"{{_answer}} {{_marks}}")
"""

_FALLBACK_AGGREGATE = """
_q = {question!r}
_pieces = context.chunks({chunk_chars})
_note = ""
if len(_pieces) > {chunks}:
    _note = (f" (this covers {chunks} of {{len(_pieces)}} parts of the documents: the "
             "sub-call budget allows no more)")
_parts = llm_query_batched([
    f"{{_q}}\\nAnswer only from this text; say 'none' if it has nothing relevant.\\n\\n{{p}}"
    for p in _pieces[:{chunks}]
])
_joined = "\\n".join(f"- part {{i + 1}}: {{p.strip()}}" for i, p in enumerate(_parts))
FINAL(llm_query(f"Combine these partial answers into one answer to: {{_q}}\\n\\n{{_joined}}")
      + _note)
"""


@dataclass
class Outcome:
    """How one RLM (root or child) ended."""

    answer: str
    stop_reason: str = "final"
    fallback: bool = False
    best_effort: bool = False
    cited: list[str] = field(default_factory=list)  # snippets registered with cite()
    tail: str = ""  # prose after FINAL in the last reply (may hold [n] "quote" lines)


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
        self.sandboxes: set[Sandbox] = set()
        self.stopping: BudgetExceeded | None = None

    # ------------------------------------------------------------------ model calls

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
            self.tracker.record(
                depth,
                usage.prompt_tokens,
                usage.cached_tokens,
                usage.completion_tokens,
                subcall=False,
            )
        if self.tracker.cancel.is_set():
            raise self.tracker.stop_reason()
        return "".join(chunks)

    def on_subcall(self, call: SubCall, depth: int) -> list[str]:
        """Answer a sub-call from the REPL at ``depth`` (its calls are at depth + 1)."""
        if self.config.mode == "no-subcalls":
            raise RuntimeError("sub-calls are turned off in this mode (REPL only): use code")
        if call.kind == "rlm_query" and depth + 1 < self.tracker.budget.max_depth:
            return [self._child(call, depth + 1)]
        prompts_ = call.prompts
        if call.kind == "rlm_query":  # at the depth limit a child RLM is a plain sub-call
            text = call.context if isinstance(call.context, str) else "\n".join(call.context or [])
            prompts_ = [f"{call.prompts[0]}\n\nText:\n{text}" if text else call.prompts[0]]
        try:
            self.tracker.check(self.config.sub_max_tokens, subcalls=len(prompts_))
            # Each member of a batch is a call: project its cost (about 3 characters a token
            # of prompt, plus max_tokens) and refuse the batch if the budget cannot cover it.
            costs = [len(p) // 3 + self.config.sub_max_tokens for p in prompts_]
            allowed = self.tracker.affordable(costs)
            if allowed < len(prompts_):
                raise BudgetExceeded(
                    "max_tokens",
                    f"the token budget allows {allowed} of these {len(prompts_)} sub-calls",
                )
        except BudgetExceeded as exc:
            if exc.reason != "max_subcalls":
                self.stopping = exc
            else:
                self.emit(Notice(depth, f"sub-calls refused: {exc.message}"))
            raise RuntimeError(f"{exc.message}; answer with what you have") from exc
        self.emit(SubCallStarted(depth + 1, call.kind, list(prompts_)))
        conversations = [[{"role": "user", "content": p}] for p in prompts_]
        settings = GenerationSettings(max_tokens=self.config.sub_max_tokens)
        try:
            if len(conversations) == 1:
                with self.sub.lock:
                    results = [self.sub.complete(conversations[0], settings, self.tracker.cancel)]
            else:
                results = self.sub.batch(conversations, settings, self.tracker.cancel)
        except ModelError as exc:
            self.emit(SubCallEnded(depth + 1, call.kind, list(prompts_), error=exc.message))
            raise RuntimeError(exc.message) from exc
        for result in results:
            u = result.usage
            self.tracker.record(
                depth + 1, u.prompt_tokens, u.cached_tokens, u.completion_tokens, subcall=True
            )
        self.emit(
            SubCallEnded(
                depth + 1,
                call.kind,
                list(prompts_),
                [r.text for r in results],
                sum(r.usage.prompt_tokens for r in results),
                sum(r.usage.completion_tokens for r in results),
                max((r.usage.total_s for r in results), default=0.0),
            )
        )
        if self.tracker.cancel.is_set():
            self.stopping = self.tracker.stop_reason()
        return [r.text for r in results]

    def _child(self, call: SubCall, depth: int) -> str:
        """Run a child RLM on the sub-context, in a REPL of its own."""
        context = call.context if call.context is not None else ""
        sandbox = Sandbox(
            context=context,
            limits=self.config.sandbox,
            on_subcall=lambda c: self.on_subcall(c, depth),
        )
        with self.open(sandbox):
            overview = f"{sandbox.context_chars:,} characters of text given by the caller"
            outcome = self.loop(call.prompts[0], sandbox, depth, overview, [])
        return outcome.answer

    # ------------------------------------------------------------------ the loop

    def open(self, sandbox: Sandbox) -> Sandbox:
        """Start a sandbox and track it, so a cancel can kill it."""
        self.sandboxes.add(sandbox)
        sandbox.start()
        return _Tracked(sandbox, self.sandboxes)

    def loop(
        self, question: str, sandbox: Sandbox, depth: int, overview: str, history: list[dict]
    ) -> Outcome:
        """The root loop of one RLM: ask, run code, show output, until FINAL or a budget."""
        cfg = self.config
        first = prompts.first_message(question, overview, history, _HELPERS)
        messages: list[Message] = [
            {"role": "system", "content": prompts.system_prompt(cfg.variant)},
            {"role": "user", "content": first},
        ]
        no_code = 0
        last_failure = None
        last_prose = ""
        for turn in range(1, self.tracker.budget.max_iterations + 1):
            self.emit(TurnStarted(depth, turn))
            try:
                reply = self.ask_root(messages, depth)
            except (BudgetExceeded, ContextOverflowError) as exc:
                return self._partial(exc, last_prose)
            messages.append({"role": "assistant", "content": reply})
            blocks, final = code_blocks(reply), find_final(reply)
            last_prose = prose(reply).strip() or last_prose
            if not blocks:
                if final is not None:
                    answer = self._resolve(final, sandbox, depth)
                    if answer is not None:
                        return Outcome(answer, cited=self._cited(sandbox), tail=_after(reply))
                    messages.append(
                        {
                            "role": "user",
                            "content": "FINAL_VAR named no variable "
                            "of the REPL; compute the answer in code first.",
                        }
                    )
                    continue
                no_code += 1
                if no_code >= cfg.fallback_after:
                    return self.fallback(question, sandbox, depth)
                self.emit(Notice(depth, "no code in the reply: nudged"))
                messages.append({"role": "user", "content": prompts.NUDGE_NO_CODE})
                continue
            feedback = []
            runnable = False
            for number, code in enumerate(blocks, 1):
                if self.tracker.cancel.is_set():
                    return self._partial(self.tracker.stop_reason(), last_prose)
                result = self.run_cell(sandbox, code, depth)
                runnable = runnable or "SyntaxError" not in result.stderr
                if self.stopping is not None:
                    return self._partial(self.stopping, last_prose)
                feedback.append(self._show(number, result))
                if result.final is not None:
                    return Outcome(result.final, cited=result.citations)
                if result.error:
                    if last_failure == (code, result.stderr):
                        feedback.append(prompts.REPEATED_ERROR.format(error=result.message))
                        self.emit(Notice(depth, "the same code failed twice"))
                    last_failure = (code, result.stderr)
            no_code = 0 if runnable else no_code + 1
            if not runnable and no_code >= cfg.fallback_after:
                return self.fallback(question, sandbox, depth)
            if final is not None:
                feedback.append(prompts.FINAL_TOO_EARLY)
                self.emit(Notice(depth, "FINAL came with unseen code output: asked again"))
            messages.append({"role": "user", "content": "\n\n".join(feedback)})
        return self._last_call(messages, sandbox, depth, last_prose)

    def _last_call(self, messages, sandbox, depth, last_prose) -> Outcome:
        self.emit(Notice(depth, "iteration limit reached: asking for a best answer"))
        messages.append({"role": "user", "content": prompts.LAST_CALL})
        try:
            reply = self.ask_root(messages, depth)
        except (BudgetExceeded, ContextOverflowError) as exc:
            return self._partial(exc, last_prose)
        final = find_final(reply)
        answer = self._resolve(final, sandbox, depth) if final else None
        text = answer if answer is not None else prose(reply).strip() or last_prose
        return Outcome(
            text, "max_iterations", best_effort=True, cited=self._cited(sandbox), tail=_after(reply)
        )

    def fallback(self, question: str, sandbox: Sandbox, depth: int) -> Outcome:
        """The model wrote no runnable code: answer with a built-in strategy, marked as such."""
        aggregate = bool(_AGGREGATION.search(question))
        self.emit(
            Notice(
                depth,
                "no runnable code from the model: using the built-in "
                + ("map-reduce" if aggregate else "search-then-read")
                + " strategy",
            )
        )
        if aggregate:
            left = self.tracker.budget.max_subcalls - self.tracker.subcalls
            chunks = max(1, min(32, left - 1)) if self.tracker.budget.max_subcalls else 32
            code = _FALLBACK_AGGREGATE.format(
                question=question, chunks=chunks, chunk_chars=self.chunk_chars()
            )
        else:
            code = _FALLBACK_LOOKUP.format(question=question)
        result = self.run_cell(sandbox, code, depth)
        if self.stopping is not None:
            return self._partial(self.stopping, "", fallback=True)
        answer = result.final or f"The built-in strategy failed: {result.message}"
        return Outcome(
            answer, "final" if result.final else "error", fallback=True, cited=result.citations
        )

    # ------------------------------------------------------------------ helpers

    def run_cell(self, sandbox: Sandbox, code: str, depth: int) -> CellResult:
        """Run code in the REPL, keep what it explored, and report it as an event."""
        result = sandbox.execute(code)
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
            )
        )
        return result

    def chunk_chars(self) -> int:
        """The largest chunk a sub-call can take in the sub model's window.

        Two characters a token is the pessimistic rate (logs: numbers, addresses, ids).
        """
        window = self.sub.describe().get("n_ctx") or 100_000
        return max(2000, min(100_000, int((window - self.config.sub_max_tokens - 300) * 1.8)))

    def _resolve(self, final: Final, sandbox: Sandbox, depth: int) -> str | None:
        if final.kind == "FINAL":
            return final.argument
        result = sandbox.execute(f"FINAL_VAR({final.argument.strip()!r})")
        return result.final

    @staticmethod
    def _cited(sandbox: Sandbox) -> list[str]:
        result = sandbox.execute("pass")
        return result.citations

    def _show(self, number: int, result: CellResult) -> str:
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

    @staticmethod
    def _partial(exc: Exception, last_prose: str, fallback: bool = False) -> Outcome:
        reason = exc.reason if isinstance(exc, BudgetExceeded) else "context_overflow"
        message = exc.message if hasattr(exc, "message") else str(exc)
        body = last_prose or "no answer was reached"
        return Outcome(f"(partial answer — {message}) {body}", reason, fallback, best_effort=True)


class _Tracked:
    """A context manager closing a sandbox and forgetting it."""

    def __init__(self, sandbox: Sandbox, registry: set[Sandbox]) -> None:
        self.sandbox, self.registry = sandbox, registry

    def __enter__(self) -> Sandbox:
        return self.sandbox

    def __exit__(self, *exc: object) -> None:
        self.registry.discard(self.sandbox)
        self.sandbox.close()


def _after(reply: str) -> str:
    """The prose after the FINAL(...) line, where [n] "quote" lines may follow."""
    text = prose(reply)
    index = text.rfind("FINAL")
    return text[index:] if index != -1 else ""


_HELPERS = (
    "context.search(query, k), context.grep(pattern), context.documents, context.chunks(size), "
    "locate(text), llm_query(prompt), llm_query_batched(prompts), map_chunks(question), "
    "rlm_query(question, text), cite(snippet), FINAL(answer), FINAL_VAR(name)"
)
