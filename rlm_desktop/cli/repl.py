"""``rlm-desktop repl`` and ``doctor``: the sandboxed REPL by hand, and what confines it."""

from __future__ import annotations

import codeop
from pathlib import Path
from typing import TYPE_CHECKING

import click
from rich.markup import escape

from rlm_desktop.cli.output import (
    err,
    json_option,
    library_option,
    open_library,
    out,
    print_json,
    shown_text,
)
from rlm_desktop.textsafe import printable

if TYPE_CHECKING:
    from rlm_desktop.sandbox.host import CellResult, Sandbox


@click.command()
@library_option
@click.option(
    "--exec",
    "exec_file",
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    help="Run this file as one cell and exit (status 1 if it raised or was killed).",
)
@click.option(
    "--timeout", type=click.FloatRange(min=0.1), help="Seconds per cell (default: the setting)."
)
@click.option(
    "--memory",
    type=click.IntRange(min=64),
    help="Memory limit of the REPL in MB (default: the setting).",
)
@click.option(
    "--disk",
    type=click.IntRange(min=1),
    help="MB the REPL may write in all (default: the setting).",
)
@json_option
@click.pass_context
def repl(
    ctx: click.Context,
    library_dir: Path | None,
    exec_file: Path | None,
    timeout: float | None,
    memory: int | None,
    disk: int | None,
    as_json: bool,
) -> None:
    """A sandboxed Python REPL with the library as `context` (and grep, search, locate)."""
    from rlm_desktop.sandbox.host import Sandbox, SandboxLimits
    from rlm_desktop.settings import load_settings

    limits = SandboxLimits.from_settings(
        load_settings(), timeout_s=timeout, memory_mb=memory, disk_mb=disk
    )
    with open_library(ctx, library_dir) as library:
        folder = library.folder
    with Sandbox(library=folder, limits=limits) as sandbox:
        if exec_file is not None:
            result = sandbox.execute(exec_file.read_text(encoding="utf-8"))
            if as_json:
                print_json(
                    {
                        "stdout": result.stdout,
                        "stderr": result.stderr,
                        "error": result.error,
                        "message": result.message,
                        "final": result.final,
                        "explored": [e.to_json() for e in result.explored],
                    }
                )
            else:
                _show_cell(result)
            ctx.exit(1 if result.error else 0)
        _interactive(sandbox)


@click.command()
@json_option
@click.pass_context
def doctor(ctx: click.Context, as_json: bool) -> None:
    """What this machine's kernel gives the sandbox, layer by layer, and the keychain."""
    from rlm_desktop.llm.keys import keychain_available
    from rlm_desktop.sandbox.host import Sandbox, SandboxError

    try:
        with Sandbox(context="") as sandbox:
            isolation = sandbox.isolation
    except SandboxError as exc:
        err.print(f"[red]The sandbox cannot start:[/] {escape(str(exc))}")
        ctx.exit(1)
    assert isolation is not None
    keychain = keychain_available()
    if as_json:
        layers = [
            {"layer": name, "active": active, "stops": stops}
            for name, active, stops in isolation.layers()
        ]
        print_json(
            {
                "level": isolation.level,
                "layers": layers,
                "notes": isolation.notes,
                "keychain": keychain,
            }
        )
        return
    out.print(f"Sandbox isolation: [bold]{isolation.level}[/]")
    for name, active, stops in isolation.layers():
        mark = "[green]yes[/]" if active else "[red]no [/]"
        out.print(f"  {mark}  {escape(name)}: {escape(stops)}")
    for note in isolation.notes:
        out.print(f"  [yellow]note[/] {escape(note)}")
    if isolation.level != "strong":
        out.print(
            "This kernel lacks some layers: model-written code is still confined by the rest, "
            "but not as tightly. See the README's Security model."
        )
    out.print(
        "Keychain: "
        + ("available" if keychain else "none (API keys cannot be stored; local models work)")
    )


def _show_cell(result: CellResult) -> None:
    # What a cell prints is library text too: shown with its lines, never obeyed.
    if result.stdout:
        click.echo(printable(result.stdout, multiline=True), nl=not result.stdout.endswith("\n"))
    if result.stderr:
        stderr = printable(result.stderr, multiline=True)
        click.echo(stderr, nl=not result.stderr.endswith("\n"), err=True)
    if result.error and result.error != "exception":
        err.print(f"[red]{result.error}:[/] {shown_text(result.message)}")
    elif result.state_lost:
        err.print("[yellow]note:[/] the REPL was restarted; earlier variables are gone")
    if result.final is not None:
        err.print(f"[green]FINAL:[/] {shown_text(result.final)}")


def _read_cell() -> str:
    """Lines typed at the prompt until they make a whole cell (a block ends at an empty line)."""
    lines: list[str] = []
    while True:
        lines.append(input("... " if lines else ">>> "))
        source = "\n".join(lines)
        try:
            complete = codeop.compile_command(source, "<cell>", "exec")
        except SyntaxError:
            return source  # let the REPL report it
        if complete is not None and not (
            lines[-1].startswith((" ", "\t")) or source.rstrip().endswith(":")
        ):
            return source


def _interactive(sandbox: Sandbox) -> None:
    assert sandbox.isolation is not None
    err.print(
        f"RLM Desktop REPL — context: {sandbox.context_chars:,} characters. "
        f"Isolation {escape(sandbox.isolation.summary())}.\n"
        "Try: print(context.describe()), context.grep('error')[:5], help(context.search). "
        "Ctrl+D exits."
    )
    while True:
        try:
            source = _read_cell()
        except EOFError:
            err.print()
            return
        except KeyboardInterrupt:
            err.print("\nKeyboardInterrupt")
            continue
        if source.strip():
            _show_cell(sandbox.execute(source))
