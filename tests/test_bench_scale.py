"""``bench scale`` on a small log: every figure is there, and the needles are found."""

import json

from click.testing import CliRunner

from rlm_desktop.bench.scale_bench import parse_size
from rlm_desktop.cli import cli


def test_sizes_are_read_in_megabytes_and_gigabytes():
    assert parse_size("200MB") == 200 * 2**20
    assert parse_size("4GB") == parse_size("4 gb") == 4 * 2**30
    assert parse_size("1.5G") == int(1.5 * 2**30)


def test_bench_scale_prints_every_figure_and_finds_the_needles():
    result = CliRunner().invoke(cli, ["bench", "scale", "--size", "5MB", "--json"])
    assert result.exit_code == 0, result.output
    rows = {row["name"]: row for row in json.loads(result.stdout)}
    for figure in ("ingest MB/s", "app peak RSS", "child peak RSS", "first cell", "grep"):
        assert any(figure in name for name in rows), figure
    assert all(row["goal"] and row["verdict"] for row in rows.values())
    needles = next(row for name, row in rows.items() if "needles found" in name)
    assert needles["value"] == needles["baseline"] == 5 and needles["verdict"] == "met"
    assert "True" in next(row for name, row in rows.items() if "app peak" in name)["detail"]


def test_a_size_that_is_not_one_is_refused():
    result = CliRunner().invoke(cli, ["bench", "scale", "--size", "lots"])
    assert result.exit_code != 0 and "MB or GB" in result.output
