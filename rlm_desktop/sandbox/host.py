"""The app's side of the REPL: start the child, send cells, answer its sub-calls, enforce time.

The child runs model-written code, so the app believes nothing it says that it can check:
every frame is size-capped before it is read and must carry the id of the cell in progress;
printed output is cut to its limit again here; which library text reached a model is worked
out here, from what was printed and what was sent to sub-calls; a final answer counts only
for a cell whose code calls ``FINAL``/``FINAL_VAR``. A frame that breaks these rules ends the
child and the next cell gets a fresh REPL. A cell that runs too long gets the whole process
group killed, and a child that dies is reported with the reason (and replaced on the next
cell) without ever taking the app down.
"""

from __future__ import annotations

import json
import logging
import os
import select
import shutil
import signal
import socket
import subprocess
import tempfile
import threading
import time
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path
from typing import IO

from rlm_desktop import launch
from rlm_desktop.errors import RlmDesktopError
from rlm_desktop.sandbox import protocol, snapshot
from rlm_desktop.sandbox.cells import (
    CellResult,
    Explored,
    SubCall,
    SubCallAnswer,
    SubCallHandler,
    read_places,
    read_result,
    read_subcall,
    trace,
)
from rlm_desktop.sandbox.confine import Isolation
from rlm_desktop.sandbox.context import Context, ContextBase
from rlm_desktop.sandbox.large import open_library
from rlm_desktop.sandbox.limits import SandboxLimits, child_memory_mb, explain_exit, is_large
from rlm_desktop.sandbox.locate import Hints
from rlm_desktop.sandbox.tools import Tools, ToolsError
from rlm_desktop.store.library import DB_FILENAME, Library

log = logging.getLogger(__name__)

_START_TIMEOUT_S = 120.0
DEFAULT_CHUNK_CHARS = 20_000  # map_chunks's piece size when the app gives none
_MIN_TRACED_CHARS = 12  # shorter output cannot be traced back to one place


class SandboxError(RlmDesktopError):
    """The sandbox could not be started."""


class _LateReply(Exception):
    """The child answered for an earlier cell before the one just sent."""


def _no_models(call: SubCall) -> list[str]:
    raise RuntimeError("no model is configured for sub-calls in this REPL")


class Sandbox:
    """A persistent, confined Python REPL whose ``context`` is a library or given text."""

    def __init__(
        self,
        *,
        library: Path | str | None = None,
        context: str | list[str] | None = None,
        limits: SandboxLimits | None = None,
        on_subcall: SubCallHandler | None = None,
        isolate: bool = True,
        variables: dict | None = None,
        depth: int = 0,
        child_rlms: bool = False,
        locator: Callable[[], ContextBase] | None = None,
        only: list[int] | None = None,
        chunk_chars: int = DEFAULT_CHUNK_CHARS,
        tools: Tools | None = None,
        earlier: list[list[int] | None] | None = None,
    ) -> None:
        """``depth`` is the RLM's (0 for the root), to say who read what; ``child_rlms`` says
        that ``rlm_query`` starts a child RLM here (which explores the text it is given
        instead of reading it whole); ``locator`` gives the library's text to trace output
        against when this REPL's ``context`` is a piece of it (a child RLM's)."""
        if (library is None) == (context is None):
            raise ValueError("give either a library folder or a context value")
        self.library_db = None if library is None else Path(library).resolve() / DB_FILENAME
        if self.library_db is not None and not self.library_db.exists():
            raise SandboxError(f"no library at {self.library_db.parent}")
        self.context = context
        self.limits = limits or SandboxLimits()
        self.on_subcall = on_subcall or _no_models
        self.isolate = isolate
        self.variables = variables or {}  # JSON values put into the REPL (e.g. history)
        self.isolation: Isolation | None = None
        self.context_chars = 0
        self.large_context = False  # the library is mapped from disk, not one str
        self.memory_mb = self.limits.memory_mb  # the child's limit, the library included
        self._process: subprocess.Popen | None = None
        self._sock: socket.socket | None = None
        self._tmp: str | None = None
        self._stderr: IO[bytes] | None = None
        self._lock = threading.Lock()
        self._lost = False
        self._cell = 0
        self._locator: ContextBase | None = None
        self.depth = depth
        self.only = only  # ids of the library's documents its context holds (None: all)
        # map_chunks's piece size, which the app works out from the sub model's window
        # (the child has no tokenizer); the app checks every prompt's size again anyway.
        self.chunk_chars = chunk_chars
        self.child_rlms = child_rlms
        self.tools = tools  # the user's custom tools, run in the child only
        # The documents of a conversation's earlier turns (ids; None: all), as context_0 …
        self.earlier = earlier or []
        self._shared_locator = locator
        self._hints = Hints()  # places of context handed to this REPL's code

    # ---------------------------------------------------------------- life cycle

    def __enter__(self) -> Sandbox:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    @property
    def pid(self) -> int | None:
        """The child's process id while it runs."""
        return self._process.pid if self._process is not None and self.alive else None

    def process_ids(self) -> list[int]:
        """The REPL's processes as the app sees them: the one it started and all below it."""
        found, queue = [], [self.pid] if self.pid is not None else []
        while queue:
            pid = queue.pop()
            found.append(pid)
            try:
                with open(f"/proc/{pid}/task/{pid}/children", encoding="ascii") as handle:
                    queue.extend(int(child) for child in handle.read().split())
            except OSError:
                continue
        return found

    @property
    def alive(self) -> bool:
        """True while the child process runs."""
        return self._process is not None and self._process.poll() is None

    def start(self) -> Isolation:
        """Start the child (if not running) and wait until ``context`` is loaded."""
        if self.alive:
            assert self.isolation is not None
            return self.isolation
        self._cleanup()
        library_args = self._library_args()
        self._tmp = tempfile.mkdtemp(prefix="rlm-repl-")
        parent_sock, child_sock = socket.socketpair()
        self._stderr = tempfile.TemporaryFile()  # noqa: SIM115 (lives as long as the child)
        command = [
            *launch.child_command("sandbox-worker"),
            "--fd",
            str(child_sock.fileno()),
            "--tmp",
            self._tmp,
            "--memory-mb",
            str(self.memory_mb),
            "--cpu-s",
            str(self.limits.cpu_s),
            "--file-mb",
            str(self.limits.file_mb),
            "--open-files",
            str(self.limits.open_files),
            "--disk-mb",
            str(self.limits.disk_mb),
            "--output-chars",
            str(self.limits.output_chars),
            "--chunk-chars",
            str(self.chunk_chars),
            *library_args,
        ]
        if self.library_db is not None:
            for ids in self.earlier:
                snapshot.ensure(self.library_db, ids)
            if self.earlier:
                earlier_file = Path(self._tmp) / "earlier.json"
                earlier_file.write_text(json.dumps(self.earlier), encoding="utf-8")
                command += ["--earlier-json", str(earlier_file)]
            if self.only is not None:
                only_file = Path(self._tmp) / "only.json"
                only_file.write_text(json.dumps(self.only), encoding="utf-8")
                command += ["--only-json", str(only_file)]
        else:
            context_file = Path(self._tmp) / "context.json"
            context_file.write_text(json.dumps(self.context), encoding="utf-8")
            command += ["--context-json", str(context_file)]
        if self.variables:
            globals_file = Path(self._tmp) / "globals.json"
            globals_file.write_text(json.dumps(self.variables), encoding="utf-8")
            command += ["--globals-json", str(globals_file)]
        if self.tools is not None:
            tools_file = Path(self._tmp) / "tools.json"
            tools_file.write_text(json.dumps({"source": self.tools.source}), encoding="utf-8")
            command += ["--tools-json", str(tools_file)]
        if not self.isolate:
            command.append("--no-isolate")
        try:
            self._process = subprocess.Popen(
                command,
                pass_fds=(child_sock.fileno(),),
                env=self._child_env(),
                cwd=self._tmp,
                stdin=subprocess.DEVNULL,
                stdout=subprocess.DEVNULL,
                stderr=self._stderr,
                start_new_session=True,
            )
        except OSError as exc:
            raise SandboxError(f"cannot start the REPL process: {exc}") from exc
        finally:
            child_sock.close()
        self._sock = parent_sock
        self._sock.settimeout(_START_TIMEOUT_S)
        try:
            ready = protocol.receive(self._sock)
            if ready["type"] != "ready":
                raise protocol.ProtocolError("expected a ready message")
        except (OSError, protocol.ProtocolError) as exc:
            reason = self._death_reason()
            self._kill()
            raise SandboxError(f"the REPL process failed to start: {reason or exc}") from exc
        isolation = ready.get("isolation")
        known = Isolation.__dataclass_fields__
        fields_sent = isolation.items() if isinstance(isolation, dict) else []
        self.isolation = Isolation(**{k: v for k, v in fields_sent if k in known})
        failed = ready.get("tools_error")
        if self.tools is not None and failed is not None:
            self._kill()
            raise ToolsError(
                f"the custom tools file {self.tools.path} failed to load in the REPL: "
                f"{str(failed)[:2_000]}"
            )
        chars = ready.get("chars")
        self.context_chars = chars if isinstance(chars, int) else 0
        return self.isolation

    def _library_args(self) -> list[str]:
        """Write the library's snapshot if missing; decide from its size whether the child
        maps it (a large context) and how much memory the child may use."""
        if self.library_db is None:
            return []
        Library(self.library_db.parent).close()  # brings an older library's schema up to date
        found = snapshot.ensure(self.library_db, self.only)
        self.large_context = is_large(found.size, self.limits.large_context_mb)
        self.memory_mb = child_memory_mb(
            self.limits.memory_mb, found.size, found.files_mb, self.large_context
        )
        args = ["--library", str(self.library_db)]
        return [*args, "--large"] if self.large_context else args

    def _child_env(self) -> dict[str, str]:
        """A minimal environment: nothing from the app's (no keys, no tokens)."""
        assert self._tmp is not None
        return {
            "PATH": os.defpath,
            "HOME": self._tmp,
            "TMPDIR": self._tmp,
            "LANG": "C.UTF-8",
            "LC_ALL": "C.UTF-8",
            # One thread each: numeric libraries' thread pools would multiply memory.
            "OPENBLAS_NUM_THREADS": "1",
            "OMP_NUM_THREADS": "1",
            "MKL_NUM_THREADS": "1",
        }

    def close(self) -> None:
        """Stop the child and remove its temporary folder."""
        if self._process is not None and self.alive and self._sock is not None:
            try:
                protocol.send(self._sock, {"type": "shutdown"})
                self._process.wait(timeout=2)
            except (OSError, subprocess.TimeoutExpired, protocol.ProtocolError):
                pass
        self._kill()
        self._cleanup()

    def cancel(self) -> None:
        """Kill the running cell from another thread (the REPL state is lost)."""
        self._kill()

    def _kill(self) -> None:
        process = self._process
        if process is not None and process.poll() is None:
            try:
                os.killpg(process.pid, signal.SIGKILL)
            except (ProcessLookupError, PermissionError):
                process.kill()
            process.wait()

    def _cleanup(self) -> None:
        if self._sock is not None:
            self._sock.close()
            self._sock = None
        if self._stderr is not None:
            self._stderr.close()
            self._stderr = None
        if self._tmp is not None:
            shutil.rmtree(self._tmp, ignore_errors=True)
            self._tmp = None

    def _death_reason(self) -> str:
        """Why the child died, in words: the limit it hit or the signal that ended it."""
        process = self._process
        if process is None:
            return ""
        try:
            code = process.wait(timeout=5)
        except subprocess.TimeoutExpired:
            return "it stopped answering"
        tail = ""
        if self._stderr is not None:
            self._stderr.seek(0, os.SEEK_END)
            self._stderr.seek(max(0, self._stderr.tell() - 2000))
            lines = self._stderr.read().decode("utf-8", "replace").strip().splitlines()
            tail = lines[-1][:300] if lines else ""
        return explain_exit(code, tail, replace(self.limits, memory_mb=self.memory_mb))

    # ---------------------------------------------------------------- running code

    def execute(
        self, code: str, timeout: float | None = None, shown_chars: int | None = None
    ) -> CellResult:
        """Run one cell; never raises for anything the cell does.

        ``shown_chars`` is how much of its output (stdout and stderr each) a model will be
        shown: only that is traced as read (None: all of it; 0: none, a cell the app runs).
        """
        with self._lock:
            lost = self._lost
            if self.alive and self._pending():
                # The child sent something nobody asked for (a cell that forged a reply and
                # went on running): it cannot be trusted with another cell.
                self._kill()
                lost = True
            if not self.alive:
                lost = lost or self._process is not None
                self.start()
            self._lost = False
            try:
                result = self._run(code, timeout or self.limits.timeout_s, shown_chars)
            except _LateReply:
                # A reply to an earlier cell, which had forged its own reply and gone on
                # running: that REPL is not trusted again, and this cell runs in a fresh one.
                self._kill()
                self.start()
                lost = True
                result = self._run(code, timeout or self.limits.timeout_s, shown_chars)
            result.state_lost = result.state_lost or lost
            return result

    def _pending(self) -> bool:
        """True when the child has sent data that no request is waiting for."""
        assert self._sock is not None
        readable, _, _ = select.select([self._sock], [], [], 0)
        return bool(readable)

    def _run(self, code: str, timeout: float, shown_chars: int | None) -> CellResult:
        assert self._sock is not None
        self._cell += 1
        cell = self._cell
        explored: list[Explored] = []
        answered = 0  # sub-calls answered for this cell
        deadline = time.monotonic() + timeout
        try:
            protocol.send(self._sock, {"type": "exec", "cell": cell, "code": code})
            while True:
                self._sock.settimeout(max(0.01, deadline - time.monotonic()))
                message = protocol.receive(self._sock)
                if message["type"] not in ("result", "subcall"):
                    raise protocol.ProtocolError(f"unexpected '{message['type']}' frame")
                sent_for = message.get("cell")
                if isinstance(sent_for, int) and sent_for < cell and not answered:
                    raise _LateReply
                if sent_for != cell:
                    raise protocol.ProtocolError("a frame for another cell than the one running")
                if message["type"] == "result":
                    result = read_result(message, code, self.limits)
                    self._note_reads(message)
                    if shown_chars != 0:
                        for text in (result.stdout, result.stderr):
                            explored.extend(self._trace(text[:shown_chars], "printed"))
                    result.explored = explored
                    return result
                handled_in = self._answer_subcall(message, explored)
                answered += 1
                deadline += handled_in  # model time does not count against the cell
        except TimeoutError:
            self._kill()
            self._lost = True
            return CellResult(
                error="timeout",
                message=f"the cell ran longer than {timeout:g} s and was stopped; "
                "the REPL was restarted and its variables were lost",
                state_lost=True,
            )
        except protocol.ChannelClosed:
            reason = self._death_reason()
            self._kill()
            self._lost = True
            return CellResult(
                error="memory" if "out of memory" in reason else "killed",
                message=f"the REPL process died: {reason}; its variables were lost",
                state_lost=True,
            )
        except (OSError, protocol.ProtocolError) as exc:
            alive = self.alive
            self._kill()
            self._lost = True
            why = f"it broke the protocol ({exc})" if alive else self._death_reason()
            return CellResult(
                error="killed",
                message=f"the REPL was stopped: {why}; a fresh one starts with the next "
                "cell and the variables were lost",
                state_lost=True,
            )

    def _answer_subcall(self, message: dict, explored: list[Explored]) -> float:
        started = time.monotonic()
        call_id, call = read_subcall(message)
        self._note_reads(message)
        reply: dict
        try:
            answered = self.on_subcall(call)
            if not isinstance(answered, SubCallAnswer):
                answered = SubCallAnswer(list(answered))
            if len(answered.results) != len(call.prompts):
                raise RuntimeError("the model returned a wrong number of answers")
            reply = {
                "type": "subcall_result",
                "id": call_id,
                "results": [str(r) for r in answered.results],
            }
            if answered.cited:
                reply["cited"] = [[n, snippet] for n, snippet in answered.cited]
            # Only a sub-call that answered read its prompt; a child RLM read only what it
            # printed in its own REPL (traced there), not the whole text it was given.
            sent = call.context if isinstance(call.context, str) else "\n".join(call.context or [])
            child = call.kind.startswith("rlm_query") and not answered.read_context
            for piece in call.prompts if child else [*call.prompts, sent]:
                explored.extend(self._trace(piece, "subcall"))
        except Exception as exc:  # a failed model call becomes an error inside the cell
            reply = {"type": "subcall_error", "id": call_id, "message": str(exc)}
        assert self._sock is not None
        protocol.send(self._sock, reply)
        return time.monotonic() - started

    @property
    def locator(self) -> ContextBase:
        """The library's text (or this REPL's own context) to trace output against, loaded
        here on first use: the app never takes provenance from the child."""
        if self._locator is None:
            if self._shared_locator is not None:
                self._locator = self._shared_locator()
            elif self.library_db is not None:
                large = True if self.large_context else None  # else: by its size
                self._locator = open_library(self.library_db, self.only, large)
            elif isinstance(self.context, str):
                self._locator = Context.from_text(self.context)
            else:
                self._locator = Context.from_strings([str(v) for v in self.context or []])
        return self._locator

    def _note_reads(self, message: dict) -> None:
        """Remember the places of ``context`` the child says its code was handed. They are
        offsets in this REPL's own context, which is what output is traced against at depth 0
        (a child RLM's context is a piece of the library: its offsets mean nothing there)."""
        if self.depth == 0:
            self._hints.add(read_places(message, self.context_chars))

    def _trace(self, text: str, via: str) -> list[Explored]:
        """Library text in ``text``, located here against the library (never by the child),
        with who read it: printed output is read by this REPL's RLM, a sub-call's prompt by
        a model one level down."""
        if len(text) < _MIN_TRACED_CHARS:
            return []
        depth = self.depth if via == "printed" else self.depth + 1
        reader = "root" if depth == 0 else "sub-call"
        hints = self._hints if self.depth == 0 else None
        return trace(self.locator, text, via, reader, depth, hints)


__all__ = [
    "CellResult",
    "Explored",
    "Sandbox",
    "SandboxError",
    "SandboxLimits",
    "SubCall",
    "SubCallAnswer",
]
