"""The one entry point: ``python -m rlm_desktop`` and the frozen executable.

Without arguments it is the command line. With ``--rlm-child NAME`` it runs one of the app's
children (the REPL worker), so a frozen build, which has no ``python`` to run modules with,
starts them the same way as a source checkout (see ``launch``).
"""

from __future__ import annotations

import sys

from rlm_desktop.launch import CHILD_FLAG, CHILDREN, is_frozen


def main(argv: list[str] | None = None) -> None:
    """Run the command line, or the child named after ``--rlm-child``."""
    if is_frozen():
        # multiprocessing's spawned workers (ingestion) re-enter the executable here.
        import multiprocessing

        multiprocessing.freeze_support()
    args = sys.argv[1:] if argv is None else argv
    if args[:1] == [CHILD_FLAG]:
        if len(args) < 2 or args[1] not in CHILDREN:
            sys.exit(f"{CHILD_FLAG} needs one of: {', '.join(CHILDREN)}")
        # The worker imports only the sandbox: never the command line, the GUI or a model.
        from rlm_desktop.sandbox import worker

        worker.main(args[2:])
        return
    from rlm_desktop.cli import main as cli_main

    cli_main()


if __name__ == "__main__":
    main()
