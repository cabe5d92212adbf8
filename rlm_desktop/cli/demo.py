"""``rlm-desktop demo``: the main job on the bundled samples, in the window or the terminal."""

from __future__ import annotations

from pathlib import Path

import click

from rlm_desktop.cli.ask import show_result
from rlm_desktop.cli.library import progress_bar, show_report
from rlm_desktop.cli.output import library_option, model_options, open_library, out, shown
from rlm_desktop.ingest import pipeline
from rlm_desktop.paths import sample_documents

DEMO_QUESTION = "Which user names appear in the invalid user attempts of the SSH log?"


@click.command()
@library_option
@click.option("--question", default=DEMO_QUESTION, show_default=True)
@click.option("--no-window", is_flag=True, help="Ask in the terminal even with a display.")
@model_options
@click.pass_context
def demo(
    ctx: click.Context,
    library_dir: Path | None,
    question: str,
    no_window: bool,
    model_spec: str | None,
    base_url: str | None,
) -> None:
    """The main job: ingest the bundled samples, then open the window with the demo model
    (without a display: search the samples and ask the demo model in the terminal)."""
    from rlm_desktop import RLM
    from rlm_desktop.rlm.budget import Budget
    from rlm_desktop.rlm.events import CodeRun, Event, SubCallEnded, TurnStarted

    with open_library(ctx, library_dir) as library, progress_bar(True) as on_progress:
        out.print(f"[bold]Library:[/] {shown(str(library.folder))}")
        report = pipeline.ingest(library, sample_documents(), on_progress=on_progress)
        show_report(report, as_json=False)
        out.print('\n[bold]Search[/] for "authentication failure":')
        for hit in library.search('"authentication failure"', 3):
            out.print(
                f"  {shown(hit.title)} lines {hit.line_start}-{hit.line_end}: "
                f"{shown(' '.join(hit.plain_snippet().split())[:100])}"
            )
        from rlm_desktop.gui.app import has_display, run

        if has_display() and not no_window:
            out.print("\nOpening the window with the samples and the demo model selected.")
            ctx.exit(run(library.folder, model_spec or "demo"))
        out.print("\n[yellow]No display here: asking the question in the terminal instead.[/]")
        events: list[Event] = []
        # The demo is a fixed scenario: the demo model, the method, and a small budget.
        rlm = RLM(
            model_spec or "demo",
            mode="rlm",
            base_url=base_url,
            on_event=events.append,
            budget=Budget(max_iterations=3, max_subcalls=6, max_seconds=300),
        )
        out.print(f"\n[bold]Asking[/] {shown(question)} [dim](model: {shown(rlm.model)})[/]")
        try:
            result = rlm.completion(question, library)
        finally:
            rlm.close()
    turns = sum(isinstance(e, TurnStarted) for e in events)
    cells = sum(isinstance(e, CodeRun) for e in events)
    subcalls = sum(isinstance(e, SubCallEnded) for e in events)
    out.print(
        f"[dim]Trajectory: {turns} turns, {cells} code cells, {subcalls} sub-call "
        f"batches; see it all with `rlm-desktop history --json`.[/]\n"
    )
    show_result(result)
