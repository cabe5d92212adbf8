"""Showing text that comes from files (names, paths, reasons, snippets) without obeying it.

A file name can hold terminal escapes, a newline or a right-to-left override; shown raw, it
can retitle the terminal, forge a line of output or disguise itself. ``printable`` shows such
characters as escapes instead. Standard library only: the REPL child imports this.
"""

from __future__ import annotations

import re
import unicodedata

# Control characters (C0, DEL, C1), invisible format characters (bidi marks and overrides,
# zero-width space, BOM, tag characters), line/paragraph separators, and lone surrogates
# (undecodable bytes of a file name).
_HIDDEN_CATEGORIES = frozenset({"Cc", "Cf", "Zl", "Zp", "Cs"})
# Zero-width (non-)joiners shape emoji sequences and Persian or Indic words: they stay.
_JOINERS = frozenset("\u200c\u200d")
_ESCAPE = re.compile(r"x[0-9a-fA-F]{2}|u[0-9a-fA-F]{4}|U[0-9a-fA-F]{8}")


def _hidden(char: str) -> bool:
    return unicodedata.category(char) in _HIDDEN_CATEGORIES and char not in _JOINERS


def _escape(char: str) -> str:
    code = ord(char)
    if code < 0x100:
        return f"\\x{code:02x}"
    return f"\\u{code:04x}" if code < 0x10000 else f"\\U{code:08x}"


def printable(text: str, *, multiline: bool = False) -> str:
    """``text`` with control and invisible format characters shown as escapes (``\\x1b``).

    A name stays on one line (a newline shows as ``\\x0a``); with ``multiline`` (document
    text), newlines and tabs stay. In a name, a backslash is written ``\\x5c`` only where it
    would read as an escape, so a shown name means exactly one name and Windows paths stay
    as they are; document text keeps its backslashes, so quotes read as written.
    """
    if text.isprintable() and (multiline or "\\" not in text):
        return text  # the common case: nothing to escape
    kept = "\n\t" if multiline else ""
    out: list[str] = []
    for i, char in enumerate(text):
        if char in kept:
            out.append(char)
        elif _hidden(char) or (char == "\\" and not multiline and _ESCAPE.match(text, i + 1)):
            out.append(_escape(char))
        else:
            out.append(char)
    return "".join(out)
