"""Full-text search over passages: what a person types becomes an FTS5 query ranked by bm25."""

from __future__ import annotations

import re
import sqlite3
from dataclasses import dataclass
from pathlib import Path

from rlm_desktop.errors import UsageError
from rlm_desktop.records import Located, Span
from rlm_desktop.store.documents import READABLE

_PHRASE = re.compile(r'"([^"]*)"')
_WORD = re.compile(r"\w+", re.UNICODE)
_SNIPPET_TOKENS = 24
_QUOTE_WORDS = 12  # a quote is looked up by the phrase of its first words
# A hit in a passage longer than this (a log's: see ingest.pipeline) points at the line of
# its first match rather than at the whole passage.
NARROW_CHARS = 4000
# Words too common to help ranking; dropped from unquoted queries unless nothing else is left.
_STOPWORDS_TEXT = (
    "a an and are as at be by did do does for from has have how in is it its of on or that "
    "the their there these this those to was were what when where which who whom why will "
    "with you your"
)
_STOPWORDS = frozenset(_STOPWORDS_TEXT.split())
# Markers FTS5 puts around matched terms in snippets: control characters that documents
# almost never contain, stripped again for plain output.
HIT_START, HIT_END = "\x02", "\x03"


@dataclass(frozen=True)
class SearchHit(Located):
    """One passage found by a search, with its exact place in its document."""

    doc_id: int
    passage_id: int
    title: str
    kind: str
    score: float
    snippet: str
    span: Span

    def plain_snippet(self) -> str:
        """The snippet without match markers."""
        return self.snippet.replace(HIT_START, "").replace(HIT_END, "")

    def to_json(self) -> dict:
        """The public JSON shape used by ``search --json`` (page null for non-PDF)."""
        span = self.span
        return {
            "doc_id": self.doc_id,
            "path": span.path,
            "title": self.title,
            "kind": self.kind,
            "passage_id": self.passage_id,
            "page": span.page,
            "page_label": span.page_label,
            "line_start": span.line_start,
            "line_end": span.line_end,
            "start": span.start,
            "end": span.end,
            "score": self.score,
            "snippet": self.plain_snippet(),
        }


def build_fts_query(text: str) -> str:
    """Turn typed words into an FTS5 query: words OR'ed, "quoted phrases" kept whole."""
    terms: list[str] = []
    for phrase in _PHRASE.findall(text):
        words = _WORD.findall(phrase)
        if words:
            terms.append('"' + " ".join(words) + '"')
    words = _WORD.findall(_PHRASE.sub(" ", text).replace('"', " "))
    meaningful = [w for w in words if w.lower() not in _STOPWORDS]
    for word in meaningful or words:
        terms.append(f'"{word}"')
    if not terms:
        raise UsageError("the search query has no words to look for")
    return " OR ".join(dict.fromkeys(terms))


def search_passages(conn: sqlite3.Connection, query: str, k: int = 10) -> list[SearchHit]:
    """Return up to ``k`` passages of readable documents matching ``query``, best first."""
    if k < 1:
        raise UsageError("k must be at least 1")
    rows = conn.execute(
        f"""
        SELECT d.id AS doc_id, d.path, d.title, d.kind, p.id AS passage_id, p.page,
               p.page_label, p.line_start, p.line_end, p.start, p."end",
               -bm25(passages_fts) AS score,
               snippet(passages_fts, 0, '{HIT_START}', '{HIT_END}', '…', {_SNIPPET_TOKENS})
                   AS snippet,
               CASE WHEN p."end" - p.start > {NARROW_CHARS}
                   THEN highlight(passages_fts, 0, '{HIT_START}', '{HIT_END}') END AS marked
        FROM passages_fts
        JOIN passages p ON p.id = passages_fts.rowid
        JOIN documents d ON d.id = p.doc_id
        WHERE passages_fts MATCH ? AND d.{READABLE}
        ORDER BY bm25(passages_fts)
        LIMIT ?
        """,
        (build_fts_query(query), k),
    ).fetchall()
    return [_hit(row) for row in rows]


def quote_candidates(conn: sqlite3.Connection, quote: str, limit: int) -> list[tuple[int, int]]:
    """(document id, passage ordinal) of up to ``limit`` passages of readable documents
    holding the phrase of the quote's first words: where the whole quote may be."""
    words = _WORD.findall(quote)
    if not words:
        return []
    query = build_fts_query('"' + " ".join(words[:_QUOTE_WORDS]) + '"')
    rows = conn.execute(
        "SELECT p.doc_id, p.ordinal FROM passages_fts JOIN passages p "
        "ON p.id = passages_fts.rowid JOIN documents d ON d.id = p.doc_id "
        f"WHERE passages_fts MATCH ? AND d.{READABLE} LIMIT ?",
        (query, limit),
    ).fetchall()
    return [(row[0], row[1]) for row in rows]


def _first_match_line(marked: str) -> tuple[int, int, int] | None:
    """(offset of its start, offset of its end, lines before it) of the line holding the
    first match in a passage's text marked by ``highlight()``; None without a match."""
    first = marked.find(HIT_START)
    if first == -1:
        return None
    start = marked.rfind("\n", 0, first) + 1
    end = marked.find("\n", first)
    end = len(marked) if end == -1 else end
    markers = marked.count(HIT_START, first, end) + marked.count(HIT_END, first, end)
    return start, end - markers, marked.count("\n", 0, start)


def _hit(row: sqlite3.Row) -> SearchHit:
    lines, start, end = (row["line_start"], row["line_end"]), row["start"], row["end"]
    line = _first_match_line(row["marked"]) if row["marked"] else None
    if line is not None:
        first, last, before = line
        lines, start, end = (lines[0] + before,) * 2, start + first, start + last
    span = Span(
        path=row["path"],
        document=Path(row["path"]).name,
        page=row["page"],
        page_label=row["page_label"],
        line_start=lines[0],
        line_end=lines[1],
        start=start,
        end=end,
    )
    return SearchHit(
        doc_id=row["doc_id"],
        passage_id=row["passage_id"],
        title=row["title"],
        kind=row["kind"],
        score=row["score"],
        snippet=row["snippet"],
        span=span,
    )
