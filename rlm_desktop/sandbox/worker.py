"""The REPL child: loads ``context``, confines itself, then runs cells sent by the app.

Started by ``rlm_desktop.sandbox.host`` through ``rlm_desktop.launch`` (``python -I -m
rlm_desktop --rlm-child sandbox-worker``, or the frozen executable with the same flag).
It talks to the app only over the socket it inherits; its own stdout/stderr are not used.
"""

from __future__ import annotations

import argparse
import ast
import builtins
import errno
import gc
import json
import os
import re
import socket
import sys
import time
import traceback
from contextlib import redirect_stderr, redirect_stdout
from typing import Any

from rlm_desktop.sandbox import confine, namespaces, protocol, snapshot, syscall_filter
from rlm_desktop.sandbox.context import Context, ContextBase
from rlm_desktop.sandbox.large import MAP_CHUNKS_CAP, LargeContext, open_library

# map_chunks's pieces: the size the app passes (from the sub model's window), else this.
_DEFAULT_CHUNK_CHARS, _MIN_CHUNK_CHARS = 20_000, 500


class CappedOutput:
    """A text stream that keeps the first ``limit`` characters and counts the rest."""

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self.parts: list[str] = []
        self.kept = 0
        self.dropped = 0

    def write(self, text: str) -> int:
        if not isinstance(text, str):
            raise TypeError(f"write() argument must be str, not {type(text).__name__}")
        room = self.limit - self.kept
        if room > 0:
            self.parts.append(text[:room])
            self.kept += min(room, len(text))
        self.dropped += max(0, len(text) - max(room, 0))
        return len(text)

    def flush(self) -> None:
        pass

    def isatty(self) -> bool:
        return False

    def value(self) -> str:
        """The kept text, with a marker saying how much was cut."""
        text = "".join(self.parts)
        if self.dropped:
            text += f"\n[... output truncated: {self.dropped:,} more characters not shown]"
        return text


class Repl:
    """Persistent variables, cell execution, sub-call plumbing and provenance."""

    def __init__(
        self,
        sock: socket.socket,
        source: ContextBase,
        value: Any,
        output_chars: int,
        quota_mb: int,
        memory_mb: int,
        chunk_chars: int = _DEFAULT_CHUNK_CHARS,
    ) -> None:
        self.sock = sock
        self.quota_mb = quota_mb
        self.memory_mb = memory_mb
        self.source = source
        self.output_chars = output_chars
        self.chunk_chars = chunk_chars  # what the sub model's window holds, worked out by the app
        self.final: str | None = None
        self.citations: list[str] = []
        self.cell = 0  # id of the cell being run, echoed in every frame it sends
        self._calls = 0
        self._child_citations: list[tuple[int, str]] = []
        self.helpers = {
            "context": value,
            "llm_query": self.llm_query,
            "llm_query_batched": self.llm_query_batched,
            "rlm_query": self.rlm_query,
            "rlm_query_batched": self.rlm_query_batched,
            "SHOW_VARS": self.show_vars,
            "FINAL": self.final_answer,
            "FINAL_VAR": self.final_var,
            "cite": self.cite,
            "map_chunks": self.map_chunks,
            "locate": source.locate,
            "grep": source.grep,
            "search": source.search,
            "chunks": source.chunks,
        }
        self.namespace: dict[str, Any] = {"__name__": "__main__", "__builtins__": builtins}
        self.namespace.update(self.helpers)
        # The other way to finish: a cell sets answer["content"] and then answer["ready"].
        self.namespace["answer"] = {"content": "", "ready": False}

    # ---------------------------------------------------------------- helpers for cells

    def llm_query(self, prompt: str) -> str:
        """Ask a language model one question; returns its answer as a string."""
        return self._subcall("llm_query", [str(prompt)])[0]

    def llm_query_batched(self, prompts: list[str]) -> list[str]:
        """Ask many independent questions at once (faster than a loop); answers in order."""
        return self._subcall("llm_query_batched", [str(p) for p in prompts])

    def rlm_query(self, question: str, sub_context: str | list[str] | None = None) -> str:
        """Run a child RLM on ``sub_context`` (its own REPL) and return its final answer."""
        if sub_context is not None and not isinstance(sub_context, str):
            sub_context = [str(piece) for piece in sub_context]
        answer = self._subcall("rlm_query", [str(question)], context=sub_context)[0]
        return self._adopt_citations([answer])[0]

    def rlm_query_batched(self, questions: list[str], texts: list[str] | None = None) -> list[str]:
        """Run one child RLM per question (on ``texts[i]`` when given); answers in order,
        an error message in the place of one that failed."""
        questions = [str(q) for q in questions]
        if texts is not None and len(texts) != len(questions):
            raise ValueError("rlm_query_batched: give one text per question, or none")
        pieces = None if texts is None else [str(t) for t in texts]
        answers = self._subcall("rlm_query_batched", questions, context=pieces)
        return self._adopt_citations(answers)

    def show_vars(self) -> str:
        """The REPL's variables with their types (not their values), one per line."""
        rows = [
            f"{name}: {_short_type(value)}"
            for name, value in self.namespace.items()
            if not name.startswith("_") and name not in self.helpers
        ]
        return "\n".join(rows) if rows else "(no variables yet)"

    def map_chunks(self, question: str, chunk_chars: int | None = None) -> list[str]:
        """Ask ``question`` of every chunk of the whole context at once; answers in order.
        By default chunks are as long as the sub model's window allows with the question."""
        question = str(question)
        size = chunk_chars or max(_MIN_CHUNK_CHARS, self.chunk_chars - len(question))
        pieces = self.source.chunks(size)
        if isinstance(self.source, LargeContext) and len(pieces) > MAP_CHUNKS_CAP:
            raise ValueError(
                f"map_chunks: context is a large library ({len(pieces):,} chunks of "
                f"{size:,} characters); narrow it first (context.grep, context.search, "
                "context.documents) and send those pieces with llm_query_batched"
            )
        return self.llm_query_batched([f"{question}\n\nText:\n{piece}" for piece in pieces])

    def cite(self, snippet: str) -> str:
        """Register an exact quote from the documents as a citation; returns "[n]"."""
        snippet = str(snippet).strip()
        if snippet not in self.citations:
            self.citations.append(snippet)
        return f"[{self.citations.index(snippet) + 1}]"

    def final_answer(self, answer: object) -> None:
        """End the run with this answer."""
        self.final = str(answer)

    def final_var(self, name: object) -> None:
        """End the run with the value of the variable called ``name``, or with ``name``'s own
        value when it is not a variable's name (``FINAL_VAR(answer)`` works too)."""
        if isinstance(name, str) and name in self.namespace:
            self.final = str(self.namespace[name])
        elif isinstance(name, str) and name.isidentifier():
            raise NameError(
                f"FINAL_VAR: no variable named {name!r}; pass the variable (FINAL_VAR(answer)) "
                "or its name as a string (FINAL_VAR('answer'))"
            )
        else:
            self.final = str(name)

    def _adopt_citations(self, answers: list[str]) -> list[str]:
        """Take child RLMs' citations as this REPL's own: each is registered with cite()
        and the children's ``[n]`` markers (numbered apart across a batch) renumbered."""
        cited = self._child_citations
        self._child_citations = []
        if not cited:
            return answers
        numbers = {str(n): self.cite(snippet) for n, snippet in cited}
        return [
            re.sub(r"\[(\d+)\]", lambda m: numbers.get(m.group(1), m.group(0)), answer)
            for answer in answers
        ]

    def _subcall(self, kind: str, prompts: list[str], **extra: Any) -> list[str]:
        self._calls += 1
        call_id = self._calls
        request = {"type": "subcall", "cell": self.cell, "id": call_id, "kind": kind}
        reads = self.source.handed_out()
        protocol.send(self.sock, {**request, "prompts": prompts, "reads": reads, **extra})
        reply = protocol.receive(self.sock)
        if reply.get("id") != call_id:
            raise RuntimeError("sandbox: sub-call reply out of order")
        if reply["type"] == "subcall_error":
            raise RuntimeError(str(reply.get("message", "sub-call failed")))
        results = reply.get("results")
        if not isinstance(results, list) or not all(isinstance(r, str) for r in results):
            raise RuntimeError("sandbox: malformed sub-call reply")
        cited = reply.get("cited")
        self._child_citations = [
            (int(n), str(snippet))
            for n, snippet in (cited if isinstance(cited, list) else [])
            if isinstance(n, int) and isinstance(snippet, str)
        ]
        return results

    # ---------------------------------------------------------------- running cells

    def run_cell(self, cell: int, code: str) -> dict[str, Any]:
        stdout, stderr = CappedOutput(self.output_chars), CappedOutput(self.output_chars)
        self.final, self.cell = None, cell
        before = {name: id(value) for name, value in self.namespace.items()}
        error, message = None, ""
        started = time.perf_counter()
        with redirect_stdout(stdout), redirect_stderr(stderr):
            try:
                self._exec(code)
            except MemoryError:
                error, message = "memory", _OUT_OF_MEMORY.format(self.memory_mb)
                if isinstance(self.source, LargeContext):
                    message += _LARGE_HINT
                print(message, file=sys.stderr)
            except OSError as exc:
                error, message = "exception", f"{type(exc).__name__}: {exc}"
                _print_cell_traceback(exc)
                if exc.errno == errno.ENOSPC:
                    print(_FULL_FOLDER.format(self.quota_mb), file=sys.stderr)
                elif exc.errno in (errno.EPERM, errno.EACCES) and "sandbox:" not in str(exc):
                    print(_REFUSED, file=sys.stderr)
            except BaseException as exc:  # the model's code may raise anything
                error, message = "exception", f"{type(exc).__name__}: {exc}"
                _print_cell_traceback(exc)
        duration = time.perf_counter() - started
        gc.collect()
        out = stdout.value()
        changed = [
            name
            for name, value in self.namespace.items()
            if not name.startswith("_") and before.get(name) != id(value)
        ]
        return {
            "type": "result",
            "cell": cell,
            "answer": self._ready_answer(),
            "stdout": out,
            "stderr": stderr.value(),
            "error": error,
            "message": message,
            "changed": changed,
            "duration": duration,
            "final": self.final,
            "citations": self.citations,
            "reads": self.source.handed_out(),
        }

    def load_tools(self, source: object) -> str | None:
        """Run the user's tools file and offer its public functions; the error, if any."""
        module: dict[str, Any] = {"__name__": "user_tools", "__builtins__": builtins}
        try:
            exec(compile(str(source), "<tools>", "exec"), module)
        except BaseException as exc:  # the user's file may raise anything
            return "".join(traceback.format_exception_only(type(exc), exc)).strip()
        tools = {
            name: value
            for name, value in module.items()
            if not name.startswith("_")
            and callable(value)
            and getattr(value, "__module__", None) == "user_tools"
        }
        self.helpers.update(tools)
        self.namespace.update(tools)
        return None

    def _ready_answer(self) -> str | None:
        """The content of the ``answer`` dict once a cell has set its "ready" to True."""
        answer = self.namespace.get("answer")
        if isinstance(answer, dict) and answer.get("ready") is True:
            return str(answer.get("content", ""))
        return None

    def _exec(self, code: str) -> None:
        tree = ast.parse(code, "<cell>", "exec")
        last = tree.body[-1] if tree.body else None
        if isinstance(last, ast.Expr):
            # Like an interactive prompt: show the value of a trailing expression.
            tree.body.pop()
            exec(compile(tree, "<cell>", "exec"), self.namespace)
            value = eval(compile(ast.Expression(last.value), "<cell>", "eval"), self.namespace)
            if value is not None:
                print(repr(value) if not isinstance(value, str) else value)
        else:
            exec(compile(tree, "<cell>", "exec"), self.namespace)


_REFUSED = (
    "sandbox: the operating system refused this. The REPL cannot use the network, start "
    "processes, change file permissions, or read files other than Python's, the app's and the "
    "library's; it can write only in its own folder."
)
_OUT_OF_MEMORY = (
    "MemoryError: the cell asked for more memory than the REPL may use ({:,} MB); "
    "what it was building is gone, the variables set before are kept"
)
_LARGE_HINT = (
    ". context is a large library: read it in pieces (context.splitlines(), "
    "context.chunks(), context.grep()) instead of whole"
)
_FULL_FOLDER = (
    "The sandbox folder is full: its quota is {} MB (all files written by this REPL together)."
)


def _short_type(value: object) -> str:
    """A variable's type in a few words: "list of 3", "str of 1,204 chars", "function"."""
    kind = type(value).__name__
    if isinstance(value, str):
        return f"str of {len(value):,} chars"
    if isinstance(value, (list, tuple, dict, set)):
        return f"{kind} of {len(value):,}"
    if callable(value) and not isinstance(value, type):
        return "function"
    return kind


def _print_cell_traceback(exc: BaseException) -> None:
    """Print the traceback without the REPL's own frames."""
    frames = [f for f in traceback.extract_tb(exc.__traceback__) if f.filename == "<cell>"]
    lines = ["Traceback (most recent call last):\n", *traceback.format_list(frames)]
    lines += traceback.format_exception_only(type(exc), exc)
    sys.stderr.write("".join(lines))
    exc.__traceback__ = None


def _load(args: argparse.Namespace, plain: object, only: object) -> tuple[ContextBase, Any]:
    if args.library:
        ids = [i for i in only if isinstance(i, int)] if isinstance(only, list) else None
        library = open_library(args.library, ids, args.large)
        return library, library
    if isinstance(plain, str):
        source = Context.from_text(plain)
        return source, source
    values = plain if isinstance(plain, list) else []
    return Context.from_strings([str(v) for v in values]), values


_Filter = syscall_filter.Filter


def _read_json(path: str | None) -> object:
    if not path:
        return None
    with open(path, encoding="utf-8") as handle:
        return json.load(handle)


def _confine(
    args: argparse.Namespace, isolation: confine.Isolation
) -> syscall_filter.Filter | None:
    """Enter the namespaces (forking into the new PID namespace) and mount the private folder.

    Returns the seccomp filter, built but not loaded (None where libseccomp is missing).
    """
    entered = namespaces.enter(isolation.notes)
    isolation.network_namespace = entered.network
    if entered.pid:
        namespaces.become_init(keep_fds=(args.fd,))
        isolation.pid_namespace = True
    if entered.mount:
        problem = namespaces.mount_private_folder(args.tmp, args.disk_mb)
        if problem is None:
            isolation.disk_quota_mb = args.disk_mb
        else:
            isolation.notes.append(problem)
    try:
        return syscall_filter.build()
    except syscall_filter.FilterUnavailable as exc:
        isolation.notes.append(f"no seccomp filter: {exc}")
        return None


def _readable(args: argparse.Namespace) -> list[str]:
    extra = []
    if args.library:
        cache = os.path.join(os.path.dirname(args.library), snapshot.CACHE_DIR)
        extra = [args.library, f"{args.library}-wal", f"{args.library}-shm", cache]
    return confine.readable_paths(extra)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--fd", type=int, required=True)
    parser.add_argument("--library")
    parser.add_argument("--context-json")
    parser.add_argument("--only-json")  # ids of the library's documents to load (else all)
    parser.add_argument("--large", action="store_true")  # map the library, not one str
    parser.add_argument("--tmp", required=True)
    parser.add_argument("--memory-mb", type=int, required=True)
    parser.add_argument("--cpu-s", type=int, required=True)
    parser.add_argument("--file-mb", type=int, required=True)
    parser.add_argument("--disk-mb", type=int, required=True)
    parser.add_argument("--open-files", type=int, required=True)
    parser.add_argument("--output-chars", type=int, required=True)
    parser.add_argument("--chunk-chars", type=int, default=_DEFAULT_CHUNK_CHARS)
    parser.add_argument("--globals-json")
    parser.add_argument("--tools-json")
    parser.add_argument("--earlier-json")  # ids of earlier turns' documents (null: all)
    parser.add_argument("--no-isolate", action="store_true")
    args = parser.parse_args(argv)
    # What the app left in the private folder is read before anything is mounted over it.
    plain = _read_json(args.context_json)
    only = _read_json(args.only_json)
    globals_data = _read_json(args.globals_json)
    tools = _read_json(args.tools_json)
    earlier = _read_json(args.earlier_json)
    extra_globals = (
        {str(k): v for k, v in globals_data.items()} if isinstance(globals_data, dict) else {}
    )
    isolation = confine.Isolation()
    rules = None
    if not args.no_isolate:
        rules = _confine(args, isolation)
    sock = socket.socket(fileno=args.fd)
    source, value = _load(args, plain, only)
    contexts = [_load(args, None, ids)[1] for ids in earlier] if isinstance(earlier, list) else []
    if not args.no_isolate:
        isolation.landlock_abi = confine.landlock(args.tmp, _readable(args))
        if not isolation.landlock_abi:
            isolation.notes.append(
                "this kernel offers no Landlock (Linux 5.13 or newer has it): "
                "reading and writing files is not confined"
            )
        isolation.capabilities_dropped = namespaces.drop_capabilities()
    isolation.rlimits = confine.apply_rlimits(
        args.memory_mb, args.cpu_s, args.file_mb, args.open_files
    )
    if rules is not None:
        try:
            rules.load()
            isolation.seccomp, isolation.denied_syscalls = True, rules.denied
        except syscall_filter.FilterUnavailable as exc:
            isolation.notes.append(f"no seccomp filter: {exc}")
    confine.install_audit_hook(args.tmp)
    isolation.audit_hook = True
    isolation.decide_level()
    repl = Repl(
        sock, source, value, args.output_chars, args.disk_mb, args.memory_mb, args.chunk_chars
    )
    repl.namespace.update(extra_globals)
    if contexts:  # the documents changed between turns: each turn's, the current one last
        repl.namespace.update({f"context_{i}": c for i, c in enumerate([*contexts, value])})
    tools_error = repl.load_tools(tools["source"]) if isinstance(tools, dict) else None
    protocol.send(
        sock,
        {
            "type": "ready",
            "tools_error": tools_error,
            "isolation": isolation.to_json(),
            "chars": len(source),
            "documents": len(source.documents),
            "large": isinstance(source, LargeContext),
        },
    )
    while True:
        try:
            message = protocol.receive(sock)
        except protocol.ChannelClosed:
            return
        if message["type"] == "exec":
            cell = protocol.field(message, "cell", int)
            protocol.send(sock, repl.run_cell(cell, protocol.field(message, "code", str)))
        elif message["type"] == "shutdown":
            return


if __name__ == "__main__":
    main()
