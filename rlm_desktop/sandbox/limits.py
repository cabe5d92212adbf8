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
    large_context_mb: int = _DEFAULTS.large_context_mb  # see ``is_large``

    @classmethod
    def from_settings(cls, settings: Settings, **overrides: int | float | None) -> SandboxLimits:
        """The limits the settings describe; ``overrides`` that are not None win, this once."""
        values = {
            "timeout_s": settings.cell_timeout_s,
            "memory_mb": settings.sandbox_memory_mb,
            "disk_mb": settings.sandbox_disk_mb,
            "large_context_mb": settings.large_context_mb,
        }
        values.update({k: v for k, v in overrides.items() if v is not None})
        return cls(**values)  # type: ignore[arg-type]


_AUTO_SHARE = 32  # automatically, texts up to 1/32 of the machine's memory stay one str
_AUTO_MAX_MB = 512  # ... and never more than this (loading it takes seconds, not minutes)
_STR_BYTES_PER_BYTE = 5  # a str takes up to 4 bytes a character, plus the file read into it


def machine_memory_mb() -> int:
    """The machine's memory in MB (4 GB where it cannot be read)."""
    try:
        with open("/proc/meminfo", encoding="ascii") as handle:
            for line in handle:
                if line.startswith("MemTotal:"):
                    return int(line.split()[1]) // 1024
    except (OSError, ValueError, IndexError):
        pass
    return 4096


def is_large(text_bytes: int, large_context_mb: int) -> bool:
    """Whether a library's text (``text_bytes`` of UTF-8) is served mapped from disk: above
    ``large_context_mb`` MB, or when that is 0, above 1/32 of the machine's memory (at most
    512 MB); any library when it is below 0."""
    if large_context_mb < 0:
        return True
    threshold = large_context_mb or min(_AUTO_MAX_MB, machine_memory_mb() // _AUTO_SHARE)
    return text_bytes > threshold * (1 << 20)


def child_memory_mb(base_mb: int, text_bytes: int, mapped_mb: int, large: bool) -> int:
    """The REPL's address-space limit: ``base_mb`` for the cells' own work, plus the library:
    its mapped files (which count against the limit though they are read from disk as
    needed), or the one ``str`` it is loaded into."""
    if large:
        return base_mb + mapped_mb
    return base_mb + _STR_BYTES_PER_BYTE * text_bytes // (1 << 20)


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
