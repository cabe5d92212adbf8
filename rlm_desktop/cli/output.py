"""What every command shares: the consoles, safe text for them, JSON, the common options."""

from __future__ import annotations

import json
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TypeVar

import click
from rich.console import Console
from rich.markup import escape

from rlm_desktop.paths import default_library_dir
from rlm_desktop.store import Library
from rlm_desktop.textsafe import printable

# Piped output gets a fixed, wide layout instead of rich's 80-column default.
out = Console(highlight=False, soft_wrap=True, width=None if sys.stdout.isatty() else 120)
err = Console(stderr=True, highlight=False)

Command = TypeVar("Command", bound=Callable[..., object])


def shown(text: str) -> str:
    """A name, path, reason or message for rich markup: on one line, with nothing obeyed."""
    return escape(printable(text))


def shown_text(text: str) -> str:
    """Document or model text for rich markup: lines kept, terminal controls escaped."""
    return escape(printable(text, multiline=True))


def print_json(data: object) -> None:
    """Write one JSON document to stdout."""
    click.echo(json.dumps(data, indent=2, ensure_ascii=False))


def log_dim(message: str) -> None:
    """A progress note on stderr, dimmed."""
    err.print(f"[dim]{message}[/]")


def library_option(func: Command) -> Command:
    """The ``--library DIR`` option shared by every command that uses a library."""
    return click.option(
        "--library",
        "library_dir",
        type=click.Path(file_okay=False, path_type=Path),
        default=None,
        help="Library folder (default: the user data dir, or $RLM_DESKTOP_HOME/library).",
    )(func)


def json_option(func: Command) -> Command:
    """The ``--json`` option: machine-readable output on stdout."""
    return click.option("--json", "as_json", is_flag=True, help="Print JSON instead of text.")(func)


def model_options(func: Command) -> Command:
    """``--model`` and ``--base-url``, shared by every command that runs a model."""
    func = click.option(
        "--base-url", default=None, help="Base URL of an OpenAI-compatible server (openai:MODEL)."
    )(func)
    return click.option(
        "--model",
        "model_spec",
        default=None,
        help="demo, a .gguf file, openai:MODEL or replay:FILE.json (default: from settings).",
    )(func)


def library_folder(ctx: click.Context, library_dir: Path | None) -> Path:
    """The library named on the command line: the subcommand's, the group's, or the default."""
    return library_dir or ctx.find_root().params.get("library_dir") or default_library_dir()


@contextmanager
def open_library(ctx: click.Context, library_dir: Path | None) -> Iterator[Library]:
    """Open the library named on the command line."""
    with Library(library_folder(ctx, library_dir)) as library:
        yield library
