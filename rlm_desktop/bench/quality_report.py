"""What a quality run writes: results.json (every row, summaries, what it ran on) and a
self-contained report.html (tables and inline SVG charts of accuracy and cost by length)."""

from __future__ import annotations

import json
import statistics
from collections import Counter
from dataclasses import asdict
from html import escape
from pathlib import Path
from typing import TYPE_CHECKING

from rlm_desktop.bench.machine import machine_line
from rlm_desktop.bench.svg import Series, colour, line_chart, short
from rlm_desktop.records import CITATION_STATUSES, OUTCOMES

if TYPE_CHECKING:
    from rlm_desktop.bench.quality import QualityRun, Row

_METHOD_ORDER = ("rlm", "no-subcalls", "direct", "retrieval")


def _mean(values: list[float]) -> float | None:
    return round(statistics.mean(values), 3) if values else None


def summarise_group(rows: list[Row]) -> dict:
    """Accuracy over all rows and over ``answer`` rows only, outcomes and mean costs."""
    answered = [r.score for r in rows if r.outcome == "answer"]
    precisions = [r.citation_precision for r in rows if r.citation_precision is not None]
    return {
        "rows": len(rows),
        "accuracy": _mean([r.score for r in rows]),
        "answer_rows": len(answered),
        "accuracy_answer_rows": _mean(answered),
        "outcomes": dict(Counter(r.outcome for r in rows)),
        "mean_tokens": _mean([_tokens(r) for r in rows]),
        "mean_root_tokens": _mean([r.root_prompt_tokens + r.root_generated_tokens for r in rows]),
        "mean_sub_tokens": _mean([r.sub_prompt_tokens + r.sub_generated_tokens for r in rows]),
        "mean_subcalls": _mean([r.subcalls for r in rows]),
        "mean_seconds": _mean([r.seconds for r in rows]),
        "citation_precision": _mean(precisions),
    }


def _tokens(row: Row) -> int:
    return (
        row.root_prompt_tokens
        + row.root_generated_tokens
        + row.sub_prompt_tokens
        + row.sub_generated_tokens
    )


def method_key(method: str) -> tuple[int, str]:
    """Methods in their usual order (rlm first), others after them by name."""
    return (_METHOD_ORDER.index(method) if method in _METHOD_ORDER else 99, method)


def summarise(rows: list[Row], *keys: str) -> list[dict]:
    """One summary per distinct value of ``keys`` (row fields), e.g. method and length."""
    groups: dict[tuple, list[Row]] = {}
    for row in rows:
        groups.setdefault(tuple(getattr(row, k) for k in keys), []).append(row)

    def order(key: tuple) -> tuple:
        return tuple(
            method_key(v) if k == "method" else (0, v) for k, v in zip(keys, key, strict=True)
        )

    return [
        {**dict(zip(keys, key, strict=True)), **summarise_group(groups[key])}
        for key in sorted(groups, key=order)
    ]


def write_outputs(run: QualityRun, out: Path) -> None:
    """results.json and report.html in ``out``."""
    out.mkdir(parents=True, exist_ok=True)
    data = {
        "meta": run.meta,
        "methods": summarise(run.rows, "method"),
        "summary": summarise(run.rows, "method", "length"),
        "tasks": summarise(run.rows, "task", "method"),
        "rows": [asdict(r) for r in run.rows],
    }
    (out / "results.json").write_text(json.dumps(data, indent=2, ensure_ascii=False))
    (out / "report.html").write_text(render(data), encoding="utf-8")


# ---------------------------------------------------------------------- the page


def fraction(value: float | None) -> str:
    """0.83 as "0.83"; nothing measured as "–"."""
    return "–" if value is None else f"{value:.2f}"


def _number(value: float | None) -> str:
    return "–" if value is None else f"{value:,.0f}"


def banner(*metas: dict) -> str:
    """The lines that say what the figures are, one per run: a machinery check, or which
    model on which machine. Repeated at the top of every printed page."""
    machinery = any(meta.get("machinery_check") for meta in metas)
    sides = ["A: ", "B: "] if len(metas) == 2 else [""]
    lines = [side + _banner_words(meta) for side, meta in zip(sides, metas, strict=False)]
    return f"<div class='banner{' machinery' if machinery else ''}'>{'<br>'.join(lines)}</div>"


def _banner_words(meta: dict) -> str:
    if not meta.get("machinery_check"):
        return model_line(meta)
    if meta.get("model") == "scripted":
        how = (
            "runs strategies written for these tasks: its scores test the bench, the REPL and "
            "the scorers, never a language model; direct and retrieval have no code to run and "
            "score 0 by construction."
        )
    else:
        how = "answers from a script: its scores test the machinery, never a language model."
    return f"<b>Machinery check, not a model.</b> The {escape(meta['model'])} model {how}"


def model_line(meta: dict) -> str:
    """The model file, its quantization and size, and the machine, as HTML."""
    file = meta.get("model_file") or {}
    runtime = meta.get("runtime") or {}
    if file:
        model = (
            f"<b>{escape(file['file'])}</b> ({escape(file.get('name', ''))}, "
            f"{escape(str(file.get('parameters', '')))} parameters, "
            f"{escape(file.get('quantization', ''))} quantization, {file.get('size_mb', 0):g} MB)"
        )
    else:
        model = f"<b>{escape(meta.get('model', '?'))}</b> (no local model file)"
    if runtime.get("n_ctx"):
        place = "GPU" if runtime.get("n_gpu_layers") else "CPU"
        model += (
            f", window {runtime['n_ctx']:,} tokens, {runtime.get('n_threads', '?')} threads on "
            f"the {place}"
        )
    if meta.get("sub_model") and meta.get("sub_model") != meta.get("model"):
        model += f"; sub-calls: {escape(meta['sub_model'])}"
    return f"Model {model}. Machine: {escape(machine_line(meta.get('machine', {})))}."


STYLE = """
body{font-family:sans-serif;max-width:84em;margin:1em auto;padding:0 1em;color:#222}
h1{margin-bottom:.2em} h2{margin-top:1.6em;border-bottom:1px solid #ccc}
table{border-collapse:collapse;margin:.5em 0;font-size:90%}
td,th{padding:3px 8px;border-bottom:1px solid #e2e2e2;text-align:right;vertical-align:top}
td.l,th.l{text-align:left} th{background:#f4f4f4}
.banner{position:sticky;top:0;z-index:1;background:#eef4ff;border:1px solid #9db8e8;
  padding:6px 10px;margin:.5em 0}
.banner.machinery,.warning{background:#fff3cd;border-color:#e0b000}
.warning{border:1px solid #e0b000;padding:6px 10px}
.small{font-size:85%;color:#555} .answer{min-width:8em;max-width:14em;overflow-wrap:anywhere}
.wide{min-width:16em;max-width:22em} table.runs{font-size:80%}
.o-answer{color:#1b7a35} .o-fallback,.o-best-effort{color:#a05a00}
.o-stopped,.o-error{color:#b00020}
@media print{.banner{position:fixed;top:0;left:0;right:0}body{margin-top:4em}}
"""


def render(data: dict) -> str:
    """The whole report page."""
    meta, rows = data["meta"], data["rows"]
    label = f" — {meta['label']}" if meta.get("label") else ""
    parts = [
        "<!DOCTYPE html><html lang='en'><head><meta charset='utf-8'>",
        f"<title>RLM Desktop — quality benchmark{escape(label)}</title>",
        f"<style>{STYLE}</style></head><body>",
        banner(meta),
        f"<h1>Quality benchmark{escape(label)}</h1>",
        _about_run(meta),
        "<h2>Accuracy per method</h2>",
        "<p class='small'>Accuracy over <i>all rows</i> counts every answer as given, however "
        "it came about; over <i>answer rows</i> only the runs whose outcome is "
        "<span class='o-answer'>answer</span> (the method's own answer: not the built-in "
        "fallback strategy, not a best-effort answer after a budget ran out).</p>",
        _method_table(data["methods"], "method"),
        "<h2>Accuracy and cost against context length</h2>",
        _charts(data["summary"], label),
        "<h2>Per method and length</h2>",
        _method_table(data["summary"], "method", "length"),
        "<h2>Per task</h2>",
        _method_table(data["tasks"], "task", "method"),
        "<h2>Every run</h2>",
        _rows_table(rows),
        _notes(meta),
        "</body></html>",
    ]
    return "".join(parts)


def _about_run(meta: dict) -> str:
    limits = meta.get("limits", {})
    budget = limits.get("budget", {})
    deadline = limits.get("deadline_s")
    items = [
        model_line(meta),
        f"Lengths are measured by {escape(meta.get('tokenizer', '?'))}.",
        f"Preset <b>{escape(meta.get('preset', '?'))}</b>: at most "
        f"{budget.get('max_iterations', '?')} root turns, {budget.get('max_subcalls', '?')} "
        f"sub-calls and {budget.get('max_tokens', 0):,} tokens per run; root replies up to "
        f"{limits.get('root_max_tokens', '?')} tokens, sub-call replies up to "
        f"{limits.get('sub_max_tokens', '?')}; the built-in strategy after "
        f"{limits.get('fallback_after', '?')} replies without code"
        + (f"; the suite shares a {deadline:g}-second deadline among its runs" if deadline else "")
        + ".",
        f"Seed {meta.get('seed')}, RLM Desktop {escape(str(meta.get('version', '')))}, "
        f"{escape(meta.get('date', ''))}, {meta.get('wall_seconds', 0):,.0f} s in all.",
    ]
    return "<ul>" + "".join(f"<li>{item}</li>" for item in items) + "</ul>"


def _outcomes(counts: dict) -> str:
    return ", ".join(
        f"<span class='o-{o}'>{counts[o]} {o}</span>" for o in OUTCOMES if counts.get(o)
    )


def _method_table(groups: list[dict], *keys: str) -> str:
    head = "".join(f"<th class='l'>{k}</th>" for k in keys) + (
        "<th>rows</th><th>accuracy<br>(all rows)</th><th>accuracy<br>(answer rows)</th>"
        "<th class='l'>outcomes</th><th>tokens<br>per run</th><th>root / sub<br>tokens</th>"
        "<th>sub-calls<br>per run</th><th>seconds<br>per run</th><th>citation<br>precision</th>"
    )
    body = []
    for g in groups:
        cells = "".join(
            f"<td class='l'>{escape(short(g[k]) if k == 'length' else str(g[k]))}</td>"
            for k in keys
        )
        body.append(
            f"<tr>{cells}<td>{g['rows']}</td><td><b>{fraction(g['accuracy'])}</b></td>"
            f"<td><b>{fraction(g['accuracy_answer_rows'])}</b> "
            f"<span class='small'>({g['answer_rows']})</span></td>"
            f"<td class='l'>{_outcomes(g['outcomes'])}</td>"
            f"<td>{_number(g['mean_tokens'])}</td>"
            f"<td>{_number(g['mean_root_tokens'])} / {_number(g['mean_sub_tokens'])}</td>"
            f"<td>{fraction(g['mean_subcalls'])}</td><td>{fraction(g['mean_seconds'])}</td>"
            f"<td>{fraction(g['citation_precision'])}</td></tr>"
        )
    return f"<table><tr>{head}</tr>{''.join(body)}</table>"


def _charts(summary: list[dict], label: str) -> str:
    methods = sorted({s["method"] for s in summary}, key=method_key)

    def points(method: str, field: str) -> list[tuple[float, float]]:
        return [
            (s["length"], s[field])
            for s in summary
            if s["method"] == method and s[field] is not None
        ]

    accuracy = []
    for i, method in enumerate(methods):
        accuracy.append(
            Series(f"{method}, all rows", points(method, "accuracy"), colour(method, i))
        )
        accuracy.append(
            Series(
                f"{method}, answer rows",
                points(method, "accuracy_answer_rows"),
                colour(method, i),
                dashed=True,
            )
        )
    cost = [Series(m, points(m, "mean_tokens"), colour(m, i)) for i, m in enumerate(methods)]
    seconds = [Series(m, points(m, "mean_seconds"), colour(m, i)) for i, m in enumerate(methods)]
    return (
        line_chart(
            accuracy,
            f"Accuracy against context length{label}",
            "accuracy",
            y_max=1.0,
            y_format=lambda v: f"{v:.2f}",
        )
        + "<p class='small'>Solid: all rows. Dashed, open points: answer rows only (a point is "
        "missing where a method had no answer rows at that length).</p>"
        + line_chart(
            cost, f"Tokens per run against context length{label}", "tokens per run", y_format=short
        )
        + line_chart(seconds, f"Seconds per run against context length{label}", "seconds per run")
    )


def _citations(counts: dict) -> str:
    return " ".join(
        f"{CITATION_STATUSES[s][0]}&nbsp;{counts[s]}" for s in CITATION_STATUSES if counts.get(s)
    )


def _rows_table(rows: list[dict]) -> str:
    head = (
        "<tr><th class='l'>task</th><th>length<br>(measured)</th><th class='l'>method</th>"
        "<th class='l'>outcome</th><th>score</th><th class='l'>expected</th>"
        "<th class='l'>scored as</th><th class='l'>answer</th><th>sub-calls</th>"
        "<th>root tokens<br>prompt / gen</th><th>sub tokens<br>prompt / gen</th>"
        "<th>seconds<br>(limit)</th><th class='l'>citations</th></tr>"
    )
    body = []
    for r in rows:
        pr = ""
        if r["precision"] is not None:
            pr = f"<br><span class='small'>P {r['precision']:.2f} R {r['recall']:.2f}</span>"
        note = f"<br><span class='small'>{escape(r['note'])}</span>" if r["note"] else ""
        body.append(
            f"<tr><td class='l'>{escape(r['task'])}</td>"
            f"<td>{short(r['length'])}<br><span class='small'>{r['tokens']:,}</span></td>"
            f"<td class='l'>{escape(r['method'])}</td>"
            f"<td class='l answer o-{r['outcome']}'>{escape(r['outcome'])}{note}</td>"
            f"<td>{r['score']:.2f}{pr}</td>"
            f"<td class='l answer'>{escape(r['expected'][:80])}</td>"
            f"<td class='l answer'>{escape(r['read'][:60])}<br>"
            f"<span class='small'>{escape(r['scorer'])}</span></td>"
            f"<td class='l answer wide'>{escape(r['answer'][:160])}</td>"
            f"<td>{r['subcalls']}</td>"
            f"<td>{r['root_prompt_tokens']:,} / {r['root_generated_tokens']:,}</td>"
            f"<td>{r['sub_prompt_tokens']:,} / {r['sub_generated_tokens']:,}</td>"
            f"<td>{r['seconds']:.1f}<br><span class='small'>({r['time_limit_s']:g})</span></td>"
            f"<td class='l'>{_citations(r['citations'])}</td></tr>"
        )
    return f"<table class='runs'>{head}{''.join(body)}</table>"


def _notes(meta: dict) -> str:
    statuses = "; ".join(
        f"{mark} {words}: {means}" for mark, words, means in CITATION_STATUSES.values()
    )
    skipped = "".join(f"<li>{escape(s)}</li>" for s in meta.get("skipped", []))
    return (
        "<h2>How to read it</h2><ul class='small'>"
        "<li>Scores: exact numbers and names after normalisation (never a substring: 1234567 "
        "does not contain 34); counts in the aggregation task as OOLONG scores them "
        "(0.75^|error|); lists by set F1 and pairs by pair F1 (unordered, each pair once), "
        "with precision and recall; the needle by exact match of its number, with no decoy "
        "beside it.</li>"
        f"<li>Citation precision is the share of an answer's citations marked read. {statuses}."
        "</li><li>Outcomes: "
        + "; ".join(f"{o}: {w or 'the method answered'}" for o, w in OUTCOMES.items())
        + ".</li></ul>"
        + (f"<h2>Not run</h2><ul class='small'>{skipped}</ul>" if skipped else "")
    )
