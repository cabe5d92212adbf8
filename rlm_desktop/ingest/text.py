"""Text and log files, plain or gzip-compressed, decoded as a stream in bounded memory."""

from __future__ import annotations

import codecs
import gzip
import zlib
from collections.abc import Iterator
from pathlib import Path
from typing import BinaryIO, cast

from rlm_desktop.ingest.extraction import Block, Extraction, ExtractionError, clean_text

READ_BYTES = 1024 * 1024
_SAMPLE_BYTES = 4 * 1024 * 1024
_BOM_ENCODINGS = (
    (codecs.BOM_UTF8, "utf-8-sig"),
    (codecs.BOM_UTF32_LE, "utf-32"),
    (codecs.BOM_UTF32_BE, "utf-32"),
    (codecs.BOM_UTF16_LE, "utf-16"),
    (codecs.BOM_UTF16_BE, "utf-16"),
)


def guess_encoding(sample: bytes) -> str:
    """Pick an encoding from a leading sample: BOM, then UTF-8, then Windows-1252, Latin-1."""
    for bom, encoding in _BOM_ENCODINGS:
        if sample.startswith(bom):
            return encoding
    for encoding in ("utf-8", "cp1252"):
        try:
            # final=False: the sample may end in the middle of a multi-byte character.
            codecs.getincrementaldecoder(encoding)().decode(sample, final=False)
            return encoding
        except UnicodeDecodeError:
            continue
    return "latin-1"


def _open(path: Path, compressed: bool) -> BinaryIO:
    if compressed:
        return cast(BinaryIO, gzip.open(path, "rb"))
    return open(path, "rb")


def _read_error(exc: Exception, compressed: bool) -> ExtractionError:
    if compressed:
        return ExtractionError(f"corrupt or truncated compressed file: {exc}")
    return ExtractionError(f"cannot read the file: {exc}")


def extract_text(path: Path, *, compressed: bool = False) -> Extraction:
    """Describe a text file; its blocks are read lazily, one megabyte at a time."""
    try:
        with _open(path, compressed) as handle:
            sample = handle.read(_SAMPLE_BYTES)
    except (OSError, EOFError, zlib.error) as exc:
        raise _read_error(exc, compressed) from exc
    encoding = guess_encoding(sample)
    extraction = Extraction(kind="text", title=path.name, blocks=[], encoding=encoding)
    if encoding not in ("utf-8", "utf-8-sig"):
        extraction.warnings.append(f"not UTF-8: decoded as {encoding}")
    extraction.blocks = _blocks(path, compressed, encoding, extraction.warnings)
    return extraction


def tail_blocks(path: Path, start: int, encoding: str, warnings: list[str]) -> Iterator[Block]:
    """The blocks of a plain text file from byte ``start`` on (a log's appended lines),
    read like ``extract_text``'s; a problem found is added to ``warnings``."""
    return _blocks(path, False, encoding, warnings, start)


def _blocks(
    path: Path, compressed: bool, encoding: str, warnings: list[str], start: int = 0
) -> Iterator[Block]:
    decoder = codecs.getincrementaldecoder(encoding)(errors="replace")
    replaced = 0
    try:
        with _open(path, compressed) as handle:
            handle.seek(start)
            while True:
                raw = handle.read(READ_BYTES)
                text = decoder.decode(raw, final=not raw)
                if text:
                    # Line ends are left as decoded: the chunker makes them "\n", and it
                    # sees a "\r\n" cut between two reads as the one break it is.
                    replaced += text.count("\ufffd")
                    yield Block(clean_text(text))
                if not raw:
                    break
    except (OSError, EOFError, zlib.error) as exc:
        raise _read_error(exc, compressed) from exc
    if replaced:
        warnings.append(f"{replaced} undecodable character(s) shown as \ufffd ({encoding})")
