"""``rlm-desktop bench``: benchmarks that print ratios measured side by side in one run."""

from __future__ import annotations

import json
from pathlib import Path

import click
from rich.table import Table

from rlm_desktop.cli.output import json_option, log_dim, model_options, out, print_json, shown


@click.group()
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

    print_results(run_ingest_benchmarks(quick=quick, log=log_dim), as_json, out)


@bench.command("sandbox")
@json_option
@click.option("--quick", is_flag=True, help="A 1M-token library: a fast smoke run.")
def bench_sandbox(as_json: bool, quick: bool) -> None:
    """REPL start vs plain read, child memory, locate vs str.find (10M-token library)."""
    from rlm_desktop.bench.report import print_results
    from rlm_desktop.bench.sandbox_bench import run_sandbox_benchmarks

    print_results(run_sandbox_benchmarks(quick=quick, log=log_dim), as_json, out)


@bench.command("scale")
@json_option
@click.option(
    "--size",
    default="4GB",
    show_default=True,
    help="How much log to generate, in MB or GB (200MB, 1GB, 4GB).",
)
@click.option("--quick", is_flag=True, help="A 200 MB log: a fast smoke run.")
def bench_scale(as_json: bool, size: str, quick: bool) -> None:
    """A generated log of gigabytes: ingest MB/s, memory, library size, REPL grep."""
    from rlm_desktop.bench.report import print_results
    from rlm_desktop.bench.scale_bench import QUICK_BYTES, parse_size, run_scale_benchmark
    from rlm_desktop.errors import UsageError

    try:
        size_bytes = QUICK_BYTES if quick else parse_size(size)
    except ValueError as exc:
        raise UsageError(str(exc)) from exc
    print_results(run_scale_benchmark(size_bytes, log=log_dim), as_json, out)


@bench.command("ocr")
@json_option
@click.option("--quick", is_flag=True, help="Two one-page scans: a fast smoke run.")
def bench_ocr(as_json: bool, quick: bool) -> None:
    """OCR seconds per 300-dpi page and word accuracy on generated scans of known text."""
    from rlm_desktop.bench.ocr_bench import run_ocr_benchmarks
    from rlm_desktop.bench.report import print_results

    print_results(run_ocr_benchmarks(quick=quick, log=log_dim), as_json, out)


@bench.command("models")
@model_options
@json_option
@click.option("--quick", is_flag=True, help="Fewer tokens and sequences: a smoke run.")
def bench_models(model_spec: str | None, base_url: str | None, as_json: bool, quick: bool) -> None:
    """Batched vs sequential sub-calls (1-16 sequences) and root-loop prefix reuse."""
    from rlm_desktop.bench.models_bench import run_model_benchmarks
    from rlm_desktop.bench.report import print_results
    from rlm_desktop.llm.spec import ModelPool
    from rlm_desktop.settings import load_settings

    settings = load_settings()
    pool = ModelPool(settings, base_url, check_window=False)
    try:
        backend = pool.get(model_spec or settings.model)
        results = run_model_benchmarks(backend, quick=quick, log=log_dim)
    finally:
        pool.close()
    print_results(results, as_json, out)


@bench.command("quality")
@click.option(
    "--quick",
    "preset",
    flag_value="quick",
    help="Five task kinds at 1K and 4K tokens, short answers, a shared deadline: under ten "
    "minutes on two cores with the demo model.",
)
@click.option(
    "--full",
    "preset",
    flag_value="full",
    help="Every task kind at 8K, 32K, 128K and 1M tokens (hours with a local model).",
)
@click.option(
    "--model",
    "model_spec",
    default="scripted",
    show_default=True,
    help="Any model spec, or 'scripted' for the built-in scripted strategies (a machinery "
    "check, not a model).",
)
@click.option("--sub-model", default=None, help="Model for sub-calls (default: --model).")
@click.option("--tasks", default=None, help="Comma-separated task kinds (default: the preset's).")
@click.option(
    "--lengths",
    default=None,
    help="Comma-separated lengths in tokens, like 8k,32k,1M (default: the preset's).",
)
@click.option("--methods", default="rlm,no-subcalls,direct,retrieval", show_default=True)
@click.option("--seed", type=int, default=1, show_default=True)
@click.option(
    "--log",
    "log_file",
    type=click.Path(dir_okay=False, exists=True, path_type=Path),
    default=None,
    help="Ask the log tasks about this log instead of the bundled ones (needs --truth).",
)
@click.option(
    "--truth",
    type=click.Path(dir_okay=False, exists=True, path_type=Path),
    default=None,
    help="The log's structured form: a loghub-style CSV (LineId, time columns, Level, "
    "Component, Content, EventTemplate).",
)
@click.option(
    "--out",
    "out_dir",
    type=click.Path(file_okay=False, path_type=Path),
    default=None,
    help="Where results.json and report.html go (default: the data dir's bench/latest).",
)
@json_option
def bench_quality(
    preset: str | None,
    model_spec: str,
    sub_model: str | None,
    tasks: str | None,
    lengths: str | None,
    methods: str,
    seed: int,
    log_file: Path | None,
    truth: Path | None,
    out_dir: Path | None,
    as_json: bool,
) -> None:
    """RLM vs no-subcalls vs direct vs retrieval on tasks with known answers, by length."""
    from rlm_desktop.bench.logtasks import LogSource
    from rlm_desktop.bench.quality import PRESETS, run_quality
    from rlm_desktop.bench.quality_report import summarise
    from rlm_desktop.errors import UsageError
    from rlm_desktop.paths import data_dir

    if (log_file is None) != (truth is None):
        raise UsageError("--log and --truth go together: a log and its structured CSV")
    try:
        logs = [LogSource.load(log_file, truth)] if log_file and truth else None
    except ValueError as exc:
        raise UsageError(str(exc)) from exc
    run = run_quality(
        model=model_spec,
        sub_model=sub_model,
        kinds=_listed(tasks),
        lengths=[_token_count(n) for n in _listed(lengths) or []] or None,
        methods=_listed(methods),
        seed=seed,
        out=out_dir or data_dir() / "bench" / "latest",
        log=log_dim,
        preset=PRESETS[preset or "default"],
        logs=logs,
    )
    summary = summarise(run.rows, "method", "length")
    if as_json:
        print_json({"meta": run.meta, "summary": summary})
        return
    if run.meta["label"]:
        out.print(f"[bold yellow]{run.meta['label'].capitalize()}[/]: {shown(run.meta['model'])}")
    table = Table(header_style="bold")
    columns = ("method", "length", "rows", "acc all", "acc answer", "outcomes", "tokens", "s")
    for column in columns:
        table.add_column(column, justify="left" if column in ("method", "outcomes") else "right")
    for s in summary:
        table.add_row(
            s["method"],
            f"{s['length']:,}",
            str(s["rows"]),
            _fraction(s["accuracy"]),
            f"{_fraction(s['accuracy_answer_rows'])} ({s['answer_rows']})",
            ", ".join(f"{n} {o}" for o, n in s["outcomes"].items()),
            f"{s['mean_tokens'] or 0:,.0f}",
            f"{s['mean_seconds'] or 0:.1f}",
        )
    out.print(table)
    folder = shown(str(out_dir or data_dir() / "bench" / "latest"))
    out.print(f"{run.meta['wall_seconds']:,.0f} s; results.json and report.html in {folder}")


@bench.command("compare")
@click.argument("first", type=click.Path(dir_okay=False, exists=True, path_type=Path))
@click.argument("second", type=click.Path(dir_okay=False, exists=True, path_type=Path))
@click.option(
    "--out",
    "out_dir",
    type=click.Path(file_okay=False, path_type=Path),
    default=None,
    help="Where compare.html goes (default: the data dir's bench/compare).",
)
@json_option
def bench_compare(first: Path, second: Path, out_dir: Path | None, as_json: bool) -> None:
    """Two quality runs side by side: A/results.json against B/results.json."""
    from rlm_desktop.bench import compare
    from rlm_desktop.errors import UsageError
    from rlm_desktop.paths import data_dir

    try:
        a, b = compare.load(first), compare.load(second)
    except ValueError as exc:
        raise UsageError(str(exc)) from exc
    rows = compare.differences(a, b)
    page = compare.write_html(a, b, out_dir or data_dir() / "bench" / "compare")
    if as_json:
        print_json(
            {
                "a": compare.name_of(a),
                "b": compare.name_of(b),
                "warning": compare.mismatch(a, b),
                "rows": rows,
                "html": str(page),
            }
        )
        return
    out.print(f"A: {shown(compare.name_of(a))}\nB: {shown(compare.name_of(b))}")
    if warning := compare.mismatch(a, b):
        out.print(f"[bold yellow]{shown(warning)}[/]")
    for meta in (a["meta"], b["meta"]):
        if meta.get("label"):
            out.print(f"[bold yellow]{shown(meta['model'])}: {meta['label']}[/]")
    table = Table(header_style="bold")
    columns = ("method", "length", "rows A / B", "acc all A / B", "change")
    for column in (*columns, "acc answer A / B", "tokens A / B"):
        table.add_column(column, justify="left" if column == "method" else "right")
    for row in rows:
        acc, answer, tokens = row["accuracy"], row["accuracy_answer_rows"], row["mean_tokens"]
        table.add_row(
            row["method"],
            f"{row['length']:,}",
            f"{row['rows']['a'] or 0} / {row['rows']['b'] or 0}",
            f"{_fraction(acc['a'])} / {_fraction(acc['b'])}",
            "–" if acc["change"] is None else f"{acc['change']:+.2f}",
            f"{_fraction(answer['a'])} / {_fraction(answer['b'])}",
            f"{tokens['a'] or 0:,.0f} / {tokens['b'] or 0:,.0f}",
        )
    out.print(table)
    out.print(f"charts in {shown(str(page))}")


def _listed(text: str | None) -> list[str] | None:
    """Comma-separated items, or None when none were given."""
    items = [t.strip() for t in (text or "").split(",") if t.strip()]
    return items or None


def _token_count(text: str) -> int:
    """A length as people write it: 8000, 8k, 128K, 1M."""
    from rlm_desktop.errors import UsageError

    scale = {"k": 1_000, "m": 1_000_000}.get(text[-1:].lower(), 1)
    number = text[:-1] if scale > 1 else text
    if not number.isdigit() or int(number) <= 0:
        raise UsageError(f"a length is a number of tokens (8000, 8k, 1M), not {text!r}")
    return int(number) * scale


def _fraction(value: float | None) -> str:
    return "–" if value is None else f"{value:.2f}"


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
    """Every speed benchmark in one run (ingest, OCR, sandbox, models), plus speed.json."""
    from rlm_desktop.bench.ingest_bench import run_ingest_benchmarks
    from rlm_desktop.bench.models_bench import run_model_benchmarks
    from rlm_desktop.bench.ocr_bench import run_ocr_benchmarks
    from rlm_desktop.bench.report import print_results
    from rlm_desktop.bench.sandbox_bench import run_sandbox_benchmarks
    from rlm_desktop.llm.spec import ModelPool
    from rlm_desktop.paths import data_dir
    from rlm_desktop.settings import load_settings

    results = run_ingest_benchmarks(quick=quick, log=log_dim)
    results += run_ocr_benchmarks(quick=quick, log=log_dim)
    results += run_sandbox_benchmarks(quick=quick, log=log_dim)
    pool = ModelPool(load_settings())  # the demo model, run as the settings say (threads, GPU)
    try:
        results += run_model_benchmarks(pool.get("demo"), quick=quick, log=log_dim)
    finally:
        pool.close()
    folder = out_dir or data_dir() / "bench" / "latest"
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "speed.json").write_text(json.dumps([r.to_json() for r in results], indent=2))
    print_results(results, as_json, out)
