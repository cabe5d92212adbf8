"""The ``rlm-desktop`` command: every capability of the app without a window."""

from __future__ import annotations

import json
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

import click
from rich.console import Console
from rich.markup import escape
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from rlm_desktop import __version__
from rlm_desktop.errors import RlmDesktopError
from rlm_desktop.ingest import pipeline
from rlm_desktop.ingest.pipeline import IngestProgress, IngestReport
from rlm_desktop.paths import default_library_dir, samples_dir
from rlm_desktop.store import Library
from rlm_desktop.store.search import HIT_END, HIT_START

out = Console(highlight=False, soft_wrap=True)
err = Console(stderr=True, highlight=False)

INTERRUPTED = (
    "interrupted: the library is consistent; run the same command again to finish the work"
)


class CliError(click.ClickException):
    """A user-facing error with its own exit code."""

    def __init__(self, message: str, exit_code: int) -> None:
        super().__init__(message)
        self.exit_code = exit_code


class AppGroup(click.Group):
    """Turns the app's exceptions into one-line messages and exit codes, in one place."""

    def invoke(self, ctx: click.Context):
        try:
            return super().invoke(ctx)
        except RlmDesktopError as exc:
            raise CliError(exc.message, exc.exit_code) from exc
        except KeyboardInterrupt as exc:
            raise CliError(INTERRUPTED, 130) from exc


def library_option(func: Callable) -> Callable:
    """The ``--library DIR`` option shared by every command that uses a library."""
    return click.option(
        "--library",
        "library_dir",
        type=click.Path(file_okay=False, path_type=Path),
        default=None,
        help="Library folder (default: the user data dir, or $RLM_DESKTOP_HOME/library).",
    )(func)


def json_option(func: Callable) -> Callable:
    """The ``--json`` option: machine-readable output on stdout."""
    return click.option("--json", "as_json", is_flag=True, help="Print JSON instead of text.")(func)


@contextmanager
def open_library(ctx: click.Context, library_dir: Path | None) -> Iterator[Library]:
    """Open the library named on the command line (subcommand, then group, then default)."""
    folder = library_dir or ctx.find_root().params.get("library_dir") or default_library_dir()
    with Library(folder) as library:
        yield library


def print_json(data: object) -> None:
    """Write one JSON document to stdout."""
    click.echo(json.dumps(data, indent=2, ensure_ascii=False))


@click.group(cls=AppGroup, invoke_without_command=True)
@click.version_option(__version__, prog_name="rlm-desktop")
@library_option
@click.pass_context
def cli(ctx: click.Context, library_dir: Path | None) -> None:
    """Ask hard questions of your own documents, offline."""
    if ctx.invoked_subcommand is None:
        click.echo(ctx.get_help())


# ------------------------------------------------------------------ ingestion


@contextmanager
def progress_bar(enabled: bool) -> Iterator[Callable[[IngestProgress], None] | None]:
    """A file-count progress bar on stderr when it is a terminal."""
    if not (enabled and err.is_terminal):
        yield None
        return
    columns = (
        TextColumn("[bold]ingesting"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        TextColumn("{task.description}"),
    )
    with Progress(*columns, console=err, transient=True) as progress:
        task = progress.add_task("", total=None)

        def update(event: IngestProgress) -> None:
            name = Path(event.path).name
            progress.update(task, completed=event.done, total=event.total, description=name)

        yield update


def show_report(report: IngestReport, as_json: bool) -> None:
    """Print an ingest summary: counts, then every failure and warning with its reason."""
    if as_json:
        print_json(report.to_json())
        return
    counts = report.counts()
    out.print(", ".join(f"{n} {status}" for status, n in counts.items()))
    for outcome in sorted(report.files, key=lambda o: o.path):
        if outcome.status in ("failed", "skipped"):
            colour = "red" if outcome.status == "failed" else "yellow"
            out.print(
                f"[{colour}]{outcome.status:>7}[/] {escape(outcome.path)}: {escape(outcome.reason)}"
            )
        for warning in outcome.warnings:
            out.print(f"[yellow]warning[/] {escape(outcome.path)}: {escape(warning)}")
    if report.cancelled:
        out.print("[yellow]cancelled:[/] run the command again to ingest the rest")


@cli.command()
@click.argument("paths", nargs=-1, required=True, type=click.Path(path_type=Path))
@library_option
@json_option
@click.option("--workers", type=click.IntRange(1, 64), default=None, help="Extraction processes.")
@click.pass_context
def ingest(
    ctx: click.Context, paths: tuple[Path, ...], library_dir: Path | None, as_json: bool, workers
) -> None:
    """Add files and folders (recursively) to the library; unchanged files are skipped."""
    with open_library(ctx, library_dir) as library, progress_bar(not as_json) as on_progress:
        report = pipeline.ingest(library, paths, on_progress=on_progress, workers=workers)
    show_report(report, as_json)


@cli.command()
@library_option
@json_option
@click.pass_context
def rescan(ctx: click.Context, library_dir: Path | None, as_json: bool) -> None:
    """Re-read every file and folder added before: new, changed and vanished files."""
    with open_library(ctx, library_dir) as library, progress_bar(not as_json) as on_progress:
        report = pipeline.rescan(library, on_progress=on_progress)
    show_report(report, as_json)


@cli.command()
@click.argument("paths", nargs=-1, required=True, type=click.Path(path_type=Path))
@library_option
@json_option
@click.pass_context
def remove(ctx: click.Context, paths: tuple[Path, ...], library_dir: Path | None, as_json: bool):
    """Remove files or folders from the library (the files themselves are not touched)."""
    with open_library(ctx, library_dir) as library:
        report = pipeline.remove(library, paths)
    show_report(report, as_json)


# ------------------------------------------------------------------ reading


@cli.command()
@library_option
@json_option
@click.pass_context
def docs(ctx: click.Context, library_dir: Path | None, as_json: bool) -> None:
    """List the library's documents with status, pages, characters, warnings and errors."""
    with open_library(ctx, library_dir) as library:
        documents = library.documents()
    if as_json:
        print_json([doc.__dict__ for doc in documents])
        return
    if not documents:
        out.print("The library is empty: add documents with `rlm-desktop ingest PATH`.")
        return
    table = Table(box=None, header_style="bold", pad_edge=False)
    for column in ("status", "kind", "pages", "chars", "document", "notes"):
        table.add_column(
            column, overflow="fold", justify="right" if column in ("pages", "chars") else "left"
        )
    for doc in documents:
        notes = doc.error or "; ".join(doc.warnings)
        table.add_row(
            doc.status,
            doc.kind,
            "" if doc.pages is None else str(doc.pages),
            f"{doc.chars:,}",
            escape(doc.path),
            escape(notes),
        )
    out.print(table)


@cli.command()
@click.argument("query")
@library_option
@click.option(
    "-k",
    "k",
    type=click.IntRange(1, 1000),
    default=10,
    show_default=True,
    help="How many passages to show.",
)
@json_option
@click.pass_context
def search(ctx: click.Context, query: str, library_dir: Path | None, k: int, as_json: bool):
    """Find passages: words match with OR and rank by bm25; "quotes" match a phrase."""
    with open_library(ctx, library_dir) as library:
        hits = library.search(query, k)
    if as_json:
        print_json([hit.to_json() for hit in hits])
        return
    if not hits:
        out.print(f"No passage matches {query!r}.")
        return
    for rank, hit in enumerate(hits, 1):
        where = f"lines {hit.line_start}-{hit.line_end}"
        if hit.page is not None:
            label = (
                f' (printed "{hit.page_label}")'
                if hit.page_label not in (None, str(hit.page))
                else ""
            )
            where = f"page {hit.page}{label}, {where}"
        out.print(
            f"[bold]{rank}.[/] {escape(hit.path)}  [cyan]{where}[/]  "
            f"[dim]chars {hit.start}-{hit.end}  score {hit.score:.2f}[/]"
        )
        snippet = escape(" ".join(hit.snippet.split()))
        out.print("   " + snippet.replace(HIT_START, "[bold yellow]").replace(HIT_END, "[/]"))


# ------------------------------------------------------------------ the main job


@cli.command()
@library_option
@click.option(
    "--query",
    default='"authentication failure" root',
    show_default=True,
    help="What to search for in the samples.",
)
@click.pass_context
def demo(ctx: click.Context, library_dir: Path | None, query: str) -> None:
    """Ingest the bundled sample documents and search them (the app's main job, headless)."""
    with open_library(ctx, library_dir) as library, progress_bar(True) as on_progress:
        out.print(f"Library: {library.folder}")
        report = pipeline.ingest(library, [samples_dir()], on_progress=on_progress)
        show_report(report, as_json=False)
    out.print(f"\nSearching the samples for {query}:")
    ctx.invoke(search, query=query, library_dir=library_dir, k=5, as_json=False)


@cli.group()
def bench() -> None:
    """Benchmarks that print ratios measured side by side in one run."""


@bench.command("ingest")
@json_option
@click.option(
    "--quick", is_flag=True, help="Small corpora: a fast smoke run, figures not meaningful."
)
def bench_ingest(as_json: bool, quick: bool) -> None:
    """PDF ingest vs bare pypdf, rescan vs first ingest, peak memory on a 1 GB log."""
    from rlm_desktop.bench.ingest_bench import run_ingest_benchmarks
    from rlm_desktop.bench.report import print_results

    results = run_ingest_benchmarks(quick=quick, log=lambda msg: err.print(f"[dim]{msg}[/]"))
    print_results(results, as_json, out)


@bench.command("sandbox")
@json_option
@click.option("--quick", is_flag=True, help="A 1M-token library: a fast smoke run.")
def bench_sandbox(as_json: bool, quick: bool) -> None:
    """REPL start vs plain read, child memory, locate vs str.find (10M-token library)."""
    from rlm_desktop.bench.report import print_results
    from rlm_desktop.bench.sandbox_bench import run_sandbox_benchmarks

    results = run_sandbox_benchmarks(quick=quick, log=lambda msg: err.print(f"[dim]{msg}[/]"))
    print_results(results, as_json, out)


def main() -> None:
    """Console-script entry point."""
    sys.exit(cli.main(prog_name="rlm-desktop"))


# ------------------------------------------------------------------ the sandboxed REPL


def _sandbox_limits(timeout: float | None, memory: int | None):
    from rlm_desktop.sandbox.host import SandboxLimits

    defaults = SandboxLimits()
    return SandboxLimits(
        timeout_s=timeout or defaults.timeout_s, memory_mb=memory or defaults.memory_mb
    )


def _explored_json(explored) -> list[dict]:
    keys = ("path", "document", "page", "page_label", "line_start", "line_end", "start", "end")
    return [{**{k: getattr(e, k) for k in keys}, "via": e.via} for e in explored]


def _show_cell(result) -> None:
    if result.stdout:
        click.echo(result.stdout, nl=not result.stdout.endswith("\n"))
    if result.stderr:
        click.echo(result.stderr, nl=not result.stderr.endswith("\n"), err=True)
    if result.error and result.error != "exception":
        err.print(f"[red]{result.error}:[/] {escape(result.message)}")
    elif result.state_lost:
        err.print("[yellow]note:[/] the REPL was restarted; earlier variables are gone")
    if result.final is not None:
        err.print(f"[green]FINAL:[/] {escape(result.final)}")


@cli.command()
@library_option
@click.option(
    "--exec",
    "exec_file",
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    help="Run this file as one cell and exit (status 1 if it raised or was killed).",
)
@click.option("--timeout", type=click.FloatRange(min=0.1), help="Seconds per cell.")
@click.option("--memory", type=click.IntRange(min=64), help="Memory limit of the REPL in MB.")
@json_option
@click.pass_context
def repl(
    ctx: click.Context,
    library_dir: Path | None,
    exec_file: Path | None,
    timeout: float | None,
    memory: int | None,
    as_json: bool,
) -> None:
    """A sandboxed Python REPL with the library as `context` (and grep, search, locate)."""
    from rlm_desktop.sandbox.host import Sandbox

    with open_library(ctx, library_dir) as library:
        folder = library.folder
    with Sandbox(library=folder, limits=_sandbox_limits(timeout, memory)) as sandbox:
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
                        "explored": _explored_json(result.explored),
                    }
                )
            else:
                _show_cell(result)
            ctx.exit(1 if result.error else 0)
        _interactive(sandbox)


def _interactive(sandbox) -> None:
    import codeop

    assert sandbox.isolation is not None
    err.print(
        f"RLM Desktop REPL — context: {sandbox.context_chars:,} characters. "
        f"Isolation {escape(sandbox.isolation.summary())}.\n"
        "Try: print(context.describe()), context.grep('error')[:5], help(context.search). "
        "Ctrl+D exits."
    )
    while True:
        lines: list[str] = []
        try:
            while True:
                lines.append(input("... " if lines else ">>> "))
                source = "\n".join(lines)
                try:
                    complete = codeop.compile_command(source, "<cell>", "exec")
                except SyntaxError:
                    break  # let the REPL report it
                if complete is not None and not (
                    lines[-1].startswith((" ", "\t")) or source.rstrip().endswith(":")
                ):
                    break
        except EOFError:
            err.print()
            return
        except KeyboardInterrupt:
            err.print("\nKeyboardInterrupt")
            continue
        if "\n".join(lines).strip():
            _show_cell(sandbox.execute("\n".join(lines)))
