"""The scripted model: a replay script whose root "model" runs a built-in strategy that solves
each kind of task in code, so the whole machinery (REPL, sub-calls, citations, scoring,
reports) can be checked at any length without a model. Its scores measure the machinery,
never a model: every report of a scripted run says so.

A strategy takes two turns, as a careful model would: the first computes the answer and
prints its evidence lines (so they are read), the second states the answer and cites them.
The direct and retrieval methods have no code to run: their one answer says so.
"""

from __future__ import annotations

import json
from pathlib import Path

from rlm_desktop.bench.tasks import Task

SCRIPTED = "scripted"
NO_CODE_ANSWER = "The scripted model cannot answer without code."

# How an instance is labelled: from its wording.
_LABEL_RULES = """
RULES = [('stand for', 'abbreviation'), ('full form', 'abbreviation'),
         ('Where', 'location'), ('In which city', 'location'), ('Who', 'person'),
         ('How many', 'number'), ('What year', 'number'), ('Which animal', 'entity'),
         ('What instrument', 'entity'), ('Why', 'description'),
         ('What does the', 'description')]
def kind(text):
    return next(k for p, k in RULES if p in text)
rows = [l.split(' || ') for l in context.split('\\n') if l.count(' || ') == 2]
"""

# What every log strategy starts with: the log named in the question, parsed by its line
# format (the one thing the scripted model is told, as a model would learn it by peeking).
_LOG_ROWS = """
import re
LOG = re.search(r'^In (.+?), ', question).group(1)
LINE = re.compile({pattern!r})
lines = next(d for d in context.documents if d.name == LOG).text.split('\\n')
parsed = [(LINE.match(l), l) for l in lines]
rows = [m.groupdict() for m, l in parsed if m]
lines = [l for m, l in parsed if m]
def form(template):
    parts = (re.escape(p) for p in template.split('<*>'))
    return re.compile('^' + '.*?'.join(parts) + '$')
def matches(value):
    if 'level ' + value in question:
        return [r.get('Level') == value for r in rows]
    shape = form(value)
    return [bool(shape.match(r['Content'].strip())) for r in rows]
ASKED = re.search(r"level (\\S+?)[?,]|form '(.+?)' \\(<", question)
ASKED = ASKED and (ASKED.group(1) or ASKED.group(2))
CLOCK = r'(\\d{{2}}):?(\\d{{2}}):?(\\d{{2}})'
def seconds():
    days, out = {{}}, []
    for r in rows:
        day = tuple(r.get(c, '') for c in ('Year', 'Month', 'Date', 'Day'))
        day += (re.sub(CLOCK, '', r['Time']),)
        h, m, s = map(int, re.search(CLOCK, r['Time']).groups())
        out.append(days.setdefault(day, len(days)) * 86400 + h * 3600 + m * 60 + s)
    return out
"""

_STRATEGIES = {
    "needle": """
import re
key = re.search(r'number for (\\S+)\\?', question).group(1)
hit = context.grep(r'special magic number for ' + re.escape(key) + r' is')[0]
ANSWER = re.search(r'is (\\d+)', hit.text).group(1)
EVIDENCE = [hit.text]
""",
    "aggregation": _LABEL_RULES
    + """
import re
label = re.search(r'of type (\\w+)', question).group(1)
ANSWER = str(sum(kind(r[2]) == label for r in rows))
EVIDENCE = []
""",
    "pairs": "import re\nfrom collections import Counter\nfrom itertools import combinations\n"
    + _LABEL_RULES
    + """
times = re.search(r'at least (once|\\d+ times)', question).group(1)
least = 1 if times == 'once' else int(times.split()[0])
asked = {}
for _, user, text in rows:
    asked.setdefault(int(user), Counter())[kind(text)] += 1
both = sorted(u for u, c in asked.items() if min(c['location'], c['person']) >= least)
ANSWER = ', '.join(f'({a}, {b})' for a, b in combinations(both, 2))
EVIDENCE = []
""",
    "multihop": """
import re
person = re.search(r'where (.+) was born', question).group(1)
bio = context.grep(r'^' + re.escape(person) + r' was born in')[0].text.split('.')[0] + '.'
town = re.search(r'born in (\\w+)', bio).group(1)
place = context.grep(r'^' + town + r' is a town in the country of')[0].text.split('.')[0] + '.'
ANSWER = re.search(r'country of (\\w+)', place).group(1)
EVIDENCE = [bio, place]
""",
    "log-count": """
ANSWER = str(sum(matches(ASKED)))
EVIDENCE = []
""",
    "log-first": """
first = matches(ASKED).index(True)
ANSWER = ':'.join(re.search(CLOCK, rows[first]['Time']).groups())
EVIDENCE = [lines[first]]
""",
    "log-nearby": """
t = seconds()
at = matches(ASKED).index(True)
near = {r['Component'] for i, r in enumerate(rows) if i != at and abs(t[i] - t[at]) <= 60}
ANSWER = ', '.join(sorted(near))
EVIDENCE = [lines[at]]
""",
    "log-pairs": """
t = seconds()
order = sorted(range(len(rows)), key=t.__getitem__)
found = set()
for n, i in enumerate(order):
    for j in order[n + 1:]:
        if t[j] - t[i] > 60:
            break
        a, b = rows[i]['Component'], rows[j]['Component']
        if a != b:
            found.add((min(a, b), max(a, b)))
ANSWER = ', '.join(f'({a}, {b})' for a, b in sorted(found))
EVIDENCE = []
""",
}

_SHOW = "print(ANSWER)\nfor line in EVIDENCE:\n    print(line)"
_ANSWER = "FINAL(ANSWER + ' ' + ''.join(cite(line.strip()) for line in EVIDENCE))"


def strategy(task: Task) -> str:
    """The code that solves this task (its first turn)."""
    code = _STRATEGIES[task.kind]
    if task.kind.startswith("log-"):
        code = _LOG_ROWS.format(pattern=task.facts["pattern"]) + code
    return code.strip() + "\n" + _SHOW


def script_for(task: Task, method: str, folder: Path) -> str:
    """Write the replay script of one task and method; return its model spec."""
    if method in ("rlm", "no-subcalls"):
        root = [f"```repl\n{strategy(task)}\n```", f"```repl\n{_ANSWER}\n```"]
    else:
        root = [NO_CODE_ANSWER]
    path = folder / f"scripted-{task.kind}-{method}.json"
    path.write_text(json.dumps({"root": root, "sub": []}), encoding="utf-8")
    return f"replay:{path}"
