"""Cut a stream of blocks into passages that tile the document text exactly."""

from __future__ import annotations

from collections.abc import Iterable, Iterator

from rlm_desktop.ingest.extraction import Block, Passage

TARGET_CHARS = 1200
MAX_CHARS = 4000


def _cut(buf: str, pos: int, final: bool, target: int, hard_max: int) -> int:
    """Return where the passage starting at ``pos`` ends, or -1 to wait for more text."""
    remaining = len(buf) - pos
    if remaining <= 0:
        return -1
    newline = buf.find("\n", pos + target - 1, pos + hard_max)
    if newline != -1:
        return newline + 1
    if remaining >= hard_max:
        # One very long line: break at the last space before the limit if there is one.
        space = buf.rfind(" ", pos + target // 2, pos + hard_max)
        return space + 1 if space != -1 else pos + hard_max
    return len(buf) if final else -1


def chunk_blocks(
    blocks: Iterable[Block], target: int = TARGET_CHARS, hard_max: int = MAX_CHARS
) -> Iterator[Passage]:
    """Yield passages of about ``target`` characters ending at line breaks.

    Passages never span two pages, never exceed ``hard_max`` characters, and their
    texts concatenated in order are exactly the blocks' texts concatenated.
    """
    ordinal = 0
    offset = 0  # document offset of buf[pos]
    line = 1  # line number at buf[pos]
    buf, pos = "", 0
    page: int | None = None
    label: str | None = None

    def emit(end: int) -> Passage:
        nonlocal ordinal, offset, line, pos
        text = buf[pos:end]
        newlines = text.count("\n")
        last_line = line + newlines - (1 if text.endswith("\n") else 0)
        passage = Passage(ordinal, text, offset, offset + len(text), line, last_line, page, label)
        ordinal += 1
        offset += len(text)
        line += newlines
        pos = end
        return passage

    for block in blocks:
        if (block.page, block.page_label) != (page, label):
            while (end := _cut(buf, pos, True, target, hard_max)) != -1:
                yield emit(end)
            page, label = block.page, block.page_label
        buf, pos = buf[pos:] + block.text, 0
        while (end := _cut(buf, pos, False, target, hard_max)) != -1:
            yield emit(end)
    while (end := _cut(buf, pos, True, target, hard_max)) != -1:
        yield emit(end)
