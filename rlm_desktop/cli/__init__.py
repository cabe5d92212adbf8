"""The ``rlm-desktop`` command: every capability of the app without a window.

Each command group lives in its own module and only parses arguments, calls the core and
prints; this module gathers them under one group that turns errors into exit codes.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import click

from rlm_desktop.cli import about, ask, bench, demo, export, gui, library, models, repl, settings
from rlm_desktop.cli.output import library_option
from rlm_desktop.errors import RlmDesktopError
from rlm_desktop.textsafe import printable
from rlm_desktop.version import __version__

__all__ = ["cli", "main"]

INTERRUPTED = (
    "interrupted: the library is consistent; run the same command again to finish the work"
)


class CliError(click.ClickException):
    """A user-facing error with its own exit code."""

    def __init__(self, message: str, exit_code: int) -> None:
        super().__init__(message)
        self.exit_code = exit_code  # type: ignore[misc]  # click declares it on the class


class AppGroup(click.Group):
    """Turns the app's exceptions into one-line messages and exit codes, in one place."""

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except RlmDesktopError as exc:
            raise CliError(printable(exc.message, multiline=True), exc.exit_code) from exc
        except KeyboardInterrupt as exc:
            raise CliError(INTERRUPTED, 130) from exc


@click.group(cls=AppGroup, invoke_without_command=True)
@click.version_option(__version__, prog_name="rlm-desktop")
@library_option
@click.pass_context
def cli(ctx: click.Context, library_dir: Path | None) -> None:
    """Ask hard questions of your own documents, offline. Without a command: the window."""
    if ctx.invoked_subcommand is None:
        ctx.invoke(gui.gui, library_dir=library_dir)


for command in (
    gui.gui,
    library.ingest,
    library.rescan,
    library.remove,
    library.docs,
    library.search,
    library.show,
    ask.ask,
    ask.history,
    demo.demo,
    repl.repl,
    repl.doctor,
    export.export,
    models.models,
    models.generate,
    models.key,
    settings.config,
    bench.bench,
    about.about,
):
    cli.add_command(command)


def main() -> None:
    """Console-script entry point."""
    sys.exit(cli.main(prog_name="rlm-desktop"))
