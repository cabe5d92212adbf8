"""The output convention shared by every speed benchmark: a table, or JSON with ratios, goals,
the input each row was measured on, and a verdict only where the input was large enough."""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass

import click
from rich.console import Console
from rich.markup import escape
from rich.table import Table

INDICATIVE = "indicative — judged at full scale"
NO_GOAL = "no goal"


@dataclass(frozen=True)
class BenchResult:
    """One measurement beside its baseline; ``ratio`` is oriented so higher is better.

    ``size`` names the input it was measured on. ``met`` is the verdict against ``goal``,
    or None when the input was too small for a goal set at full scale (a ``--quick`` run):
    the row is then indicative, and only the full run judges it. A row with no goal (a
    point of a scaling curve) has no verdict either.
    """

    name: str
    value: float
    baseline: float
    ratio: float
    goal: str
    met: bool | None
    unit: str = "s"
    detail: str = ""
    size: str = ""

    @property
    def verdict(self) -> str:
        """ "met", "not met", "no goal", or that the row is indicative only."""
        if not self.goal:
            return NO_GOAL
        if self.met is None:
            return INDICATIVE
        return "met" if self.met else "not met"

    def to_json(self) -> dict:
        """Its fields and its verdict in words."""
        return {**asdict(self), "verdict": self.verdict}


def judged(met: bool, full_scale: bool) -> bool | None:
    """The verdict of a row whose goal was set at full scale: None below it."""
    return met if full_scale else None


def print_results(results: list[BenchResult], as_json: bool, console: Console) -> None:
    """Print results as a readable table, or as a JSON list."""
    if as_json:
        click.echo(json.dumps([r.to_json() for r in results], indent=2, ensure_ascii=False))
        return
    table = Table(header_style="bold")
    for column in ("benchmark", "input", "value", "baseline", "ratio", "goal", "verdict"):
        table.add_column(
            column, justify="right" if column in ("value", "baseline", "ratio") else "left"
        )
    marks = {
        "met": "[green]met[/]",
        "not met": "[red]not met[/]",
        INDICATIVE: f"[yellow]{INDICATIVE}[/]",
        NO_GOAL: f"[dim]{NO_GOAL}[/]",
    }
    for r in results:
        table.add_row(
            escape(r.name),
            escape(r.size) or "-",
            f"{r.value:,.3g} {r.unit}",
            f"{r.baseline:,.3g} {r.unit}",
            f"{r.ratio:,.2f}x",
            escape(r.goal) or "-",
            marks[r.verdict],
        )
    console.print(table)
    for r in results:
        if r.detail:
            console.print(f"[dim]{escape(r.name)}: {escape(r.detail)}[/]")
