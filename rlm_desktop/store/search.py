"""Full-text search over passages: what a person types becomes an FTS5 query ranked by bm25."""

from __future__ import annotations

import re
import sqlite3
from dataclasses import asdict, dataclass

from rlm_desktop.errors import UsageError

_PHRASE = re.compile(r'"([^"]*)"')
_WORD = re.compile(r"\w+", re.UNICODE)
_SNIPPET_TOKENS = 24
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
class SearchHit:
    """One passage found by a search, with its exact place in its document."""

    doc_id: int
    path: str
    title: str
    kind: str
    passage_id: int
    page: int | None
    page_label: str | None
    line_start: int
    line_end: int
    start: int
    end: int
    score: float
    snippet: str

    def plain_snippet(self) -> str:
        """The snippet without match markers."""
        return self.snippet.replace(HIT_START, "").replace(HIT_END, "")

    def to_json(self) -> dict:
        """The public JSON shape used by ``search --json`` (page null for non-PDF)."""
        data = asdict(self)
        data["snippet"] = self.plain_snippet()
        return data


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
    """Return up to ``k`` passages of finished documents matching ``query``, best first."""
    if k < 1:
        raise UsageError("k must be at least 1")
    rows = conn.execute(
        f"""
        SELECT d.id AS doc_id, d.path, d.title, d.kind, p.id AS passage_id, p.page,
               p.page_label, p.line_start, p.line_end, p.start, p."end",
               -bm25(passages_fts) AS score,
               snippet(passages_fts, 0, '{HIT_START}', '{HIT_END}', '…', {_SNIPPET_TOKENS})
                   AS snippet
        FROM passages_fts
        JOIN passages p ON p.id = passages_fts.rowid
        JOIN documents d ON d.id = p.doc_id
        WHERE passages_fts MATCH ? AND d.status IN ('ok', 'warnings')
        ORDER BY bm25(passages_fts)
        LIMIT ?
        """,
        (build_fts_query(query), k),
    ).fetchall()
    return [SearchHit(**dict(row)) for row in rows]
