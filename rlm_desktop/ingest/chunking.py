"""Cut a stream of blocks into passages that tile the document text exactly."""

from __future__ import annotations

import dataclasses
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


def normalise_line_ends(blocks: Iterable[Block]) -> Iterator[Block]:
    r"""Yield the blocks with Windows ("\r\n") and old Mac (lone "\r") line ends as "\n".

    Every extractor's text reaches the store through ``chunk_blocks``, which calls this
    first, so offsets, line numbers and passage texts are all counted on the text as it is
    stored: a line quoted without its "\r" is found where it is, and code that splits the
    text on "\n" gets no stray "\r". A log is decoded a megabyte at a time, so a "\r\n"
    may be cut between two blocks: the "\r" ending one block has already become "\n", and
    a "\n" opening the next block of the same page is the rest of that one break.
    """
    after_cr = False  # the last non-empty block of this page ended in "\r"
    place: tuple[int | None, str | None] = (None, None)
    for block in blocks:
        text = block.text
        if (block.page, block.page_label) != place:
            # A page ending in "\r" and the next opening with "\n" are two breaks, not one.
            place, after_cr = (block.page, block.page_label), False
        if after_cr and text.startswith("\n"):
            text, after_cr = text[1:], False
        if text:
            after_cr = text.endswith("\r")
        if "\r" in text:
            text = text.replace("\r\n", "\n").replace("\r", "\n")
        yield block if text is block.text else dataclasses.replace(block, text=text)


def chunk_blocks(
    blocks: Iterable[Block],
    target: int = TARGET_CHARS,
    hard_max: int = MAX_CHARS,
    *,
    ordinal: int = 0,
    offset: int = 0,
    line: int = 1,
) -> Iterator[Passage]:
    r"""Yield passages of about ``target`` characters ending at line breaks.

    Passages never span two pages, never exceed ``hard_max`` characters, and their
    texts concatenated in order are exactly the blocks' texts concatenated, once every
    "\r\n" and lone "\r" in them is a "\n" (see ``normalise_line_ends``). The first is
    numbered ``ordinal`` and placed at ``offset`` and ``line``: text appended to a stored
    document continues its numbering.
    """
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

    for block in normalise_line_ends(blocks):
        if (block.page, block.page_label) != (page, label):
            while (end := _cut(buf, pos, True, target, hard_max)) != -1:
                yield emit(end)
            page, label = block.page, block.page_label
        buf, pos = buf[pos:] + block.text, 0
        while (end := _cut(buf, pos, False, target, hard_max)) != -1:
            yield emit(end)
    while (end := _cut(buf, pos, True, target, hard_max)) != -1:
        yield emit(end)
