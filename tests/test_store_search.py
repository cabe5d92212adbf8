import pytest

from rlm_desktop.errors import UsageError
from rlm_desktop.ingest.extraction import EXTRACTOR_VERSION, Passage
from rlm_desktop.store import DocumentMeta, Library
from rlm_desktop.store.search import build_fts_query


def _add(lib: Library, path: str, lines: list[str], page: int | None = None):
    meta = DocumentMeta(path, "text", 1, 1, "0" * 64, path, EXTRACTOR_VERSION)
    passages, offset = [], 0
    for ordinal, line in enumerate(lines):
        text = line + "\n"
        passages.append(
            Passage(ordinal, text, offset, offset + len(text), ordinal + 1, ordinal + 1, page)
        )
        offset += len(text)
    return lib.write_document(meta, passages)


def test_library_is_a_wal_sqlite_file_with_named_migrations(tmp_path):
    with Library(tmp_path / "lib") as lib:
        assert lib.path == (tmp_path / "lib" / "library.db").resolve()
        assert lib.db.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
        applied = [r[0] for r in lib.db.execute("SELECT name FROM _sqlite_migrations")]
        assert applied == [
            "001_documents_passages_fts",
            "002_library_revision",
            "003_runs",
            "004_incremental_vacuum",
            "005_run_outcome",
            "006_ocr",
            "007_run_title_scope",
            "008_run_profile",
            "009_packed_passages",
        ]
    with Library(tmp_path / "lib") as again:
        assert again.db.execute("SELECT count(*) FROM _sqlite_migrations").fetchone()[0] == 9


def test_the_text_around_a_passage_is_read_without_the_rest(tmp_path):
    with Library(tmp_path / "lib") as lib:
        doc = _add(lib, "/big.log", [f"line {n}" for n in range(1, 5001)])
        whole = lib.document_text(doc.id)
        start = whole.index("line 2500\n")
        text, offset, first_line = lib.text_around(doc.id, start, start + 9, margin=200)
        assert text == whole[offset : offset + len(text)] and len(text) < 600
        assert text[start - offset :].startswith("line 2500")
        assert whole[offset:].startswith(f"line {first_line}\n")
        assert lib.text_around(doc.id, 0, 5, margin=10)[1:] == (0, 1)
        assert [d.path for d in lib.documents_in(["/big.log", "/elsewhere"])] == ["/big.log"]


def test_the_revision_changes_with_the_readable_documents_only(library):
    def revision():
        return library.db.execute("SELECT value FROM library_state").fetchone()[0]

    start = revision()
    doc = _add(library, "/a.log", ["first"])
    after_add = revision()
    assert after_add > start
    library.touch(doc.id, 123)
    assert revision() == after_add
    library.remove_documents([doc.id])
    assert revision() > after_add


def test_words_match_with_or_and_rank_by_bm25(library):
    _add(library, "/a.log", ["disk full on node7", "unrelated chatter"])
    _add(library, "/b.log", ["disk disk disk failure", "more chatter"])
    _add(library, "/c.log", ["network flapping"])
    hits = library.search("disk", k=10)
    assert [h.path for h in hits] == ["/b.log", "/a.log"]
    assert hits[0].score > hits[1].score
    either = library.search("disk network", k=10)
    assert {h.path for h in either} == {"/a.log", "/b.log", "/c.log"}


def test_quotes_match_an_exact_phrase(library):
    _add(library, "/a.log", ["connection reset by peer"])
    _add(library, "/b.log", ["peer reset the connection"])
    assert [h.path for h in library.search('"connection reset"')] == ["/a.log"]
    assert {h.path for h in library.search("connection reset")} == {"/a.log", "/b.log"}


def test_hits_carry_exact_location_and_a_snippet(library):
    doc = _add(library, "/x.log", ["first line", "second line mentions zebra", "third"])
    (hit,) = library.search("zebra")
    assert (hit.line_start, hit.line_end, hit.page) == (2, 2, None)
    text = library.document_text(doc.id)
    assert text[hit.start : hit.end] == "second line mentions zebra\n"
    assert "zebra" in hit.plain_snippet()
    assert set(hit.to_json()) >= {
        "path",
        "page",
        "line_start",
        "line_end",
        "start",
        "end",
        "score",
        "snippet",
    }


def test_search_is_stemmed_and_ignores_punctuation(library):
    _add(library, "/x.log", ["three errors were logged", "user_id=42 failed"])
    assert library.search("error")
    assert library.search("failed!!! (user_id)")


def test_queries_without_words_are_refused():
    with pytest.raises(UsageError):
        build_fts_query('  "" ** ')
    # Common words are dropped from unquoted queries (bm25 gains nothing from them) unless
    # they are all there is; FTS5 operators typed as words are quoted, never interpreted.
    assert build_fts_query('alpha "beta gamma" AND NOT') == '"beta gamma" OR "alpha" OR "NOT"'
    assert build_fts_query("the who") == '"the" OR "who"'


def test_replacing_a_document_swaps_its_passages_in_one_step(library):
    first = _add(library, "/doc.log", ["old words here"])
    second = _add(library, "/doc.log", ["new words here"])
    assert [d.id for d in library.documents()] == [second.id]
    assert library.search("old") == []
    assert list(library.passages(first.id)) == []


def test_a_half_written_document_is_invisible_and_discarded(library):
    meta = DocumentMeta("/p.log", "text", 1, 1, None, "p", EXTRACTOR_VERSION)

    def passages_then_crash():
        yield Passage(0, "visible? no\n", 0, 12, 1, 1)
        raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        library.write_document(meta, passages_then_crash())
    assert library.documents() == []
    assert library.search("visible") == []
    assert library.db.execute("SELECT count(*) FROM passages").fetchone()[0] == 0


def test_many_threads_opening_a_new_library_at_once_all_succeed(tmp_path):
    import threading

    errors = []

    def open_it():
        try:
            with Library(tmp_path / "shared") as lib:
                lib.documents()
        except Exception as exc:  # collected for the assertion
            errors.append(exc)

    threads = [threading.Thread(target=open_it) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
