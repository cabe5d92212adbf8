"""Commands that fill and read the library: ingest, rescan, remove, docs, search, show."""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

import click
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table
from rich.text import Text

from rlm_desktop.cli.output import (
    err,
    json_option,
    library_option,
    open_library,
    out,
    print_json,
    shown,
)
from rlm_desktop.errors import UsageError
from rlm_desktop.ingest import pipeline
from rlm_desktop.ingest.pipeline import IngestProgress, IngestReport
from rlm_desktop.store.documents import split_page_label
from rlm_desktop.store.search import HIT_END, HIT_START
from rlm_desktop.textsafe import printable


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
            name = shown(Path(event.path).name)
            if event.pages:
                name += f" · OCR page {event.page} of {event.pages}"
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
                f"[{colour}]{outcome.status:>7}[/] {shown(outcome.path)}: {shown(outcome.reason)}"
            )
        for warning in outcome.warnings:
            out.print(f"[yellow]warning[/] {shown(outcome.path)}: {shown(warning)}")
        for note in outcome.notes:
            out.print(f"[cyan]   note[/] {shown(outcome.path)}: {shown(note)}")
    if report.cancelled:
        out.print("[yellow]cancelled:[/] run the command again to ingest the rest")


@click.command()
@click.argument("paths", nargs=-1, required=True, type=click.Path(path_type=Path))
@library_option
@json_option
@click.option("--workers", type=click.IntRange(1, 64), default=None, help="Extraction processes.")
@click.pass_context
def ingest(
    ctx: click.Context,
    paths: tuple[Path, ...],
    library_dir: Path | None,
    as_json: bool,
    workers: int | None,
) -> None:
    """Add files and folders (recursively) to the library; unchanged files are skipped."""
    with open_library(ctx, library_dir) as library, progress_bar(not as_json) as on_progress:
        report = pipeline.ingest(library, paths, on_progress=on_progress, workers=workers)
    show_report(report, as_json)


@click.command()
@library_option
@json_option
@click.pass_context
def rescan(ctx: click.Context, library_dir: Path | None, as_json: bool) -> None:
    """Re-read every file and folder added before: new, changed and vanished files."""
    with open_library(ctx, library_dir) as library, progress_bar(not as_json) as on_progress:
        report = pipeline.rescan(library, on_progress=on_progress)
    show_report(report, as_json)


@click.command()
@click.argument("paths", nargs=-1, required=True, type=click.Path(path_type=Path))
@library_option
@json_option
@click.pass_context
def remove(
    ctx: click.Context, paths: tuple[Path, ...], library_dir: Path | None, as_json: bool
) -> None:
    """Remove files or folders from the library (the files themselves are not touched)."""
    with open_library(ctx, library_dir) as library:
        report = pipeline.remove(library, paths)
    show_report(report, as_json)


@click.command()
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
        notes = doc.error or "; ".join(n for n in (doc.ocr_note, *doc.warnings) if n)
        table.add_row(
            doc.status,
            doc.kind,
            "" if doc.pages is None else str(doc.pages),
            f"{doc.chars:,}",
            shown(doc.path),
            shown(notes),
        )
    out.print(table)


@click.command()
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
def search(ctx: click.Context, query: str, library_dir: Path | None, k: int, as_json: bool) -> None:
    """Find passages: words match with OR and rank by bm25; "quotes" match a phrase."""
    with open_library(ctx, library_dir) as library:
        hits = library.search(query, k)
    if as_json:
        print_json([hit.to_json() for hit in hits])
        return
    if not hits:
        out.print(f"No passage matches {shown(repr(query))}.")
        return
    for rank, hit in enumerate(hits, 1):
        where = f"lines {hit.line_start}-{hit.line_end}"
        if hit.page is not None:
            printed, ocr = split_page_label(hit.page_label)
            label = f' (printed "{printed}")' if printed not in (None, str(hit.page)) else ""
            where = f"page {hit.page}{label}{' (OCR)' if ocr else ''}, {where}"
        out.print(
            f"[bold]{rank}.[/] {shown(hit.path)}  [cyan]{shown(where)}[/]  "
            f"[dim]chars {hit.start}-{hit.end}  score {hit.score:.2f}[/]"
        )
        out.print(_highlighted(hit.snippet))


@click.command()
@click.argument("path", type=click.Path(dir_okay=False, path_type=Path))
@click.option("--line", type=click.IntRange(min=1), required=True, help="The line to show.")
@click.option(
    "--around",
    type=click.IntRange(0, 1000),
    default=10,
    show_default=True,
    help="How many lines to show before and after it.",
)
@library_option
@json_option
@click.pass_context
def show(
    ctx: click.Context,
    path: Path,
    line: int,
    around: int,
    library_dir: Path | None,
    as_json: bool,
) -> None:
    """Print a line of a document with the lines around it, as the library stores them
    (only those lines are read, however big the document)."""
    wanted = str(path.expanduser().absolute().resolve())
    with open_library(ctx, library_dir) as library:
        doc = library.document_by_path(wanted)
        if doc is None or not doc.searchable:
            raise UsageError(f"{wanted} has no text in the library")
        text, first = library.lines_around(doc.id, line, around, around)
    lines = text.splitlines()
    if as_json:
        print_json({"path": doc.path, "line": line, "first_line": first, "lines": lines})
        return
    width = len(str(first + len(lines)))
    for number, content in enumerate(lines, first):
        mark = ">" if number == line else " "
        style = "bold" if number == line else "dim"
        out.print(Text(f"{mark}{number:>{width}} ", style=style) + Text(printable(content)))


def _highlighted(snippet: str) -> Text:
    """A search snippet on one indented line, its matches in bold (a stray marker is harmless)."""
    line = Text("   ")
    style = None
    for piece in re.split(f"([{HIT_START}{HIT_END}])", " ".join(snippet.split())):
        if piece in (HIT_START, HIT_END):
            style = "bold yellow" if piece == HIT_START else None
        else:
            line.append(printable(piece), style=style)
    return line
