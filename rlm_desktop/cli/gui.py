"""``rlm-desktop gui``: the window, from the command line."""

from __future__ import annotations

from pathlib import Path

import click

from rlm_desktop.cli.output import library_folder, library_option
from rlm_desktop.store import Library


@click.command()
@library_option
@click.option(
    "--screenshot",
    type=click.Path(dir_okay=False, path_type=Path),
    help="Save a picture of the window once it is on screen, print the start time, and close.",
)
@click.pass_context
def gui(ctx: click.Context, library_dir: Path | None, screenshot: Path | None = None) -> None:
    """Open the window on a library."""
    from rlm_desktop.gui.app import run

    folder = library_folder(ctx, library_dir)
    Library(folder).close()  # create or upgrade it here, with a clear error if it cannot be
    ctx.exit(run(folder, screenshot=screenshot))
