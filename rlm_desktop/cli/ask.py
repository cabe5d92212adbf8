"""``rlm-desktop ask`` and ``history``: questions, their answers, and how they were found."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import click
from rich.markup import escape

from rlm_desktop.cli.library import progress_bar, show_report
from rlm_desktop.cli.output import (
    err,
    json_option,
    library_option,
    model_options,
    open_library,
    out,
    print_json,
    shown,
    shown_text,
)
from rlm_desktop.export.content import (
    citations_from_records,
    location,
    run_note,
    run_outcome,
    scope_words,
    status_counts,
    status_label,
    stop_line,
    support_label,
)
from rlm_desktop.ingest import pipeline
from rlm_desktop.textsafe import printable

if TYPE_CHECKING:
    from rlm_desktop.rlm.citations import Citation
    from rlm_desktop.rlm.engine import RLMResult
    from rlm_desktop.rlm.events import Event


def _from_setting(name: str) -> str:
    return f"(default: the saved setting {name})."


@click.command()
@click.argument("question")
@library_option
@click.option(
    "--docs",
    "docs_paths",
    multiple=True,
    type=click.Path(path_type=Path),
    help="Ingest these files/folders into the library first (repeatable).",
)
@model_options
@click.option(
    "--sub-model", default=None, help="Model for sub-calls (default: the saved one, else --model)."
)
@click.option(
    "--mode",
    type=click.Choice(["rlm", "no-subcalls", "direct"]),
    help="The method " + _from_setting("mode"),
)
@click.option(
    "--profile",
    type=click.Choice(["auto", "paper", "reference"]),
    help="The protocol the root model is told: the paper's, the reference scaffold that "
    "natively recursive models were trained with, or auto (picked per model) "
    + _from_setting("rlm_profile"),
)
@click.option(
    "--tools",
    "tools_file",
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    help="A Python file of helper functions for the REPL, described to the model "
    + _from_setting("tools_file"),
)
@click.option(
    "--max-iterations",
    type=click.IntRange(1),
    help="Root-loop turns at most " + _from_setting("max_iterations"),
)
@click.option(
    "--max-depth", type=click.IntRange(1), help="rlm_query depth " + _from_setting("max_depth")
)
@click.option(
    "--max-subcalls",
    type=click.IntRange(0),
    help="Sub-calls in the whole run " + _from_setting("max_subcalls"),
)
@click.option(
    "--max-tokens",
    type=click.IntRange(1),
    help="Tokens in the whole run " + _from_setting("max_tokens"),
)
@click.option(
    "--timeout",
    type=click.FloatRange(min=1),
    help="Wall-clock budget of the whole run, in seconds " + _from_setting("max_seconds"),
)
@click.option(
    "--check-support/--no-check-support",
    default=None,
    help="Ask the sub model, once per citation, whether the quote supports its sentence "
    + _from_setting("check_support"),
)
@click.option("--conversation", default=None, help="Continue this conversation (an id).")
@click.option(
    "--only",
    "only",
    multiple=True,
    type=click.Path(path_type=Path),
    help="Ask about this document (or the documents in this folder) only; repeatable. "
    "The REPL's context then holds only these.",
)
@json_option
@click.option("--trace", is_flag=True, help="Print the trajectory as it happens (stderr).")
@click.pass_context
def ask(
    ctx: click.Context,
    question: str,
    library_dir: Path | None,
    docs_paths: tuple[Path, ...],
    model_spec: str | None,
    base_url: str | None,
    sub_model: str | None,
    mode: str | None,
    profile: str | None,
    tools_file: Path | None,
    max_iterations: int | None,
    max_depth: int | None,
    max_subcalls: int | None,
    max_tokens: int | None,
    timeout: float | None,
    check_support: bool | None,
    conversation: str | None,
    only: tuple[Path, ...],
    as_json: bool,
    trace: bool,
) -> None:
    """Answer QUESTION about the library by the RLM method, with checked citations.

    Models, mode and budgets come from the saved settings (`rlm-desktop config`); an option
    given here overrides its setting for this run only.
    """
    from rlm_desktop import RLM
    from rlm_desktop.rlm.budget import Budget
    from rlm_desktop.settings import load_settings

    settings = load_settings()
    if check_support is not None:
        settings.check_support = check_support
    budget = Budget.from_settings(
        settings,
        max_iterations=max_iterations,
        max_depth=max_depth,
        max_subcalls=max_subcalls,
        max_tokens=max_tokens,
        max_seconds=timeout,
    )
    with open_library(ctx, library_dir) as library:
        if docs_paths:
            with progress_bar(not as_json) as on_progress:
                report = pipeline.ingest(library, docs_paths, on_progress=on_progress)
            if not as_json:
                show_report(report, as_json=False)
        rlm = RLM(
            model_spec,
            sub_model,
            mode=mode,
            budget=budget,
            settings=settings,
            base_url=base_url,
            on_event=trace_event if trace else None,
            profile=profile,
            tools=tools_file,
        )
        try:
            result = rlm.completion(
                question,
                library,
                conversation=conversation,
                only=[str(path) for path in only] or None,
            )
        finally:
            rlm.close()
    if as_json:
        print_json(result.to_json())
    else:
        if trace:
            err.print()
        show_result(result)


@click.command()
@library_option
@click.option("--conversation", default=None, help="Only this conversation.")
@click.option(
    "--delete", "delete", type=int, multiple=True, metavar="ID", help="Forget this saved run."
)
@click.option(
    "--rename",
    nargs=2,
    type=(int, str),
    default=None,
    metavar="ID TITLE",
    help='Name a saved run in the history ("" shows its question again).',
)
@json_option
@click.pass_context
def history(
    ctx: click.Context,
    library_dir: Path | None,
    conversation: str | None,
    delete: tuple[int, ...],
    rename: tuple[int, str] | None,
    as_json: bool,
) -> None:
    """The questions asked of this library, newest first (or delete and rename them)."""
    with open_library(ctx, library_dir) as library:
        for run_id in delete:
            library.delete_run(run_id)
            out.print(f"Deleted run {run_id}.")
        if rename is not None:
            library.rename_run(*rename)
            out.print(f"Renamed run {rename[0]}.")
        if delete or rename is not None:
            return
        runs = library.runs(conversation)
    if as_json:
        print_json(runs)
        return
    if not runs:
        out.print('No questions asked yet: try `rlm-desktop ask "..."`.')
    for run in runs:
        statuses = [c.status for c in citations_from_records(run["citations"])]
        note = run_note(run)
        out.print(
            f"[bold]{run['id']}[/] {run['created_at']} [dim]({run['conversation']}, "
            f"{run['mode']}{', ' + run['profile'] if run.get('profile') else ''}, "
            f"{run_outcome(run)}; citations: {status_counts(statuses)})[/]\n"
            + (f"  [bold]{shown(run['title'])}[/]\n" if run.get("title") else "")
            + f"  Q: {shown_text(run['question'])}\n"
            + (f"  [yellow]{shown(note)}[/]\n" if note else "")
            + f"  A: {shown_text(run['answer'][:300])}"
        )


def trace_event(event: Event) -> None:
    """Print one event of a run as it happens (``ask --trace``)."""
    from rlm_desktop.rlm import events

    indent = "  " * event.depth
    if isinstance(event, events.TurnStarted):
        err.print(f"{indent}[bold]— turn {event.turn} (depth {event.depth})[/]")
    elif isinstance(event, events.ModelText):
        err.file.write(printable(event.text, multiline=True))
        err.file.flush()
    elif isinstance(event, events.CodeRun):
        status = event.error or "ok"
        err.print(
            f"\n{indent}[cyan]ran code[/] ({status}, {event.duration_s:.2f} s, "
            f"{event.explored} passages shown)"
        )
        if event.stdout:
            err.print(indent + shown_text(event.stdout[:600]))
        if event.stderr:
            err.print(indent + "[red]" + shown_text(event.stderr[-600:]) + "[/]")
    elif isinstance(event, events.SubCallEnded):
        err.print(
            f"{indent}[magenta]sub-call[/] {event.kind_of_call} x{len(event.prompts)}: "
            f"{event.prompt_tokens} + {event.completion_tokens} tokens, "
            f"{event.seconds:.2f} s {shown(event.error)}"
        )
    elif isinstance(event, events.Notice):
        err.print(f"{indent}[yellow]note:[/] {shown_text(event.message)}")


# A citation status's colour in the terminal: only "read" is green.
_STATUS_STYLES = {
    "read": "green",
    "in-library": "yellow",
    "not-found": "red",
    "too-short": "dim",
}


def citation_line(citation: Citation) -> str:
    """ "[1] ✓ read · supports  report.pdf, page 3, lines 5-5" in rich markup."""
    style = _STATUS_STYLES.get(citation.status, "red")
    mark = f"[{style}]{escape(status_label(citation.status))}[/]"
    if verdict := support_label(citation.support):
        mark += f" · {escape(verdict)}"
    where = ""
    if citation.span is not None:
        where = f"  {shown(citation.path or citation.document or '')}, {location(citation)}"
    return f"\\[{citation.n}] {mark}{where}"


def show_result(result: RLMResult) -> None:
    """Print an answer, introduced by the run's note when it is not a plain answer, with its
    citations, what was explored, and the usage."""
    run = result.to_json()
    if note := run_note(run):
        out.print(f"[yellow]{shown(note)}[/]\n")
    if result.scope:
        out.print(f"[dim]Asked about {scope_words(result.scope)}[/]\n")
    out.print(shown_text(result.answer))
    if result.citations:
        out.print("\n[bold]Citations[/]")
    for c in result.citations:
        out.print(f'{citation_line(c)}\n    "{shown_text(c.snippet)}"')
    total = result.usage["total"]
    docs = {e["path"] for e in result.explored}
    stopped = f"; {stop_line(result.stop_reason)}" if stop_line(result.stop_reason) else ""
    out.print(
        f"\n[dim]{len(result.explored)} passages explored in {len(docs)} documents; "
        f"{total['calls']} model calls ({result.usage['subcalls']} sub-calls), "
        f"{total['prompt_tokens'] + total['completion_tokens']:,} tokens, "
        f"{result.usage['seconds']:.1f} s{stopped}; {result.profile} profile; "
        f"run {result.run_id}, conversation "
        f"{result.conversation}[/]"
    )
