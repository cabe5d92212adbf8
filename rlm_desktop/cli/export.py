"""``rlm-desktop export``: answers with their cited snippets as Markdown, HTML, Word or PDF."""

from __future__ import annotations

from pathlib import Path

import click

from rlm_desktop.cli.output import library_option, open_library, out, shown
from rlm_desktop.errors import UsageError


@click.command()
@click.argument("run_ids", nargs=-1, type=int)
@click.option("--last", is_flag=True, help="The latest run.")
@click.option("--all", "all_runs", is_flag=True, help="The library's whole question history.")
@click.option("--format", "fmt", type=click.Choice(["md", "html", "docx", "pdf"]), required=True)
@click.option(
    "-o",
    "output",
    type=click.Path(dir_okay=False, path_type=Path),
    required=True,
    help="The file to write.",
)
@library_option
@click.option("--trajectory", is_flag=True, help="Add the trajectory (code, outputs, sub-calls).")
@click.pass_context
def export(
    ctx: click.Context,
    run_ids: tuple[int, ...],
    last: bool,
    all_runs: bool,
    fmt: str,
    output: Path,
    library_dir: Path | None,
    trajectory: bool,
) -> None:
    """Export answers with their cited snippets: RUN_ID..., --last or --all."""
    from rlm_desktop.export import ExportRun, export_runs
    from rlm_desktop.gui.pdf_export import html_to_pdf

    if sum(bool(x) for x in (run_ids, last, all_runs)) != 1:
        raise UsageError("give RUN_ID (one or more), --last or --all")
    with open_library(ctx, library_dir) as library:
        picked = library.pick_runs(run_ids, last=last, everything=all_runs)
        runs = [ExportRun.from_saved(record) for record in picked]
    path = export_runs(runs, fmt, output, trajectory, pdf_renderer=html_to_pdf)
    out.print(f"wrote {len(runs)} answer(s) to {shown(str(path))}")
