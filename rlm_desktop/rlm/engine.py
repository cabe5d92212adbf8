"""The RLM engine's public face: ``RLM(model=...).completion(question, context)``."""

from __future__ import annotations

import threading
import uuid
from collections.abc import Callable
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path

from rlm_desktop.llm.base import ContextOverflowError, GenerationSettings, ModelError
from rlm_desktop.llm.spec import ModelPool, parse_spec
from rlm_desktop.records import OUTCOMES, outcome_of
from rlm_desktop.rlm import citations as checking
from rlm_desktop.rlm import profiles, prompts, subcalls, turns
from rlm_desktop.rlm.budget import Budget, BudgetExceeded, Tracker
from rlm_desktop.rlm.citations import Citation, LibraryVerifier, ReadText, TextVerifier
from rlm_desktop.rlm.events import Event, FinalAnswer, Notice
from rlm_desktop.rlm.loop import LoopConfig, RunTree, reply_limit
from rlm_desktop.rlm.outcome import Outcome
from rlm_desktop.sandbox import snapshot
from rlm_desktop.sandbox.cells import trace
from rlm_desktop.sandbox.context import Context, ContextBase
from rlm_desktop.sandbox.host import Explored, SandboxLimits
from rlm_desktop.sandbox.large import open_library
from rlm_desktop.sandbox.tools import Tools, load_tools
from rlm_desktop.settings import Settings, load_settings
from rlm_desktop.store.library import DB_FILENAME, Document, Library
from rlm_desktop.textsafe import printable

MODES = ("rlm", "no-subcalls", "direct", "retrieval")


@dataclass
class RLMResult:
    """An answer with its checked citations, what the models read, and what it cost.

    ``outcome`` is "answer", "fallback", "best-effort", "stopped" or "error"; ``note`` is the
    sentence every surface shows for an answer that is not a plain one ("" for one that is).
    """

    answer: str
    citations: list[Citation]
    explored: list[dict]
    usage: dict
    stop_reason: str
    fallback: bool
    best_effort: bool
    mode: str
    models: dict
    conversation: str
    events: list[Event] = field(default_factory=list)
    run_id: int | None = None
    outcome: str = "answer"
    note: str = ""
    scope: list[str] = field(default_factory=list)  # the documents asked about ([]: all)
    profile: str = "paper"  # the protocol the root model was told (rlm/profiles.py)

    def to_json(self) -> dict:
        """The public shape of ``ask --json`` (events left out; they are saved with the run)."""
        return {
            "answer": self.answer,
            "outcome": self.outcome,
            "note": self.note,
            "citations": [c.to_json() for c in self.citations],
            "explored": self.explored,
            "usage": self.usage,
            "stop_reason": self.stop_reason,
            "fallback": self.fallback,
            "best_effort": self.best_effort,
            "mode": self.mode,
            "profile": self.profile,
            "models": self.models,
            "conversation": self.conversation,
            "run_id": self.run_id,
            "scope": self.scope,
        }


class RLM:
    """A Recursive Language Model over a library, a string or a list of strings."""

    def __init__(
        self,
        model: str | None = None,
        sub_model: str | None = None,
        *,
        mode: str | None = None,
        budget: Budget | None = None,
        settings: Settings | None = None,
        base_url: str | None = None,
        sandbox_limits: SandboxLimits | None = None,
        root_max_tokens: int = 0,
        sub_max_tokens: int = 512,
        output_chars: int = 4000,
        fallback_after: int = 3,
        prompt_variant: str | None = None,
        on_event: Callable[[Event], None] | None = None,
        pool: ModelPool | None = None,
        profile: str | None = None,
        tools: str | Path | None = None,
    ) -> None:
        """``root_max_tokens``: 0 lets the model decide (``loop.reply_limit``); ``pool``:
        models already loaded, to share (closing this RLM leaves them loaded); ``profile``:
        auto, paper or reference (else the setting); ``tools``: a file of helper functions
        for the REPL (else the setting's, if any)."""
        # Anything not given comes from the saved settings (the one source of defaults).
        self.settings = settings or load_settings()
        mode = mode or self.settings.mode
        if mode not in MODES:
            raise ValueError(f"mode must be one of {', '.join(MODES)}")
        self.model = model or self.settings.model
        self.sub_model = sub_model or self.settings.sub_model or self.model
        self.mode = mode
        self.budget = budget or Budget.from_settings(self.settings)
        self._own_pool = pool is None
        self.pool = pool or ModelPool(self.settings, base_url)
        self.config = LoopConfig(
            mode=mode,
            root_max_tokens=root_max_tokens,
            sub_max_tokens=sub_max_tokens,
            output_chars=output_chars,
            fallback_after=fallback_after,
            sandbox=sandbox_limits or SandboxLimits.from_settings(self.settings),
        )
        self.prompt_variant = prompt_variant
        self.profile = profile  # else the model spec's, else the setting's
        if profile is not None and profile != "auto":
            profiles.check(profile)
        self.tools = tools if tools is not None else self.settings.tools_file or None
        self.on_event = on_event
        self._tree: RunTree | None = None
        self._cancel = threading.Event()

    def _profile_choice(self) -> str:
        """The profile asked for: this RLM's, else the root model spec's, else the setting."""
        try:
            of_spec = parse_spec(self.model).profile
        except ModelError:
            of_spec = ""  # a name lent by the pool, not a spec
        return self.profile or of_spec or self.settings.rlm_profile

    def cancel(self) -> None:
        """Stop the running completion (from any thread): generation stops, REPLs are killed."""
        self._cancel.set()
        tree = self._tree
        if tree is not None:
            for sandbox in list(tree.sandboxes):
                sandbox.cancel()

    def close(self) -> None:
        """Release the models (unless they were lent by the caller)."""
        if self._own_pool:
            self.pool.close()

    def progress(self) -> dict | None:
        """Spending of the run in progress (for a live status line), or None when idle."""
        tree = self._tree
        if tree is None:
            return None
        tracker = tree.tracker
        left = tracker.budget.max_seconds - tracker.elapsed() if tracker.budget.max_seconds else 0
        return {
            "tokens": tracker.tokens,
            "subcalls": tracker.subcalls,
            "elapsed": tracker.elapsed(),
            "seconds_left": max(0.0, left),
            "tokens_left": max(0, tracker.budget.max_tokens - tracker.tokens),
        }

    def completion(
        self,
        question: str,
        context: str | list[str] | Path | Library,
        *,
        conversation: str | None = None,
        save: bool = True,
        only: list[str] | None = None,
    ) -> RLMResult:
        """Answer ``question`` about ``context`` (a library folder or object, str or list);
        with ``only`` (paths of documents or folders), about those documents of the library."""
        self._cancel.clear()
        root = self.pool.get(self.model, "root")
        sub = self.pool.get(self.sub_model, "sub")
        described = root.describe()
        variant = self.prompt_variant or prompts.variant_for(described)
        profile = profiles.resolve(self._profile_choice(), described)
        # Read (never run) here, so that a broken file stops the run before it starts.
        tools: Tools | None = load_tools(self.tools) if self.tools else None
        # Printed output shown per step is capped to fit small windows too (~1/4 of it).
        window_chars = (described.get("n_ctx") or 0) // 2
        output_chars = min(self.config.output_chars, window_chars or self.config.output_chars)
        config = replace(
            self.config,
            variant=variant,
            profile=profile,
            tools=tools,
            output_chars=max(500, output_chars),
            root_max_tokens=self.config.root_max_tokens or reply_limit(described),
        )
        tracker = Tracker(self.budget, cancel=self._cancel)
        events: list[Event] = []

        def emit(event: Event) -> None:
            events.append(event)
            if self.on_event is not None:
                self.on_event(event)

        tree = RunTree(root, sub, config, tracker, emit)
        self._tree = tree
        library = _library_of(context)
        owned = library if library is not None and library is not context else None
        clock = tracker.start_clock(self.cancel)
        try:
            asked = _scoped(library, only) if only else context
            tree.locator = _locator(library, asked)
            return self._complete(tree, question, asked, library, conversation, save, events)
        finally:
            if clock is not None:
                clock.cancel()
            self._tree = None
            if owned is not None:
                owned.close()

    def _complete(self, tree, question, context, library, conversation, save, events):
        conversation = conversation or uuid.uuid4().hex[:12]
        history = turns.earlier_turns(library, conversation)
        if self.mode == "direct":
            outcome = self._direct(tree, question, context, library)
        elif self.mode == "retrieval":
            outcome = self._retrieval(tree, question, context, library)
        else:
            outcome = self._rlm(tree, question, context, library, history)
        citations = self._citations(tree, outcome, library, context)
        if not outcome.answer.strip():  # e.g. FINAL("") or only quote lines: never a blank
            outcome.answer = "(the model ended the run with an empty answer)"
        root, sub, emit, tracker = tree.root, tree.sub, tree.emit, tree.tracker
        emit(FinalAnswer(0, outcome.answer, outcome.stop_reason, outcome.fallback))
        ended = outcome_of(outcome.stop_reason, outcome.fallback, outcome.best_effort)
        result = RLMResult(
            answer=outcome.answer,
            citations=citations,
            explored=[e.to_json() for e in _dedupe(tree.explored)],
            usage=tracker.usage(),
            stop_reason=outcome.stop_reason,
            fallback=outcome.fallback,
            best_effort=outcome.best_effort,
            mode=self.mode,
            models={"root": str(root.spec), "sub": str(sub.spec), "prompt": tree.config.variant},
            conversation=conversation,
            events=events,
            outcome=ended,
            note=outcome.note or OUTCOMES[ended],
            scope=[d.path for d in context.documents] if isinstance(context, Scope) else [],
            profile=tree.config.profile,
        )
        if library is not None and save:
            result.run_id = _save(library, question, result, self.budget)
        return result

    def _citations(
        self, tree: RunTree, outcome: Outcome, library: Library | None, context
    ) -> list[Citation]:
        """Number the answer's citations and check each against what the run read."""
        body, numbered = checking.number(outcome.answer, outcome.tail, outcome.cited, outcome.prose)
        outcome.answer = body
        if not numbered:
            return []
        if library is not None:
            verifier: LibraryVerifier | TextVerifier = LibraryVerifier(library)
        else:
            verifier = TextVerifier([context] if isinstance(context, str) else list(context))
        read = ReadText(e.span for e in tree.explored)
        settings = self.settings
        found = checking.check(
            numbered, read, verifier, settings.citation_min_words, settings.citation_min_chars
        )
        if settings.check_support and outcome.stop_reason != "cancelled":
            found = checking.check_support(
                found, body, lambda prompt: subcalls.ask_one(tree, prompt, max_tokens=8)
            )
        return found

    # ------------------------------------------------------------------ modes

    def _rlm(self, tree: RunTree, question, context, library, history) -> Outcome:
        """The method: the root model explores the context in a REPL."""
        only = [d.id for d in context.documents] if isinstance(context, Scope) else None
        scope = [d.path for d in context.documents] if isinstance(context, Scope) else []
        earlier = None
        if library is not None and turns.scope_changed(history, scope):
            earlier = [_ids(library, turn["scope"]) for turn in history]
        with tree.repl(
            0,
            library=library.folder if library is not None else None,
            context=context if library is None else None,
            variables={**turns.variables(history), "question": question},
            only=only,
            earlier=earlier,
        ) as sandbox:
            overview = _overview(library, context, sandbox.context_chars, sandbox.large_context)
            if earlier is not None:
                overview += prompts.earlier_contexts(len(earlier))
            listed = turns.listed(history, lambda prompt: _summary(tree, prompt))
            return tree.loop(question, sandbox, 0, overview, listed)

    def _retrieval(self, tree: RunTree, question, context, library) -> Outcome:
        """The other baseline: the best full-text passages and one answer call (top-k RAG)."""
        if library is None:
            raise ModelError("retrieval mode needs a library (full-text search)")
        hits = library.search(question, k=8)
        parts = []
        for i, hit in enumerate(hits, 1):
            text, first, last = library.passage_text(hit.passage_id), hit.line_start, hit.line_end
            if len(text) > _RETRIEVED_CHARS:  # a big log's long passage: the lines around the hit
                text, first = library.lines_around(hit.doc_id, hit.line_start, 8, 8)
                last = first + len(text.splitlines()) - 1
            parts.append(f"[{i}] {hit.title}, lines {first}-{last}:\n{text}")
        passages = "\n\n".join(parts)
        return self._one_call(tree, "Passages:\n" + passages, question, len(passages))

    def _one_call(self, tree: RunTree, material: str, question: str, size: int) -> Outcome:
        """Ask the root model once, with the material cut to fit its window."""
        window = tree.root.describe().get("n_ctx") or 32_000
        answer = min(tree.config.root_max_tokens, window // 4)
        chars = max(1000, (window - answer - 200) * 3)
        settings = GenerationSettings(max_tokens=tree.config.root_max_tokens)
        for _ in range(6):
            try:
                tree.tracker.check(settings.max_tokens)
                completion = tree.root.complete(
                    [{"role": "user", "content": prompts.one_call(material[:chars], question)}],
                    settings,
                    tree.tracker.cancel,
                )
            except ContextOverflowError:
                chars //= 2
                continue
            except BudgetExceeded as exc:
                return Outcome(f"(no answer — {exc.message})", exc.reason, best_effort=True)
            tree.tracker.record(0, completion.usage, subcall=False)
            tree.explored.extend(_read_in_prompt(tree, material[:chars]))
            if size > chars:
                tree.emit(
                    Notice(
                        0,
                        f"{self.mode} mode: the material was cut to {chars:,} of "
                        f"{size:,} characters to fit the window",
                    )
                )
            return Outcome(completion.text.strip(), tail="", prose=True)
        raise ModelError("the question alone does not fit the model's window")

    def _direct(self, tree: RunTree, question, context, library) -> Outcome:
        """The baseline: as much of the context as fits, in one prompt."""
        if library is not None:
            chosen = context.documents if isinstance(context, Scope) else None
            text, size = snapshot.head(library, chosen, _DIRECT_MAX_CHARS)
        else:
            text = context if isinstance(context, str) else "\n\n".join(context)
            size = len(text)
        return self._one_call(tree, "Documents:\n" + text, question, size)


# ---------------------------------------------------------------------- helpers


@dataclass
class Scope:
    """Some documents of a library, asked about on their own: the REPL's ``context`` holds
    only their text, each after the header the whole library's context gives it."""

    documents: list[Document]


def _scoped(library: Library | None, only: list[str]) -> Scope:
    if library is None:
        raise ModelError("asking about some documents (only) needs a library")
    documents = library.documents_in(only)
    if not documents:
        raise ModelError(f"none of {', '.join(only)} is a readable document of this library")
    return Scope(documents)


def _library_of(context) -> Library | None:
    if isinstance(context, Library):
        return context
    if isinstance(context, Path) or (
        isinstance(context, str)
        and "\n" not in context
        and len(context) < 4096
        and (Path(context).expanduser() / DB_FILENAME).exists()
    ):
        return Library(Path(context).expanduser())
    return None


# The most of a library the one-prompt baseline reads (about a million tokens' worth): it
# is cut to the model's window anyway, and a library may be gigabytes.
_DIRECT_MAX_CHARS = 4_000_000
# A retrieved passage longer than this is cut to the lines around its hit.
_RETRIEVED_CHARS = 4_000


def _ids(library: Library, scope: list[str]) -> list[int] | None:
    """The ids of an earlier turn's documents (None: the whole library)."""
    return [d.id for d in library.documents_in(scope)] if scope else None


def _summary(tree: RunTree, prompt: str) -> str:
    """The sub model's summary of earlier turns ("" when the budget or model refuses)."""
    try:
        return subcalls.ask_one(tree, prompt, max_tokens=turns.SUMMARY_TOKENS)
    except (BudgetExceeded, ModelError):
        return ""


def _overview(library: Library | None, context, chars: int, large: bool = False) -> str:
    if library is not None:
        if isinstance(context, Scope):
            docs = context.documents
        else:
            docs = library.documents(include_unreadable=False)
        rows = [(printable(d.name), d.kind, d.pages, d.chars) for d in docs]
    else:
        pieces = [context] if isinstance(context, str) else list(context)
        rows = [(f"document {i}", "text", None, len(p)) for i, p in enumerate(pieces, 1)]
    kind = "a large context (mapped from disk, not a str)" if large else "a str"
    lines = [f"{kind} of {chars:,} characters holding {len(rows)} documents:"]
    for name, kind, pages, size in rows[:30]:
        pages_text = f", {pages} pages" if pages else ""
        lines.append(f"  {name} ({kind}{pages_text}, {size:,} characters)")
    if len(rows) > 30:
        lines.append(f"  ... and {len(rows) - 30} more (see context.documents)")
    if large:
        lines.append(prompts.LARGE_CONTEXT)
    return "\n".join(lines)


def _locator(library: Library | None, context) -> Callable[[], ContextBase]:
    """Loads, on first use and once per run, the text that reads are traced against: the
    same text as the root REPL's ``context`` (so the places its helpers hand out agree)."""
    loaded: list[ContextBase] = []
    only = [d.id for d in context.documents] if isinstance(context, Scope) else None

    def load() -> ContextBase:
        if not loaded:
            if library is not None:
                loaded.append(open_library(library.folder / DB_FILENAME, only))
            elif isinstance(context, str):
                loaded.append(Context.from_text(context))
            else:
                loaded.append(Context.from_strings([str(piece) for piece in context]))
        return loaded[0]

    return load


def _read_in_prompt(tree: RunTree, material: str) -> list[Explored]:
    """Library text in the one prompt of the direct and retrieval modes: read by the root."""
    return [] if tree.locator is None else trace(tree.locator(), material, "prompt", "root", 0)


def _dedupe(explored: list[Explored]) -> list[Explored]:
    """Each passage once per way it reached a model, in the order first seen."""
    seen = set()
    unique = []
    for record in explored:
        key = (record.span.path, record.span.start, record.span.end, record.via)
        if key not in seen:
            seen.add(key)
            unique.append(record)
    return unique


def _save(library: Library, question: str, result: RLMResult, budget: Budget) -> int:
    return library.save_run(
        {
            "conversation": result.conversation,
            "question": question,
            "answer": result.answer,
            "stop_reason": result.stop_reason,
            "fallback": int(result.fallback),
            "outcome": result.outcome,
            "note": result.note,
            "scope": result.scope,
            "profile": result.profile,
            "mode": result.mode,
            "models": result.models,
            "citations": [c.to_json() for c in result.citations],
            "explored": result.explored,
            "usage": result.usage,
            "settings": {"budget": asdict(budget)},
            "events": [e.to_json() for e in result.events],
        }
    )
