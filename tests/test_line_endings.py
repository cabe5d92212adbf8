r"""Windows ("\r\n") and old Mac ("\r") line ends are stored as "\n" whatever the file used.

Editors count a "\r\n" or a lone "\r" as one line break; the library must count lines the
same way, so that a line quoted from the text (without its "\r") has the line number an
editor shows, and code that splits the text on "\n" gets clean lines.
"""

from __future__ import annotations

import gzip

import pytest

from rlm_desktop.ingest import chunking, pipeline, text
from rlm_desktop.ingest.chunking import chunk_blocks, normalise_line_ends
from rlm_desktop.ingest.extraction import EXTRACTOR_VERSION, Block
from tests.conftest import passages_tile


def _log_lines(count: int, needle_at: int) -> list[str]:
    """Log lines long enough that the document is cut into several passages; the line
    numbered ``needle_at`` (1-based) holds the one word searched for."""
    lines = [
        f"2026-01-01 00:{i // 60:02d}:{i % 60:02d} INFO worker {i} heartbeat ok"
        for i in range(count)
    ]
    lines[needle_at - 1] = "2026-01-01 01:00:00 ERROR disk quota exceeded on volume zanzibar"
    return lines


def _ingest(library, path):
    report = pipeline.ingest(library, [path])
    assert [o.status for o in report.files] == ["added"]
    doc = library.document_by_path(str(path))
    assert doc is not None
    return doc


def _line_of_search_hit(library, word: str) -> int:
    """The line number the library reports for ``word``: the hit's first line plus the
    line breaks before the word inside the hit's span."""
    hits = library.search(word)
    assert len(hits) == 1
    span = hits[0].span
    inside = library.document_text(hits[0].doc_id)[span.start : span.end]
    line = span.line_start + inside[: inside.index(word)].count("\n")
    assert span.line_start <= line <= span.line_end
    return line


def _assert_stored_as_lines(library, doc, lines: list[str]) -> None:
    stored = library.document_text(doc.id)
    assert "\r" not in stored
    assert stored == "".join(line + "\n" for line in lines)
    assert doc.lines == len(lines)
    assert doc.chars == len(stored)
    assert passages_tile(library, doc.id)


@pytest.mark.parametrize(
    "name, ends",
    [
        ("windows.log", ["\r\n"]),
        ("old-mac.log", ["\r"]),
        ("mixed.log", ["\r\n", "\r", "\n", "\r\n", "\n", "\r"]),
    ],
)
def test_line_ends_are_stored_as_newlines_with_editor_line_numbers(library, tmp_path, name, ends):
    lines = _log_lines(300, needle_at=217)
    lines[40] = ""  # a blank line is a line too
    raw = "".join(line + ends[i % len(ends)] for i, line in enumerate(lines))
    path = tmp_path / name
    path.write_bytes(raw.encode("utf-8"))
    doc = _ingest(library, path)
    _assert_stored_as_lines(library, doc, lines)
    assert _line_of_search_hit(library, "zanzibar") == 217
    assert library.document_text(doc.id).split("\n")[216] == lines[216]


def test_blank_lines_made_of_carriage_returns_are_kept(library, tmp_path):
    # "\r\r\n" is a lone "\r" then a "\r\n": two breaks, so an empty line between.
    path = tmp_path / "gaps.log"
    path.write_bytes(b"first\r\r\nthird\n\rfifth zanzibar\r")
    doc = _ingest(library, path)
    _assert_stored_as_lines(library, doc, ["first", "", "third", "", "fifth zanzibar"])
    assert _line_of_search_hit(library, "zanzibar") == 5


def _straddling_log() -> tuple[bytes, list[str]]:
    r"""An ASCII log read in three blocks of ``READ_BYTES``, and its lines.

    The first read ends in the "\r" of a "\r\n" whose "\n" opens the second read (on the
    line with "zanzibar"); the second read ends in a lone "\r", and the line after it
    (with "carriage") opens the third.
    """
    size = text.READ_BYTES
    line = "2026-01-01 12:00:00 INFO request served in 12 ms"
    head = "2026-01-01 12:00:00 WARN zanzibar straddles the boundary "
    first = [line] * ((size - 200) // (len(line) + 2))
    first.append(head + "." * (size - 1 - sum(len(s) + 2 for s in first) - len(head)))
    raw = "".join(s + "\r\n" for s in first)
    second = ["2026-01-01 12:00:01 ERROR first line of the second read kilimanjaro"]
    second += [line] * ((size - 200) // (len(line) + 2))
    body = "".join(s + "\r\n" for s in second)
    tail = "2026-01-01 12:00:01 WARN padded to end the second read "
    second.append(tail + "." * (2 * size - 1 - len(raw) - len(body) - len(tail)))
    raw += body + second[-1] + "\r"
    third = ["2026-01-01 12:00:02 INFO after the lone carriage return", "the end"]
    raw += "".join(s + "\n" for s in third)
    return raw.encode("ascii"), first + second + third


@pytest.mark.parametrize("compressed", [False, True], ids=["plain", "gzip"])
def test_a_crlf_cut_between_two_reads_is_one_line_break(library, tmp_path, compressed):
    raw, lines = _straddling_log()
    path = tmp_path / ("big.log.gz" if compressed else "big.log")
    # A plain file this size is read by a worker (inline for a single file) and a compressed
    # one is streamed by the writer; both are decoded in blocks of READ_BYTES.
    path.write_bytes(gzip.compress(raw, compresslevel=1) if compressed else raw)
    reads = [block.text for block in text.extract_text(path, compressed=compressed).blocks]
    assert len(reads) == 3
    assert reads[0].endswith("\r") and reads[1].startswith("\n") and reads[1].endswith("\r")
    doc = _ingest(library, path)
    _assert_stored_as_lines(library, doc, lines)
    straddling = lines.index(next(s for s in lines if "zanzibar" in s)) + 1
    assert _line_of_search_hit(library, "zanzibar") == straddling
    assert _line_of_search_hit(library, "kilimanjaro") == straddling + 1
    assert _line_of_search_hit(library, "carriage") == len(lines) - 1


def test_files_stored_with_carriage_returns_by_the_old_extractor_are_read_again(
    library, tmp_path, monkeypatch
):
    path = tmp_path / "windows.log"
    lines = _log_lines(100, needle_at=64)
    path.write_bytes("".join(line + "\r\n" for line in lines).encode("utf-8"))
    with monkeypatch.context() as old:
        # The extractor as it was: line ends kept, and its version number recorded.
        old.setattr(pipeline, "EXTRACTOR_VERSION", EXTRACTOR_VERSION - 1)
        old.setattr(chunking, "normalise_line_ends", lambda blocks: blocks)
        before = _ingest(library, path)
    assert before.extractor_version == EXTRACTOR_VERSION - 1
    assert "\r\n" in library.document_text(before.id)
    report = pipeline.rescan(library)
    assert [(o.path, o.status) for o in report.files] == [(str(path), "updated")]
    after = library.document_by_path(str(path))
    assert after is not None and after.extractor_version == EXTRACTOR_VERSION
    _assert_stored_as_lines(library, after, lines)
    assert _line_of_search_hit(library, "zanzibar") == 64
    assert [o.status for o in pipeline.rescan(library).files] == ["unchanged"]


@pytest.mark.parametrize(
    "pieces, expected",
    [
        (["a\r", "\nb"], "a\nb"),  # a "\r\n" cut in two
        (["a\r", "b"], "a\nb"),  # a lone "\r" ending a block
        (["a\r", "", "\nb"], "a\nb"),  # an empty block between the halves
        (["a\r", "\n", "\nb"], "a\n\nb"),  # the second "\n" is a line break of its own
        (["a\r\r", "\n\r"], "a\n\n\n"),
    ],
)
def test_blocks_are_normalised_across_their_boundaries(pieces, expected):
    blocks = [Block(piece) for piece in pieces]
    assert "".join(b.text for b in normalise_line_ends(blocks)) == expected
    assert "".join(p.text for p in chunk_blocks(blocks, target=2, hard_max=4)) == expected


def test_a_carriage_return_ending_a_page_is_not_joined_to_the_next_page():
    blocks = [Block("one\r", page=1), Block("\ntwo\n", page=2)]
    assert [(b.text, b.page) for b in normalise_line_ends(blocks)] == [
        ("one\n", 1),
        ("\ntwo\n", 2),
    ]
