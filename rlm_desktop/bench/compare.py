"""``rlm-desktop bench compare A/results.json B/results.json``: two quality runs side by side
(two models, two methods' settings, two versions): the differences per method and length,
and compare.html with both runs on the same charts (A solid, B dashed)."""

from __future__ import annotations

import json
from html import escape
from pathlib import Path

from rlm_desktop.bench.quality_report import STYLE, banner, fraction, method_key, model_line
from rlm_desktop.bench.svg import Series, colour, line_chart, short

_FIELDS = ("rows", "accuracy", "accuracy_answer_rows", "mean_tokens", "mean_seconds")


def load(path: Path) -> dict:
    """A results.json written by ``bench quality``; ValueError for anything else."""
    try:
        data = json.loads(Path(path).read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise ValueError(f"cannot read {path}: {exc}") from exc
    if not isinstance(data, dict) or not {"meta", "summary", "methods"} <= set(data):
        raise ValueError(f"{path} is not the results.json of `rlm-desktop bench quality`")
    return data


def name_of(data: dict) -> str:
    """What a run measured, in a few words: model file (or spec), preset, date."""
    meta = data["meta"]
    model = (meta.get("model_file") or {}).get("file") or meta.get("model", "?")
    return f"{model}, {meta.get('preset', '?')}, {meta.get('date', '?')}"


def mismatch(a: dict, b: dict) -> str:
    """A warning when the runs did not answer the same tasks ("" when they did)."""

    def tasks(data: dict) -> set[tuple[str, int]]:
        return {(row["task"], row["length"]) for row in data.get("rows", [])}

    only_a, only_b = tasks(a) - tasks(b), tasks(b) - tasks(a)
    if not only_a and not only_b:
        return ""

    def listed(items: set[tuple[str, int]]) -> str:
        return ", ".join(f"{t} at {short(n)}" for t, n in sorted(items)) or "nothing"

    return (
        f"The runs did not answer the same tasks: only A has {listed(only_a)}; only B has "
        f"{listed(only_b)}. Their figures compare different work."
    )


def differences(a: dict, b: dict, key: str = "summary") -> list[dict]:
    """For each method (and length) in either run: both runs' figures and B minus A."""
    keys = ("method", "length") if key == "summary" else ("method",)

    def index(data: dict) -> dict[tuple, dict]:
        return {tuple(g[k] for k in keys): g for g in data[key]}

    first, second = index(a), index(b)
    rows = []
    for group in sorted(set(first) | set(second), key=lambda g: (method_key(g[0]), *g[1:])):
        left, right = first.get(group, {}), second.get(group, {})
        row: dict = dict(zip(keys, group, strict=True))
        for field in _FIELDS:
            x, y = left.get(field), right.get(field)
            row[field] = {"a": x, "b": y, "change": None if x is None or y is None else y - x}
        rows.append(row)
    return rows


def write_html(a: dict, b: dict, out: Path) -> Path:
    """compare.html in ``out``: both runs on the same charts, and the tables of differences."""
    out.mkdir(parents=True, exist_ok=True)
    path = out / "compare.html"
    labels = [m["label"] for m in (a["meta"], b["meta"]) if m.get("label")]
    label = f" — {labels[0]}" if labels else ""
    parts = [
        "<!DOCTYPE html><html lang='en'><head><meta charset='utf-8'>",
        f"<title>RLM Desktop — quality comparison{escape(label)}</title>",
        f"<style>{STYLE}</style></head><body>",
        banner(a["meta"], b["meta"]),
        f"<h1>Quality comparison{escape(label)}</h1><ul>",
        *(
            f"<li><b>{side}</b> ({escape(name_of(d))}): {model_line(d['meta'])}</li>"
            for side, d in (("A", a), ("B", b))
        ),
        "</ul>",
        f"<p class='warning'>{escape(mismatch(a, b))}</p>" if mismatch(a, b) else "",
        "<h2>Per method</h2>",
        _table(differences(a, b, "methods"), ("method",)),
        "<h2>Against context length</h2>",
        _chart(a, b, "accuracy", f"Accuracy, A solid and B dashed{label}", 1.0),
        _chart(a, b, "mean_tokens", f"Tokens per run, A solid and B dashed{label}", None),
        "<h2>Per method and length</h2>",
        _table(differences(a, b), ("method", "length")),
        "</body></html>",
    ]
    path.write_text("".join(parts), encoding="utf-8")
    return path


def _chart(a: dict, b: dict, field: str, title: str, y_max: float | None) -> str:
    series = []
    methods = sorted({g["method"] for d in (a, b) for g in d["summary"]})
    for i, method in enumerate(methods):
        for side, data in (("A", a), ("B", b)):
            points = [
                (g["length"], g[field])
                for g in data["summary"]
                if g["method"] == method and g.get(field) is not None
            ]
            series.append(Series(f"{method} {side}", points, colour(method, i), side == "B"))
    fmt = (lambda v: f"{v:.2f}") if y_max == 1.0 else short
    return line_chart(series, title, field.replace("_", " "), y_max=y_max, y_format=fmt)


def _change(value: float | None, money: bool) -> str:
    if value is None:
        return "–"
    if money:
        return f"{value:+,.0f}"
    return f"{value:+.2f}"


def _table(rows: list[dict], keys: tuple[str, ...]) -> str:
    head = "".join(f"<th class='l'>{k}</th>" for k in keys) + "".join(
        f"<th>{f.replace('_', ' ')}<br>A / B</th><th>change</th>" for f in _FIELDS
    )
    body = []
    for row in rows:
        cells = "".join(
            f"<td class='l'>{escape(short(row[k]) if k == 'length' else str(row[k]))}</td>"
            for k in keys
        )
        for field in _FIELDS:
            v = row[field]
            big = field in ("rows", "mean_tokens")
            shown = [
                ("–" if x is None else (f"{x:,.0f}" if big else fraction(x)))
                for x in (v["a"], v["b"])
            ]
            cells += f"<td>{shown[0]} / {shown[1]}</td><td>{_change(v['change'], big)}</td>"
        body.append(f"<tr>{cells}</tr>")
    return f"<table><tr>{head}</tr>{''.join(body)}</table>"
