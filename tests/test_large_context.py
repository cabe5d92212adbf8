"""The large ``context`` (the snapshot mapped from disk) answers like the ``str`` it stands for."""

from __future__ import annotations

import random
import re

import pytest

from rlm_desktop.sandbox import mapped
from rlm_desktop.sandbox.large import LargeContext, LargeContextError
from rlm_desktop.sandbox.mapped import MappedText, TextWriter

_WORDS = ["error", "ok", "é", "中文", "日志", "🙂", "naïve", "\r\n", "\n", " ", "ERROR", "x", "ab"]


def _text(seed: int, chars: int) -> str:
    """Log-like text with multi-byte characters everywhere (across checkpoint boundaries)."""
    rng = random.Random(seed)
    parts, size = [], 0
    while size < chars:
        word = rng.choice(_WORDS)
        parts.append(word)
        size += len(word)
    return "".join(parts)


def _mapped(tmp_path, text: str, writes: int = 7) -> MappedText:
    """``text`` written in uneven pieces, then mapped."""
    text_path, table_path = tmp_path / "t.txt", tmp_path / "t.chars"
    with open(text_path, "wb") as handle:
        writer = TextWriter(handle)
        cuts = sorted(random.Random(1).sample(range(len(text)), writes))
        for a, b in zip([0, *cuts], [*cuts, len(text)], strict=True):
            writer.write(text[a:b])
    table_path.write_bytes(writer.checkpoints())
    return MappedText(str(text_path), str(table_path), len(text))


@pytest.fixture(params=[False, True], ids=["big-windows", "small-windows"])
def windows(request, monkeypatch):
    """Scans in the default windows, and in windows so small that every scan crosses many."""
    if request.param:
        monkeypatch.setattr(mapped, "SCAN_BYTES", 997)


def test_offsets_slices_and_searches_match_str(tmp_path, windows):
    text = _text(3, 30_000)
    large = LargeContext(_mapped(tmp_path, text))
    rng = random.Random(7)
    n = len(text)
    assert len(large) == n
    for _ in range(300):
        a, b = rng.randint(-n - 5, n + 5), rng.randint(-n - 5, n + 5)
        step = rng.choice([None, 1, 2, 3, -1, -2, 7])
        assert large[a:b:step] == text[a:b:step], (a, b, step)
        i = rng.randrange(-n, n)
        assert large[i] == text[i]
        start = text[rng.randrange(n) :]
        needle = start[: rng.randint(0, 6)] if rng.random() < 0.8 else rng.choice(_WORDS)
        s, e = rng.choice([None, rng.randint(-n, n)]), rng.choice([None, rng.randint(-n, n + 3)])
        assert large.find(needle, s, e) == text.find(needle, s, e), (needle, s, e)
        assert large.rfind(needle, s, e) == text.rfind(needle, s, e), (needle, s, e)
        assert large.count(needle, s, e) == text.count(needle, s, e), (needle, s, e)
        assert large.startswith(needle, s, e) == text.startswith(needle, s, e)
        assert large.endswith(needle, s, e) == text.endswith(needle, s, e)
        assert (needle in large) == (needle in text)
    assert large.count("aa") == text.count("aa")  # a needle whose matches could overlap
    assert large.startswith(("zz", text[:3])) and large.endswith(("zz", text[-2:]))
    with pytest.raises(ValueError):
        large.index("not in the text")
    assert large.rindex("中文") == text.rindex("中文")


def test_lines_iterate_like_splitlines(tmp_path, windows):
    text = _text(5, 20_000) + "\rlast line without an end"
    large = LargeContext(_mapped(tmp_path, text))
    assert list(large.splitlines()) == text.splitlines()
    assert list(large.splitlines(keepends=True)) == text.splitlines(keepends=True)
    lines = large.splitlines()
    assert len(lines) == len(text.splitlines())
    assert lines[3] == text.splitlines()[3] and lines[-1] == text.splitlines()[-1]
    assert lines[2:9:3] == text.splitlines()[2:9:3]
    assert "".join(large) == text


def test_finditer_findall_and_grep_offsets_are_in_context(tmp_path, windows):
    text = "head\n" + _text(9, 20_000) + "\nthe needle 中文 line\n" + _text(10, 5_000)
    large = LargeContext(_mapped(tmp_path, text))
    for pattern in [r"needle", r"中文", r"e\w+r", r"🙂+", r"^ok"]:
        expected = [m.span() for m in re.finditer(pattern, text, re.MULTILINE)]
        assert [m.span() for m in large.finditer(pattern, re.MULTILINE)] == expected
        assert large.findall(pattern, re.MULTILINE) == re.findall(pattern, text, re.MULTILINE)
    found = large.finditer("needle")
    match = next(found)
    assert text[match.start() : match.end()] == match.group() == "needle"


def test_operations_that_copy_everything_raise_a_clear_error(tmp_path, monkeypatch):
    from rlm_desktop.sandbox import large as large_module

    text = _text(11, 5_000)
    large = LargeContext(_mapped(tmp_path, text))
    for attempt in [str, lambda c: c.split(), lambda c: c.lower(), lambda c: f"{c}"]:
        with pytest.raises(LargeContextError, match="splitlines"):
            attempt(large)
    monkeypatch.setattr(large_module, "SLICE_CAP", 1000)
    with pytest.raises(LargeContextError, match="slice of 5,000 characters"):
        large[:]
    assert large[:1000] == text[:1000]
    assert "large library" in repr(large)
    assert large == text and large != text + "x"
