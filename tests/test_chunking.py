import random

from rlm_desktop.ingest.chunking import chunk_blocks
from rlm_desktop.ingest.extraction import Block


def _lines(n: int, seed: int = 0) -> str:
    rng = random.Random(seed)
    return "".join("x" * rng.randrange(0, 200) + "\n" for _ in range(n))


def test_passages_tile_the_text_with_correct_offsets_and_lines():
    text = _lines(2000)
    passages = list(chunk_blocks([Block(text)]))
    assert "".join(p.text for p in passages) == text
    for p in passages:
        assert text[p.start : p.end] == p.text
        assert p.line_start == text.count("\n", 0, p.start) + 1
        last_char = p.end - 1
        assert p.line_end == text.count("\n", 0, last_char) + 1
    assert [p.ordinal for p in passages] == list(range(len(passages)))


def test_passages_end_at_line_breaks_and_respect_size_limits():
    text = _lines(3000, seed=1)
    passages = list(chunk_blocks([Block(text)], target=1000, hard_max=3000))
    assert all(p.text.endswith("\n") for p in passages)
    assert all(len(p.text) <= 3000 for p in passages)
    assert all(len(p.text) >= 1000 for p in passages[:-1])


def test_how_text_arrives_in_blocks_does_not_change_the_passages():
    text = _lines(1500, seed=2)
    whole = list(chunk_blocks([Block(text)]))
    rng = random.Random(3)
    cuts = sorted(rng.sample(range(1, len(text)), 40))
    pieces = [text[a:b] for a, b in zip([0, *cuts], [*cuts, len(text)], strict=True)]
    assert list(chunk_blocks(Block(piece) for piece in pieces)) == whole


def test_a_giant_line_is_cut_at_spaces_within_the_hard_limit():
    line = " ".join(["word"] * 5000) + "\n"
    passages = list(chunk_blocks([Block(line)], target=1000, hard_max=4000))
    assert "".join(p.text for p in passages) == line
    assert all(len(p.text) <= 4000 for p in passages)
    assert all(p.text.endswith(" ") for p in passages[:-1])
    assert {p.line_start for p in passages} == {1}


def test_passages_never_span_two_pages():
    blocks = [Block(f"page {n} text\n" * 30 + "\n", page=n, page_label=str(n)) for n in (1, 2, 3)]
    passages = list(chunk_blocks(blocks, target=100, hard_max=400))
    for p in passages:
        assert p.text.strip().startswith(f"page {p.page} ")
        assert f"page {p.page} " in p.text
        assert all(f"page {other} " not in p.text for other in (1, 2, 3) if other != p.page)
    assert {p.page for p in passages} == {1, 2, 3}
    assert "".join(p.text for p in passages) == "".join(b.text for b in blocks)


def test_a_short_page_still_becomes_its_own_passage():
    blocks = [Block("\n", page=1), Block("only text\n\n", page=2)]
    passages = list(chunk_blocks(blocks))
    assert [(p.page, p.text) for p in passages] == [(1, "\n"), (2, "only text\n\n")]
    assert passages[1].line_start == 2
