"""How a passage's text is kept: compressed, and read back through one SQL function.

Standard library only: the REPL child reads passages through ``store.reader``. Logs shrink
to about a third when compressed, which keeps a library of gigabytes of them near the size
of the text itself (the full-text index holds the rest). Passages written before migration
008 stay as they were, plain text; the function reads both.
"""

from __future__ import annotations

import sqlite3
import zlib

# The SQL function every query that reads a passage's text goes through: passage_text(text).
TEXT_FUNCTION = "passage_text"
# Level 1: most of the saving at a fraction of the time of the default level.
_LEVEL = 1


def pack(text: str) -> bytes:
    """A passage's text as stored."""
    return zlib.compress(text.encode("utf-8"), _LEVEL)


def unpack(stored: str | bytes | None) -> str | None:
    """A passage's text from what is stored: compressed bytes, or plain text (older rows)."""
    if isinstance(stored, bytes):
        return zlib.decompress(stored).decode("utf-8")
    return stored


def register(conn: sqlite3.Connection) -> None:
    """Teach a connection the SQL function that reads passages' text (and the index's)."""
    conn.create_function(TEXT_FUNCTION, 1, unpack, deterministic=True)
