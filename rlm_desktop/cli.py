"""The ``rlm-desktop`` command: every capability of the app without a window."""

from __future__ import annotations

import json
import re
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

import click
from rich.console import Console
from rich.markup import escape
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table
from rich.text import Text

from rlm_desktop import __version__
from rlm_desktop.errors import RlmDesktopError
from rlm_desktop.ingest import pipeline
from rlm_desktop.ingest.pipeline import IngestProgress, IngestReport
from rlm_desktop.paths import default_library_dir, samples_dir
from rlm_desktop.store import Library
from rlm_desktop.store.search import HIT_END, HIT_START
from rlm_desktop.textsafe import printable

# Piped output gets a fixed, wide layout instead of rich's 80-column default.
out = Console(highlight=False, soft_wrap=True, width=None if sys.stdout.isatty() else 120)
err = Console(stderr=True, highlight=False)

INTERRUPTED = (
    "interrupted: the library is consistent; run the same command again to finish the work"
)


def shown(text: str) -> str:
    """A name, path, reason or message for rich markup: on one line, with nothing obeyed."""
    return escape(printable(text))


def shown_text(text: str) -> str:
    """Document or model text for rich markup: lines kept, terminal controls escaped."""
    return escape(printable(text, multiline=True))


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
            raise CliError(printable(exc.message, multiline=True), exc.exit_code) from exc
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


def model_options(func: Callable) -> Callable:
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
    """Ask hard questions of your own documents, offline. Without a command: the window."""
    if ctx.invoked_subcommand is None:
        ctx.invoke(gui, library_dir=library_dir)


@cli.command()
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

    folder = library_dir or ctx.find_root().params.get("library_dir") or default_library_dir()
    Library(folder).close()  # create or upgrade it here, with a clear error if it cannot be
    ctx.exit(run(folder, screenshot=screenshot))


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
            name = shown(Path(event.path).name)
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
            shown(doc.path),
            shown(notes),
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
        out.print(f"No passage matches {shown(repr(query))}.")
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
            f"[bold]{rank}.[/] {shown(hit.path)}  [cyan]{shown(where)}[/]  "
            f"[dim]chars {hit.start}-{hit.end}  score {hit.score:.2f}[/]"
        )
        out.print(_highlighted(hit.snippet))


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


# ------------------------------------------------------------------ the main job


DEMO_QUESTION = "Which user names appear in the invalid user attempts of the SSH log?"


@cli.command()
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
    from rlm_desktop.rlm.events import CodeRun, SubCallEnded, TurnStarted

    with open_library(ctx, library_dir) as library, progress_bar(True) as on_progress:
        out.print(f"[bold]Library:[/] {shown(str(library.folder))}")
        report = pipeline.ingest(library, [samples_dir()], on_progress=on_progress)
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
        events = []
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


@bench.command("models")
@model_options
@json_option
@click.option("--quick", is_flag=True, help="Fewer tokens and sequences: a smoke run.")
def bench_models(model_spec: str | None, base_url: str | None, as_json: bool, quick: bool):
    """Batched vs sequential sub-calls (1-16 sequences) and root-loop prefix reuse."""
    from rlm_desktop.bench.models_bench import run_model_benchmarks
    from rlm_desktop.bench.report import print_results
    from rlm_desktop.llm.spec import ModelPool
    from rlm_desktop.settings import load_settings

    pool = ModelPool(load_settings(), base_url)
    try:
        backend = pool.get(model_spec or "demo")
        results = run_model_benchmarks(
            backend, quick=quick, log=lambda msg: err.print(f"[dim]{msg}[/]")
        )
    finally:
        pool.close()
    print_results(results, as_json, out)


@bench.command("quality")
@click.option("--quick", is_flag=True, help="One short length (8K tokens): a smoke run.")
@click.option(
    "--model",
    "model_spec",
    default="scripted",
    show_default=True,
    help="Any model spec, or 'scripted' for the built-in scripted strategies.",
)
@click.option("--sub-model", default=None, help="Model for sub-calls (default: --model).")
@click.option(
    "--tasks",
    default="needle,aggregation,pairs,multihop,logs",
    show_default=True,
    help="Comma-separated task kinds.",
)
@click.option(
    "--lengths",
    default="8000,32000,128000",
    show_default=True,
    help="Comma-separated lengths in tokens (up to 10,000,000).",
)
@click.option("--methods", default="rlm,no-subcalls,direct,retrieval", show_default=True)
@click.option("--seed", type=int, default=1, show_default=True)
@click.option(
    "--out",
    "out_dir",
    type=click.Path(file_okay=False, path_type=Path),
    default=None,
    help="Where results.json and report.html go (default: the data dir's bench/latest).",
)
@json_option
def bench_quality(quick, model_spec, sub_model, tasks, lengths, methods, seed, out_dir, as_json):
    """RLM vs no-subcalls vs direct vs retrieval on tasks with known answers."""
    from rlm_desktop.bench.quality import run_quality, summarise
    from rlm_desktop.paths import data_dir

    out_dir = out_dir or data_dir() / "bench" / "latest"
    rows = run_quality(
        model=model_spec,
        sub_model=sub_model,
        kinds=[t.strip() for t in tasks.split(",") if t.strip()],
        lengths=[8000] if quick else [int(n) for n in lengths.split(",")],
        methods=[m.strip() for m in methods.split(",") if m.strip()],
        seed=seed,
        out=out_dir,
        log=lambda msg: err.print(f"[dim]{msg}[/]"),
    )
    summary = summarise(rows)
    if as_json:
        print_json(summary)
        return
    table = Table(header_style="bold")
    for column in ("method", "tokens", "score", "root tok", "sub tok", "calls", "s", "stops"):
        table.add_column(column, justify="left" if column == "method" else "right")
    for s in summary:
        table.add_row(
            s["method"],
            f"{s['tokens']:,}",
            f"{s['score']:.2f}",
            f"{s['root_tokens']:,}",
            f"{s['sub_tokens']:,}",
            str(s["calls"]),
            f"{s['seconds']:.1f}",
            str(s["budget_stops"]),
        )
    out.print(table)
    out.print(f"results.json and report.html in {out_dir}")


@bench.command("speed")
@click.option("--quick", is_flag=True, help="Small sizes, for CI: figures not meaningful.")
@click.option(
    "--out",
    "out_dir",
    type=click.Path(file_okay=False, path_type=Path),
    default=None,
    help="Where speed.json goes (default: the data dir's bench/latest).",
)
@json_option
def bench_speed(quick: bool, out_dir: Path | None, as_json: bool) -> None:
    """Every speed benchmark in one run (ingest, sandbox, models), plus speed.json."""
    from dataclasses import asdict

    from rlm_desktop.bench.ingest_bench import run_ingest_benchmarks
    from rlm_desktop.bench.models_bench import run_model_benchmarks
    from rlm_desktop.bench.report import print_results
    from rlm_desktop.bench.sandbox_bench import run_sandbox_benchmarks
    from rlm_desktop.llm.spec import ModelPool
    from rlm_desktop.paths import data_dir

    def log(msg: str) -> None:
        err.print(f"[dim]{msg}[/]")

    results = run_ingest_benchmarks(quick=quick, log=log)
    results += run_sandbox_benchmarks(quick=quick, log=log)
    pool = ModelPool()
    try:
        results += run_model_benchmarks(pool.get("demo"), quick=quick, log=log)
    finally:
        pool.close()
    folder = out_dir or data_dir() / "bench" / "latest"
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "speed.json").write_text(json.dumps([asdict(r) for r in results], indent=2))
    print_results(results, as_json, out)


def main() -> None:
    """Console-script entry point."""
    sys.exit(cli.main(prog_name="rlm-desktop"))


# ------------------------------------------------------------------ models and settings


@cli.command()
@json_option
def models(as_json: bool) -> None:
    """The models you can use: the demo model, recent GGUF files, the configured ones."""
    from rlm_desktop.llm.base import ModelError
    from rlm_desktop.llm.gguf import read_gguf
    from rlm_desktop.llm.spec import demo_model_path
    from rlm_desktop.settings import load_settings

    settings = load_settings()
    entries = []
    try:
        candidates = [("demo", demo_model_path())]
    except ModelError as exc:
        candidates = []
        entries.append({"spec": "demo", "status": "missing", "message": exc.message})
    candidates += [(spec, Path(spec)) for spec in settings.recent_models if spec.endswith(".gguf")]
    for spec, path in candidates:
        try:
            info = read_gguf(path)
            entries.append(
                {
                    "spec": spec,
                    "status": "ok",
                    "summary": info.summary(),
                    **{k: v for k, v in info.__dict__.items() if k != "chat_template"},
                    "chat_template": bool(info.chat_template),
                }
            )
        except ModelError as exc:
            entries.append({"spec": spec, "status": "unreadable", "message": exc.message})
    data = {
        "model": settings.model,
        "sub_model": settings.sub_model or settings.model,
        "base_url": settings.base_url,
        "offline": settings.offline,
        "models": entries,
    }
    if as_json:
        print_json(data)
        return
    out.print(
        f"model: {shown(data['model'])}   sub-calls: {shown(data['sub_model'])}   "
        f"offline: {'on' if settings.offline else 'off'}"
    )
    for entry in entries:
        detail = entry.get("summary") or entry.get("message", "")
        out.print(f"  [bold]{shown(entry['spec'])}[/] ({entry['status']}): {shown(detail)}")


@cli.command()
@click.argument("prompt")
@model_options
@click.option("--max-tokens", type=click.IntRange(1), default=256, show_default=True)
@click.option("--temperature", type=click.FloatRange(0), default=0.0, show_default=True)
def generate(
    prompt: str, model_spec: str | None, base_url: str | None, max_tokens: int, temperature: float
) -> None:
    """Stream one answer from a model (a quick way to check that a model works)."""
    from rlm_desktop.llm.base import GenerationSettings, Usage
    from rlm_desktop.llm.spec import ModelPool
    from rlm_desktop.settings import load_settings

    settings = load_settings()
    pool = ModelPool(settings, base_url)
    try:
        backend = pool.get(model_spec or settings.model)
        usage = Usage()
        generation = GenerationSettings(max_tokens=max_tokens, temperature=temperature)
        with backend.lock:
            for chunk in backend.stream([{"role": "user", "content": prompt}], generation, usage):
                click.echo(chunk, nl=False)
        click.echo()
        err.print(
            f"[dim]{usage.prompt_tokens} prompt tokens, {usage.completion_tokens} generated[/]"
        )
    finally:
        pool.close()


@cli.command()
@click.argument("name", required=False)
@click.argument("value", required=False)
@json_option
def config(name: str | None, value: str | None, as_json: bool) -> None:
    """Show the settings, or set one: `rlm-desktop config offline false`."""
    from dataclasses import asdict, fields

    from rlm_desktop.settings import load_settings, save_settings, settings_path

    settings = load_settings()
    kinds = {f.name for f in fields(settings)} - {"version", "recent_models", "recent_libraries"}
    if name is not None:
        if name not in kinds:
            raise CliError(f"unknown setting {name!r}; known: {', '.join(sorted(kinds))}", 2)
        if value is None:
            click.echo(getattr(settings, name))
            return
        current = getattr(settings, name)
        try:
            if isinstance(current, bool):
                if value.lower() not in ("true", "false", "on", "off", "1", "0", "yes", "no"):
                    raise ValueError(value)
                parsed = value.lower() in ("true", "on", "1", "yes")
            else:
                parsed = type(current)(value)
        except ValueError as exc:
            raise CliError(f"{name} needs a {type(current).__name__}, not {value!r}", 2) from exc
        setattr(settings, name, parsed)
        save_settings(settings)
    if as_json:
        print_json(asdict(settings))
        return
    out.print(f"[dim]{shown(str(settings_path()))}[/]")
    for key, current in asdict(settings).items():
        out.print(f"{key} = {shown(repr(current))}")


@cli.group()
def key() -> None:
    """API keys of OpenAI-compatible servers, kept in the OS keychain (never in files)."""


@key.command("set")
@click.argument("provider")
@click.option("--stdin", "from_stdin", is_flag=True, help="Read the key from standard input.")
def key_set(provider: str, from_stdin: bool) -> None:
    """Store the key for PROVIDER (the server's host[:port], e.g. api.openai.com)."""
    from rlm_desktop.llm.keys import set_key

    secret = (
        sys.stdin.readline().strip()
        if from_stdin
        else click.prompt(f"API key for {provider}", hide_input=True)
    )
    if not secret:
        raise CliError("no key given", 2)
    set_key(provider, secret)
    out.print(f"stored the key for {shown(provider)} in the OS keychain")


@key.command("delete")
@click.argument("provider")
def key_delete(provider: str) -> None:
    """Remove the key stored for PROVIDER."""
    from rlm_desktop.llm.keys import delete_key

    if delete_key(provider):
        out.print(f"deleted the key for {shown(provider)}")
    else:
        out.print(f"no key was stored for {shown(provider)}")


# ------------------------------------------------------------------ asking questions


def _trace(event) -> None:
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


def show_result(result) -> None:
    """Print an answer with its citations, what was explored, and the usage."""
    out.print(shown_text(result.answer))
    if result.fallback:
        out.print(
            "[yellow](answered by the built-in fallback strategy: the model wrote no "
            "runnable code)[/]"
        )
    if result.stop_reason != "final":
        out.print(f"[yellow](stopped by: {result.stop_reason})[/]")
    if result.citations:
        out.print("\n[bold]Citations[/]")
    for c in result.citations:
        mark = "[green]verified[/]" if c.verified else "[red]UNVERIFIED[/]"
        where = ""
        if c.verified:
            where = shown(c.path or c.document or "")
            where += f", page {c.page}" if c.page is not None else ""
            where += f", lines {c.line_start}-{c.line_end}"
        out.print(f'[{c.n}] {mark} {where}\n    "{shown_text(c.snippet)}"')
    total = result.usage["total"]
    docs = {e["path"] for e in result.explored}
    out.print(
        f"\n[dim]{len(result.explored)} passages explored in {len(docs)} documents; "
        f"{total['calls']} model calls ({result.usage['subcalls']} sub-calls), "
        f"{total['prompt_tokens'] + total['completion_tokens']:,} tokens, "
        f"{result.usage['seconds']:.1f} s; run {result.run_id}, conversation "
        f"{result.conversation}[/]"
    )


@cli.command()
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
@click.option("--sub-model", default=None, help="Model for sub-calls (default: --model).")
@click.option(
    "--mode", type=click.Choice(["rlm", "no-subcalls", "direct"]), default="rlm", show_default=True
)
@click.option("--max-iterations", type=click.IntRange(1), default=12, show_default=True)
@click.option("--max-depth", type=click.IntRange(1), default=1, show_default=True)
@click.option("--max-subcalls", type=click.IntRange(0), default=64, show_default=True)
@click.option("--max-tokens", type=click.IntRange(1), default=200_000, show_default=True)
@click.option(
    "--timeout",
    type=click.FloatRange(min=1),
    default=600.0,
    show_default=True,
    help="Wall-clock budget of the whole run, in seconds.",
)
@click.option("--conversation", default=None, help="Continue this conversation (an id).")
@json_option
@click.option("--trace", is_flag=True, help="Print the trajectory as it happens (stderr).")
@click.pass_context
def ask(
    ctx: click.Context,
    question: str,
    library_dir: Path | None,
    docs_paths,
    model_spec,
    base_url,
    sub_model,
    mode,
    max_iterations,
    max_depth,
    max_subcalls,
    max_tokens,
    timeout,
    conversation,
    as_json: bool,
    trace: bool,
) -> None:
    """Answer QUESTION about the library by the RLM method, with verified citations."""
    from rlm_desktop import RLM
    from rlm_desktop.rlm.budget import Budget

    budget = Budget(
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
            base_url=base_url,
            on_event=_trace if trace else None,
        )
        try:
            result = rlm.completion(question, library, conversation=conversation)
        finally:
            rlm.close()
    if as_json:
        print_json(result.to_json())
    else:
        if trace:
            err.print()
        show_result(result)


@cli.command()
@library_option
@click.option("--conversation", default=None, help="Only this conversation.")
@json_option
@click.pass_context
def history(
    ctx: click.Context, library_dir: Path | None, conversation: str | None, as_json: bool
) -> None:
    """The questions asked of this library, newest first."""
    with open_library(ctx, library_dir) as library:
        runs = library.runs(conversation)
    if as_json:
        print_json(runs)
        return
    if not runs:
        out.print('No questions asked yet: try `rlm-desktop ask "..."`.')
    for run in runs:
        verified = sum(1 for c in run["citations"] if c["verified"])
        out.print(
            f"[bold]{run['id']}[/] {run['created_at']} [dim]({run['conversation']}, "
            f"{run['mode']}, {run['stop_reason']}, {verified}/{len(run['citations'])} "
            f"citations verified)[/]\n  Q: {shown_text(run['question'])}\n"
            f"  A: {shown_text(run['answer'][:300])}"
        )


# ------------------------------------------------------------------ about


@cli.command()
@click.option(
    "--licence",
    "licence_of",
    metavar="NAME",
    help="Print the full licence text of one component (e.g. PySide6) or sample licence file.",
)
@json_option
def about(licence_of: str | None, as_json: bool) -> None:
    """The version, the bundled components and the sample documents, with their licences."""
    from rlm_desktop import about as facts

    components = facts.components()
    samples = facts.sample_licences()
    if licence_of:
        wanted = licence_of.lower()
        texts = [
            (f"{c.name}: {name}", text)
            for c in components
            if c.name.lower() == wanted
            for name, text in c.texts.items()
        ] + [(s.file, s.text) for s in samples if s.file.lower() == wanted]
        if not texts:
            raise click.UsageError(
                f"no licence text for '{licence_of}': names are listed by `rlm-desktop about`"
            )
        for title, text in texts:
            click.echo(f"==> {title}\n{text}")
        return
    if as_json:
        print_json(
            {
                "version": __version__,
                "components": [
                    {k: v for k, v in vars(c).items() if k != "texts"} | {"files": list(c.texts)}
                    for c in components
                ],
                "samples": [{"covers": s.covers, "file": s.file} for s in samples],
            }
        )
        return
    click.echo(facts.summary(components, samples))


# ------------------------------------------------------------------ exports


@cli.command()
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

    if sum(bool(x) for x in (run_ids, last, all_runs)) != 1:
        raise CliError("give RUN_ID (one or more), --last or --all", 2)
    with open_library(ctx, library_dir) as library:
        picked = library.pick_runs(run_ids, last=last, everything=all_runs)
        runs = [ExportRun.from_saved(record) for record in picked]
    from rlm_desktop.gui.pdf_export import html_to_pdf

    path = export_runs(runs, fmt, output, trajectory, pdf_renderer=html_to_pdf)
    out.print(f"wrote {len(runs)} answer(s) to {shown(str(path))}")


# ------------------------------------------------------------------ the sandboxed REPL


def _sandbox_limits(timeout: float | None, memory: int | None, disk: int | None = None):
    from rlm_desktop.sandbox.host import SandboxLimits

    defaults = SandboxLimits()
    return SandboxLimits(
        timeout_s=timeout or defaults.timeout_s,
        memory_mb=memory or defaults.memory_mb,
        disk_mb=disk or defaults.disk_mb,
    )


def _explored_json(explored) -> list[dict]:
    keys = ("path", "document", "page", "page_label", "line_start", "line_end", "start", "end")
    return [{**{k: getattr(e, k) for k in keys}, "via": e.via} for e in explored]


def _show_cell(result) -> None:
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
@click.option(
    "--disk", type=click.IntRange(min=1), help="MB the REPL may write in all (default 512)."
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
    from rlm_desktop.sandbox.host import Sandbox

    with open_library(ctx, library_dir) as library:
        folder = library.folder
    with Sandbox(library=folder, limits=_sandbox_limits(timeout, memory, disk)) as sandbox:
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


@cli.command()
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
