"""How much one REPL may use, and what to tell the user when it dies at a limit.

Every limit is enforced by the OS or by the app, never by the child itself.
"""

from __future__ import annotations

import signal
from dataclasses import dataclass

from rlm_desktop.settings import Settings

_DEFAULTS = Settings()


@dataclass(frozen=True)
class SandboxLimits:
    """Per-REPL limits; every one is enforced by the OS or by the parent, not by the child."""

    timeout_s: float = _DEFAULTS.cell_timeout_s  # wall clock per cell (sub-calls excluded)
    memory_mb: int = _DEFAULTS.sandbox_memory_mb  # address space of the child
    cpu_s: int = 3600  # CPU seconds over the REPL's whole life
    file_mb: int = 64  # largest file the child may write
    open_files: int = 64
    output_chars: int = 20_000  # printed characters kept per cell
    disk_mb: int = _DEFAULTS.sandbox_disk_mb  # all the REPL writes (a tmpfs quota)

    @classmethod
    def from_settings(cls, settings: Settings, **overrides: int | float | None) -> SandboxLimits:
        """The limits the settings describe; ``overrides`` that are not None win, this once."""
        values = {
            "timeout_s": settings.cell_timeout_s,
            "memory_mb": settings.sandbox_memory_mb,
            "disk_mb": settings.sandbox_disk_mb,
        }
        values.update({k: v for k, v in overrides.items() if v is not None})
        return cls(**values)  # type: ignore[arg-type]


_SIGNALS = {
    "SIGKILL": "it was killed (SIGKILL), most often by the system's out-of-memory killer",
    "SIGSYS": "it made a system call the sandbox forbids (seccomp)",
    "SIGSEGV": "it crashed (SIGSEGV, a fault in native code)",
    "SIGBUS": "it crashed (SIGBUS, a fault in native code)",
    "SIGILL": "it crashed (SIGILL)",
    "SIGFPE": "it crashed (SIGFPE)",
    "SIGABRT": "it aborted (SIGABRT)",
}


def explain_exit(code: int, stderr_tail: str, limits: SandboxLimits) -> str:
    """Say in words why a REPL process with exit status ``code`` ended."""
    if code < 0:
        try:
            name = signal.Signals(-code).name
        except ValueError:
            name = f"signal {-code}"
        if name == "SIGXCPU":
            why = f"it used up its CPU time ({limits.cpu_s:,} s for the whole REPL)"
        elif name == "SIGXFSZ":
            why = f"it wrote a file past the size limit ({limits.file_mb} MB)"
        else:
            why = _SIGNALS.get(name, f"it was ended by {name}")
    elif "MemoryError" in stderr_tail:
        why = f"it ran out of memory (its limit is {limits.memory_mb:,} MB)"
    elif "Too many open files" in stderr_tail:
        why = f"it ran out of file descriptors (its limit is {limits.open_files})"
    else:
        why = f"it exited with status {code}"
    if stderr_tail and stderr_tail not in why:
        why += f" — {stderr_tail}"
    return why
