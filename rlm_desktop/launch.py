"""How RLM Desktop starts its own processes, from a source checkout or a frozen build.

A frozen build (PyInstaller) has one executable and no ``python`` to run modules with, so
every child the app starts goes through the same entry point, :func:`main`, with a flag that
names the child. The source checkout uses the same path (``python -I -m rlm_desktop``), so
the tests exercise the dispatch the bundle relies on.
"""

from __future__ import annotations

import importlib
import sys
from pathlib import Path

CHILD_FLAG = "--rlm-child"
# Children by name: the module whose ``main(argv)`` runs.
_CHILDREN = {"sandbox-worker": "rlm_desktop.sandbox.worker"}


def is_frozen() -> bool:
    """True inside a frozen build (the bundle made by ``packaging/build.py``)."""
    return bool(getattr(sys, "frozen", False))


def bundle_dir() -> Path | None:
    """The folder holding the frozen executable (None from a source checkout)."""
    return Path(sys.executable).resolve().parent if is_frozen() else None


def child_command(name: str) -> list[str]:
    """The command line that starts the child ``name`` (arguments are appended by the caller)."""
    if name not in _CHILDREN:
        raise ValueError(f"unknown child process '{name}'")
    if is_frozen():
        return [sys.executable, CHILD_FLAG, name]
    # -I: the child ignores PYTHON* variables and the user's site-packages.
    return [sys.executable, "-I", "-m", "rlm_desktop", CHILD_FLAG, name]


def main(argv: list[str] | None = None) -> None:
    """Entry point of ``python -m rlm_desktop`` and of the frozen executable."""
    if is_frozen():
        # multiprocessing's spawned workers (ingestion) re-enter the executable here.
        import multiprocessing

        multiprocessing.freeze_support()
    args = sys.argv[1:] if argv is None else argv
    if args[:1] == [CHILD_FLAG]:
        if len(args) < 2 or args[1] not in _CHILDREN:
            sys.exit(f"{CHILD_FLAG} needs one of: {', '.join(sorted(_CHILDREN))}")
        importlib.import_module(_CHILDREN[args[1]]).main(args[2:])
        return
    from rlm_desktop.cli import main as cli_main

    cli_main()
