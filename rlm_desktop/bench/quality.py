"""``rlm-desktop bench quality``: the RLM method against the alternatives, on tasks with known
answers, at chosen lengths — a table, results.json and report.html with charts."""

from __future__ import annotations

import html
import json
import statistics
import tempfile
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path

from rlm_desktop.bench.tasks import GENERATORS, Task
from rlm_desktop.ingest import pipeline
from rlm_desktop.rlm.budget import Budget
from rlm_desktop.store import Library

METHODS = ("rlm", "no-subcalls", "direct", "retrieval")
SCRIPTED = "scripted"
COLOURS = {"rlm": "#2f7de1", "no-subcalls": "#1b7a35", "direct": "#b00020", "retrieval": "#d98b00"}

# How the scripted strategies label an instance: from its wording.
_LABEL_RULES = (
    "RULES = [('stand for', 'abbreviation'), ('full form', 'abbreviation'),\n"
    "         ('Where', 'location'), ('In which city', 'location'), ('Who', 'person'),\n"
    "         ('How many', 'number'), ('What year', 'number'), ('Which animal', 'entity'),\n"
    "         ('What instrument', 'entity'), ('Why', 'description'),\n"
    "         ('What does the', 'description')]\n"
    "def kind(text):\n    return next(k for p, k in RULES if p in text)\n"
)

# Built-in scripted strategies (a replay model): code that solves each kind of task from
# `question` and `context`, so the whole machinery can be exercised at any length.
_STRATEGIES = {
    "needle": (
        "import re\nkey = re.search(r'number for (\\S+)\\?', question).group(1)\n"
        "hit = context.grep(r'special magic number for ' + re.escape(key) + r' is')[0]\n"
        "FINAL(re.search(r'is (\\d+)', hit.text).group(1) + ' ' + cite(hit.text))"
    ),
    "aggregation": (
        "import re\nlabel = re.search(r'of type (\\w+)', question).group(1)\n"
        + _LABEL_RULES
        + "rows = [l.split(' || ') for l in context.split('\\n') if l.count(' || ') == 2]\n"
        "FINAL(str(sum(kind(r[2]) == label for r in rows)))"
    ),
    "pairs": (
        "from itertools import combinations\n" + _LABEL_RULES + "asked = {}\n"
        "for l in context.split('\\n'):\n    if l.count(' || ') == 2:\n"
        "        _, user, text = l.split(' || ')\n"
        "        asked.setdefault(int(user), set()).add(kind(text))\n"
        "both = sorted(u for u, s in asked.items() if {'location', 'person'} <= s)\n"
        "FINAL(', '.join(f'({a}, {b})' for a, b in combinations(both, 2)))"
    ),
    "multihop": (
        "import re\nperson = re.search(r'where (.+) was born', question).group(1)\n"
        "bio = context.grep(r'^' + re.escape(person) + r' was born in')[0]\n"
        "town = re.search(r'born in (\\w+)', bio.text).group(1)\n"
        "place = context.grep(r'^' + town + r' is a town in the country of')[0]\n"
        "land = re.search(r'country of (\\w+)', place.text).group(1)\n"
        "FINAL(land + ' ' + cite(bio.text.split('.')[0] + '.') + ' '"
        " + cite(place.text.split('.')[0] + '.'))"
    ),
    "logs": (
        "import re\nfrom collections import Counter\nlines = context.split('\\n')\n"
        "if 'event template' in question:\n"
        "    template = re.search(r\"template '(.+)'\", question).group(1)\n"
        "    pattern = r'\\S+'.join(re.escape(p) for p in template.split('<*>'))\n"
        "    line_re = re.compile(r'sshd\\[\\d+\\]: ' + pattern + r'\\s*$')\n"
        "    FINAL(str(sum(1 for l in lines if line_re.search(l))))\n"
        "elif 'BREAK-IN' in question:\n"
        "    last = [l for l in lines if 'POSSIBLE BREAK-IN ATTEMPT' in l][-1]\n"
        "    FINAL(' '.join(last.split()[:3]) + ' ' + cite(last.strip()))\n"
        "else:\n"
        "    pids = Counter(re.findall(r'sshd\\[(\\d+)\\]', context))\n"
        "    FINAL(pids.most_common(1)[0][0])"
    ),
}


@dataclass
class Row:
    """One task answered by one method."""

    task: str
    seed: int
    tokens: int
    method: str
    score: float
    expected: str
    answer: str
    prompt_tokens: int
    completion_tokens: int
    root_tokens: int
    sub_tokens: int
    calls: int
    seconds: float
    stop_reason: str
    citation_precision: float | None = None
    citation_recall: float | None = None


def _scripted_model(task: Task, folder: Path) -> str:
    script = folder / f"strategy-{task.kind}.json"
    reply = f"```repl\n{_STRATEGIES[task.kind]}\n```"
    # Enough replies for every method of this task (direct/retrieval take one plain answer).
    script.write_text(json.dumps({"root": [reply, "I cannot tell."] * 8, "sub": []}))
    return f"replay:{script}"


def _citations_against_gold(result, task: Task) -> tuple[float | None, float | None]:
    cited = {Path(c.path).name for c in result.citations if c.verified and c.path}
    if not task.gold_documents:
        return None, None
    gold = set(task.gold_documents)
    precision = len(cited & gold) / len(cited) if cited else 0.0
    return precision, len(cited & gold) / len(gold)


def run_task(
    task: Task,
    methods: list[str],
    model: str,
    sub_model: str | None,
    work: Path,
    budget: Budget,
    log: Callable[[str], None],
) -> list[Row]:
    """Build the task's library once and answer its question with every method."""
    from rlm_desktop.rlm.engine import RLM

    folder = work / f"{task.kind}-{task.tokens}-{task.seed}"
    (folder / "docs").mkdir(parents=True)
    for name, text in task.documents:
        (folder / "docs" / name).write_text(text, encoding="utf-8")
    rows = []
    with Library(folder / "lib") as library:
        pipeline.ingest(library, [folder / "docs"])
        for method in methods:
            spec = _scripted_model(task, folder) if model == SCRIPTED else model
            log(f"{task.kind} @ {task.tokens:,} tokens: {method}")
            rlm = RLM(spec, None if model == SCRIPTED else sub_model, mode=method, budget=budget)
            started = time.perf_counter()
            try:
                result = rlm.completion(task.question, library, save=False)
            finally:
                rlm.close()
            usage = result.usage
            depth = usage["by_depth"]
            root = depth.get("0", {})
            sub = [t for d, t in depth.items() if d != "0"]
            precision, recall = _citations_against_gold(result, task)
            rows.append(
                Row(
                    task.kind,
                    task.seed,
                    task.tokens,
                    method,
                    round(task.score(result.answer), 4),
                    task.answer[:200],
                    result.answer[:500],
                    usage["total"]["prompt_tokens"],
                    usage["total"]["completion_tokens"],
                    root.get("prompt_tokens", 0) + root.get("completion_tokens", 0),
                    sum(t["prompt_tokens"] + t["completion_tokens"] for t in sub),
                    usage["total"]["calls"],
                    round(time.perf_counter() - started, 3),
                    result.stop_reason,
                    precision,
                    recall,
                )
            )
    return rows


def run_quality(
    model: str = SCRIPTED,
    sub_model: str | None = None,
    kinds: list[str] | None = None,
    lengths: list[int] | None = None,
    methods: list[str] | None = None,
    seed: int = 1,
    out: Path | None = None,
    log: Callable[[str], None] = lambda _m: None,
) -> list[Row]:
    """Run every task kind at every length with every method; write results.json and
    report.html into ``out`` when given."""
    budget = Budget(max_iterations=6, max_subcalls=32, max_tokens=400_000, max_seconds=900)
    rows: list[Row] = []
    with tempfile.TemporaryDirectory(prefix="rlm-quality-") as tmp:
        for kind in kinds or list(GENERATORS):
            for tokens in lengths or [8_000]:
                task = GENERATORS[kind](seed, tokens)
                rows += run_task(
                    task, list(methods or METHODS), model, sub_model, Path(tmp), budget, log
                )
    if out is not None:
        write_outputs(rows, Path(out), model, sub_model)
    return rows


def summarise(rows: list[Row]) -> list[dict]:
    """Mean score, tokens, calls and time per method and length bucket."""
    groups: dict[tuple[str, int], list[Row]] = {}
    for row in rows:
        groups.setdefault((row.method, row.tokens), []).append(row)
    return [
        {
            "method": method,
            "tokens": tokens,
            "tasks": len(group),
            "score": round(statistics.mean(r.score for r in group), 3),
            "prompt_tokens": sum(r.prompt_tokens for r in group),
            "completion_tokens": sum(r.completion_tokens for r in group),
            "root_tokens": sum(r.root_tokens for r in group),
            "sub_tokens": sum(r.sub_tokens for r in group),
            "calls": sum(r.calls for r in group),
            "seconds": round(sum(r.seconds for r in group), 2),
            "budget_stops": sum(r.stop_reason not in ("final", "error") for r in group),
        }
        for (method, tokens), group in sorted(groups.items())
    ]


def write_outputs(rows: list[Row], out: Path, model: str, sub_model: str | None) -> None:
    """results.json and a self-contained report.html with two SVG charts."""
    out.mkdir(parents=True, exist_ok=True)
    summary = summarise(rows)
    meta = {
        "model": model,
        "sub_model": sub_model or model,
        "date": time.strftime("%Y-%m-%d %H:%M"),
    }
    (out / "results.json").write_text(
        json.dumps({"meta": meta, "summary": summary, "rows": [asdict(r) for r in rows]}, indent=2)
    )
    (out / "report.html").write_text(_report(summary, rows, meta), encoding="utf-8")


def _line_chart(summary: list[dict]) -> str:
    lengths = sorted({s["tokens"] for s in summary})
    width, height, pad = 560, 260, 48
    x = {t: pad + (width - 2 * pad) * (i / max(1, len(lengths) - 1)) for i, t in enumerate(lengths)}

    def y(score: float) -> float:
        return height - pad - (height - 2 * pad) * score

    parts = [
        f"<svg width='{width}' height='{height}' role='img' "
        "aria-label='score against length per method'>",
        f"<line x1='{pad}' y1='{y(0)}' x2='{width - pad}' y2='{y(0)}' stroke='#999'/>",
        f"<text x='4' y='{y(1) + 4}' font-size='11'>1.0</text>"
        f"<text x='4' y='{y(0) + 4}' font-size='11'>0.0</text>",
    ]
    for t in lengths:
        parts.append(
            f"<text x='{x[t]:.0f}' y='{height - 10}' font-size='11' "
            f"text-anchor='middle'>{t:,}</text>"
        )
    for offset, (method, colour) in enumerate(COLOURS.items()):
        # A small vertical offset per method keeps equal scores from hiding each other.
        points = [
            (x[s["tokens"]], y(s["score"]) - 3 * offset + 4)
            for s in summary
            if s["method"] == method
        ]
        if points:
            path = " ".join(f"{px:.1f},{py:.1f}" for px, py in points)
            parts.append(
                f"<polyline points='{path}' fill='none' stroke='{colour}' stroke-width='2'/>"
            )
            parts += [
                f"<circle cx='{px:.1f}' cy='{py:.1f}' r='3' fill='{colour}'/>" for px, py in points
            ]
    return "".join(parts) + "</svg>"


def _scatter(rows: list[Row]) -> str:
    width, height, pad = 560, 260, 40
    most = max([r.prompt_tokens + r.completion_tokens for r in rows] + [1])
    parts = [
        f"<svg width='{width}' height='{height}' role='img' "
        "aria-label='tokens spent against score'>",
        f"<text x='{pad}' y='{height - 8}' font-size='11'>tokens (0 … {most:,})</text>",
        f"<text x='2' y='{pad - 8}' font-size='11'>score</text>",
    ]
    for r in rows:
        px = pad + (width - 2 * pad) * (r.prompt_tokens + r.completion_tokens) / most
        py = height - pad - (height - 2 * pad) * r.score
        parts.append(
            f"<circle cx='{px:.1f}' cy='{py:.1f}' r='4' fill='{COLOURS[r.method]}' "
            f"opacity='0.7'><title>{html.escape(r.task)} {r.method}</title></circle>"
        )
    return "".join(parts) + "</svg>"


def _report(summary: list[dict], rows: list[Row], meta: dict) -> str:
    legend = " ".join(f"<span style='color:{c}'>■ {m}</span>" for m, c in COLOURS.items())
    table = "".join(
        f"<tr><td>{s['method']}</td><td>{s['tokens']:,}</td><td>{s['score']:.2f}</td>"
        f"<td>{s['root_tokens']:,}</td><td>{s['sub_tokens']:,}</td><td>{s['calls']}</td>"
        f"<td>{s['seconds']:.1f}</td><td>{s['budget_stops']}</td></tr>"
        for s in summary
    )
    details = "".join(
        f"<tr><td>{html.escape(r.task)}</td><td>{r.tokens:,}</td><td>{r.method}</td>"
        f"<td>{r.score:.2f}</td><td>{html.escape(r.expected[:60])}</td>"
        f"<td>{html.escape(r.answer[:80])}</td></tr>"
        for r in rows
    )
    return (
        "<!DOCTYPE html><html><head><meta charset='utf-8'><title>RLM Desktop — quality</title>"
        "<style>body{font-family:sans-serif;max-width:60em;margin:2em auto}"
        "td,th{padding:2px 8px;border-bottom:1px solid #ddd;text-align:left}</style></head><body>"
        f"<h1>Quality benchmark</h1><p>Model {html.escape(meta['model'])}, sub-calls "
        f"{html.escape(meta['sub_model'])}, {meta['date']}. {legend}</p>"
        f"<h2>Score against length</h2>{_line_chart(summary)}"
        f"<h2>Cost against score</h2>{_scatter(rows)}"
        "<h2>Per method and length</h2><table><tr><th>method</th><th>tokens</th><th>score</th>"
        "<th>root tokens</th><th>sub tokens</th><th>calls</th><th>seconds</th>"
        f"<th>budget stops</th></tr>{table}</table>"
        "<h2>Every task</h2><table><tr><th>task</th><th>length</th><th>method</th><th>score</th>"
        f"<th>expected</th><th>answer</th></tr>{details}</table></body></html>"
    )
