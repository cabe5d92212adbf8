"""The output convention shared by every benchmark: a table, or JSON with ratios and goals."""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass

import click
from rich.console import Console
from rich.table import Table


@dataclass(frozen=True)
class BenchResult:
    """One measurement beside its baseline; ``ratio`` is oriented so higher is better."""

    name: str
    value: float
    baseline: float
    ratio: float
    goal: str
    met: bool
    unit: str = "s"
    detail: str = ""


def print_results(results: list[BenchResult], as_json: bool, console: Console) -> None:
    """Print results as a readable table, or as a JSON list."""
    if as_json:
        click.echo(json.dumps([asdict(r) for r in results], indent=2))
        return
    table = Table(header_style="bold")
    for column in ("benchmark", "value", "baseline", "ratio", "goal", "met"):
        table.add_column(column, justify="left" if column in ("benchmark", "goal") else "right")
    for r in results:
        table.add_row(
            r.name,
            f"{r.value:,.3g} {r.unit}",
            f"{r.baseline:,.3g} {r.unit}",
            f"{r.ratio:,.2f}x",
            r.goal,
            "[green]yes[/]" if r.met else "[red]no[/]",
        )
    console.print(table)
    for r in results:
        if r.detail:
            console.print(f"[dim]{r.name}: {r.detail}[/]")
