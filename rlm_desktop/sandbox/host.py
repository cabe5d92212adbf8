"""The app's side of the REPL: start the child, send cells, answer its sub-calls, enforce time.

The child runs model-written code, so everything it sends is validated here, a cell that
runs too long gets the whole process group killed, and a child that dies is reported (and
replaced on the next cell) without ever taking the app down.
"""

from __future__ import annotations

import json
import logging
import os
import shutil
import signal
import socket
import subprocess
import tempfile
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from rlm_desktop import launch
from rlm_desktop.errors import RlmDesktopError
from rlm_desktop.sandbox import protocol, snapshot
from rlm_desktop.sandbox.confine import Isolation
from rlm_desktop.store.library import DB_FILENAME, Library

log = logging.getLogger(__name__)

_START_TIMEOUT_S = 120.0
_LOCATION_INTS = ("line_start", "line_end", "start", "end", "context_start", "context_end")


class SandboxError(RlmDesktopError):
    """The sandbox could not be started."""


@dataclass(frozen=True)
class SandboxLimits:
    """Per-REPL limits; every one is enforced by the OS or by the parent, not by the child."""

    timeout_s: float = 60.0  # wall clock per cell (sub-call time excluded)
    memory_mb: int = 2048  # address space of the child
    cpu_s: int = 3600  # CPU seconds over the REPL's whole life
    file_mb: int = 64  # largest file the child may write
    open_files: int = 64
    output_chars: int = 20_000  # printed characters kept per cell


@dataclass(frozen=True)
class Explored:
    """Library text that reached a model, with where it came from and how it got there."""

    path: str
    document: str
    page: int | None
    page_label: str | None
    line_start: int
    line_end: int
    start: int
    end: int
    context_start: int
    context_end: int
    via: str  # "printed" or "subcall"


@dataclass
class CellResult:
    """What one cell did. ``error`` is None, or exception / timeout / memory / killed."""

    stdout: str = ""
    stderr: str = ""
    error: str | None = None
    message: str = ""
    changed: list[str] = field(default_factory=list)
    duration_s: float = 0.0
    final: str | None = None
    explored: list[Explored] = field(default_factory=list)
    citations: list[str] = field(default_factory=list)  # snippets registered with cite()
    state_lost: bool = False


@dataclass(frozen=True)
class SubCall:
    """A request from the REPL for model calls: answer with one string per prompt."""

    kind: str  # llm_query, llm_query_batched or rlm_query
    prompts: list[str]
    context: str | list[str] | None = None


SubCallHandler = Callable[[SubCall], list[str]]


def _no_models(call: SubCall) -> list[str]:
    raise RuntimeError("no model is configured for sub-calls in this REPL")


def _explored(record: object) -> Explored | None:
    """Validate one provenance record sent by the child."""
    if not isinstance(record, dict):
        return None
    try:
        ints = {k: record[k] for k in _LOCATION_INTS}
        if not all(isinstance(v, int) and not isinstance(v, bool) for v in ints.values()):
            return None
        page = record.get("page")
        label = record.get("page_label")
        via = record.get("via")
        if via not in ("printed", "subcall") or not (page is None or isinstance(page, int)):
            return None
        return Explored(
            path=str(record["path"]),
            document=str(record["document"]),
            page=page,
            page_label=None if label is None else str(label),
            via=via,
            **ints,
        )
    except KeyError:
        return None


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
    ) -> None:
        if (library is None) == (context is None):
            raise ValueError("give either a library folder or a context value")
        self.library_db = None if library is None else Path(library).resolve() / DB_FILENAME
        if self.library_db is not None and not self.library_db.exists():
            raise SandboxError(f"no library at {Path(library).resolve()}")
        self.context = context
        self.limits = limits or SandboxLimits()
        self.on_subcall = on_subcall or _no_models
        self.isolate = isolate
        self.variables = variables or {}  # JSON values put into the REPL (e.g. history)
        self.isolation: Isolation | None = None
        self.context_chars = 0
        self._process: subprocess.Popen | None = None
        self._sock: socket.socket | None = None
        self._tmp: str | None = None
        self._stderr = None
        self._lock = threading.Lock()
        self._lost = False

    # ---------------------------------------------------------------- life cycle

    def __enter__(self) -> Sandbox:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    @property
    def pid(self) -> int | None:
        """The child's process id while it runs."""
        return self._process.pid if self.alive else None

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
            str(self.limits.memory_mb),
            "--cpu-s",
            str(self.limits.cpu_s),
            "--file-mb",
            str(self.limits.file_mb),
            "--open-files",
            str(self.limits.open_files),
            "--output-chars",
            str(self.limits.output_chars),
        ]
        if self.library_db is not None:
            Library(self.library_db.parent).close()  # brings an older library's schema up to date
            snapshot.ensure(self.library_db)
            command += ["--library", str(self.library_db)]
        else:
            context_file = Path(self._tmp) / "context.json"
            context_file.write_text(json.dumps(self.context), encoding="utf-8")
            command += ["--context-json", str(context_file)]
        if self.variables:
            globals_file = Path(self._tmp) / "globals.json"
            globals_file.write_text(json.dumps(self.variables), encoding="utf-8")
            command += ["--globals-json", str(globals_file)]
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
        isolation = ready.get("isolation") if isinstance(ready.get("isolation"), dict) else {}
        known = Isolation.__dataclass_fields__
        self.isolation = Isolation(**{k: v for k, v in isolation.items() if k in known})
        self.context_chars = ready.get("chars") if isinstance(ready.get("chars"), int) else 0
        return self.isolation

    def _child_env(self) -> dict[str, str]:
        """A minimal environment: nothing from the app's (no keys, no tokens)."""
        assert self._tmp is not None
        return {
            "PATH": os.defpath,
            "HOME": self._tmp,
            "TMPDIR": self._tmp,
            "LANG": "C.UTF-8",
            "LC_ALL": "C.UTF-8",
            # One thread: the child may not create tasks (RLIMIT_NPROC is 0).
            "OPENBLAS_NUM_THREADS": "1",
            "OMP_NUM_THREADS": "1",
            "MKL_NUM_THREADS": "1",
        }

    def close(self) -> None:
        """Stop the child and remove its temporary folder."""
        if self.alive and self._sock is not None:
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
        """Why the child died: its exit status and the end of what it printed to stderr."""
        process = self._process
        if process is None:
            return ""
        try:
            code = process.wait(timeout=5)
        except subprocess.TimeoutExpired:
            return "it stopped answering"
        if code < 0:
            try:
                name = signal.Signals(-code).name
            except ValueError:
                name = f"signal {-code}"
            status = f"killed by {name}"
        else:
            status = f"exited with status {code}"
        tail = ""
        if self._stderr is not None:
            self._stderr.seek(0, os.SEEK_END)
            self._stderr.seek(max(0, self._stderr.tell() - 2000))
            tail = self._stderr.read().decode("utf-8", "replace").strip().splitlines()
            tail = tail[-1] if tail else ""
        return f"{status}: {tail}" if tail else status

    # ---------------------------------------------------------------- running code

    def execute(self, code: str, timeout: float | None = None) -> CellResult:
        """Run one cell; never raises for anything the cell does."""
        with self._lock:
            lost = self._lost
            if not self.alive:
                lost = lost or self._process is not None
                self.start()
            self._lost = False
            result = self._run(code, timeout or self.limits.timeout_s)
            result.state_lost = result.state_lost or lost
            return result

    def _run(self, code: str, timeout: float) -> CellResult:
        assert self._sock is not None
        deadline = time.monotonic() + timeout
        try:
            protocol.send(self._sock, {"type": "exec", "code": code})
            while True:
                self._sock.settimeout(max(0.01, deadline - time.monotonic()))
                message = protocol.receive(self._sock)
                if message["type"] == "result":
                    return self._result(message)
                if message["type"] != "subcall":
                    raise protocol.ProtocolError(f"unexpected '{message['type']}' message")
                handled_in = self._answer_subcall(message)
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
        except (OSError, protocol.ProtocolError) as exc:
            reason = self._death_reason() if not self.alive else str(exc)
            self._kill()
            self._lost = True
            kind = "memory" if "MemoryError" in reason else "killed"
            return CellResult(
                error=kind,
                message=f"the REPL process died ({reason}); its variables were lost",
                state_lost=True,
            )

    def _answer_subcall(self, message: dict) -> float:
        started = time.monotonic()
        call_id = protocol.field(message, "id", int)
        kind = protocol.field(message, "kind", str)
        prompts = protocol.field(message, "prompts", list)
        context = message.get("context")
        if kind not in ("llm_query", "llm_query_batched", "rlm_query"):
            raise protocol.ProtocolError(f"unknown sub-call kind {kind!r}")
        if not all(isinstance(p, str) for p in prompts) or not (
            context is None
            or isinstance(context, str)
            or (isinstance(context, list) and all(isinstance(c, str) for c in context))
        ):
            raise protocol.ProtocolError("sub-call prompts must be strings")
        try:
            results = self.on_subcall(SubCall(kind, prompts, context))
            if len(results) != len(prompts):
                raise RuntimeError("the model returned a wrong number of answers")
            reply = {"type": "subcall_result", "id": call_id, "results": [str(r) for r in results]}
        except Exception as exc:  # a failed model call becomes an error inside the cell
            reply = {"type": "subcall_error", "id": call_id, "message": str(exc)}
        assert self._sock is not None
        protocol.send(self._sock, reply)
        return time.monotonic() - started

    def _result(self, message: dict) -> CellResult:
        error = message.get("error")
        if error not in (None, "exception", "memory"):
            raise protocol.ProtocolError("invalid error kind")
        final = message.get("final")
        explored = message.get("explored") if isinstance(message.get("explored"), list) else []
        changed = message.get("changed") if isinstance(message.get("changed"), list) else []
        cited = message.get("citations") if isinstance(message.get("citations"), list) else []
        duration = message.get("duration")
        return CellResult(
            stdout=protocol.field(message, "stdout", str),
            stderr=protocol.field(message, "stderr", str),
            error=error,
            message=str(message.get("message", "")),
            changed=[str(name) for name in changed],
            duration_s=float(duration) if isinstance(duration, (int, float)) else 0.0,
            final=final if isinstance(final, str) else None,
            explored=[e for e in map(_explored, explored) if e is not None],
            citations=[c for c in cited if isinstance(c, str)],
        )
