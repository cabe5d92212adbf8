"""``rlm-desktop bench``: benchmarks that print ratios measured side by side in one run."""

from __future__ import annotations

import json
from pathlib import Path

import click
from rich.table import Table

from rlm_desktop.cli.output import json_option, log_dim, model_options, out, print_json


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
    pool = ModelPool(settings, base_url)
    try:
        backend = pool.get(model_spec or settings.model)
        results = run_model_benchmarks(backend, quick=quick, log=log_dim)
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
def bench_quality(
    quick: bool,
    model_spec: str,
    sub_model: str | None,
    tasks: str,
    lengths: str,
    methods: str,
    seed: int,
    out_dir: Path | None,
    as_json: bool,
) -> None:
    """RLM vs no-subcalls vs direct vs retrieval on tasks with known answers."""
    from rlm_desktop.bench.quality import run_quality, summarise
    from rlm_desktop.paths import data_dir

    folder = out_dir or data_dir() / "bench" / "latest"
    rows = run_quality(
        model=model_spec,
        sub_model=sub_model,
        kinds=[t.strip() for t in tasks.split(",") if t.strip()],
        lengths=[8000] if quick else [int(n) for n in lengths.split(",")],
        methods=[m.strip() for m in methods.split(",") if m.strip()],
        seed=seed,
        out=folder,
        log=log_dim,
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
    out.print(f"results.json and report.html in {folder}")


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
    from rlm_desktop.settings import load_settings

    results = run_ingest_benchmarks(quick=quick, log=log_dim)
    results += run_sandbox_benchmarks(quick=quick, log=log_dim)
    pool = ModelPool(load_settings())  # the demo model, run as the settings say (threads, GPU)
    try:
        results += run_model_benchmarks(pool.get("demo"), quick=quick, log=log_dim)
    finally:
        pool.close()
    folder = out_dir or data_dir() / "bench" / "latest"
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "speed.json").write_text(json.dumps([asdict(r) for r in results], indent=2))
    print_results(results, as_json, out)
