"""How RLM Desktop starts its own processes, from a source checkout or a frozen build.

A frozen build (PyInstaller) has one executable and no ``python`` to run modules with, so
every child the app starts goes through the same entry point (``rlm_desktop.__main__``) with a
flag that names the child. The source checkout uses the same path (``python -I -m rlm_desktop``), so
the tests exercise the dispatch the bundle relies on.
"""

from __future__ import annotations

import sys
from pathlib import Path

CHILD_FLAG = "--rlm-child"
# The children the entry point knows (``rlm_desktop.__main__`` maps each to its module).
CHILDREN = ("sandbox-worker",)


def is_frozen() -> bool:
    """True inside a frozen build (the bundle made by ``packaging/build.py``)."""
    return bool(getattr(sys, "frozen", False))


def bundle_dir() -> Path | None:
    """The folder holding the frozen executable (None from a source checkout)."""
    return Path(sys.executable).resolve().parent if is_frozen() else None


def child_command(name: str) -> list[str]:
    """The command line that starts the child ``name`` (arguments are appended by the caller)."""
    if name not in CHILDREN:
        raise ValueError(f"unknown child process '{name}'")
    if is_frozen():
        return [sys.executable, CHILD_FLAG, name]
    # -I: the child ignores PYTHON* variables and the user's site-packages.
    return [sys.executable, "-I", "-m", "rlm_desktop", CHILD_FLAG, name]
