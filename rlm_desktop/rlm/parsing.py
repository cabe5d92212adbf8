"""Reading a root-model reply: its code blocks, and a FINAL(...) / FINAL_VAR(...) outside them.

Robust where the paper's parser was brittle: nested parentheses and quotes inside the
answer, multi-line answers, FINAL mentioned inside code (ignored here: code runs in the
REPL, where FINAL is a function), and FINAL inside a model's reasoning block.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

_FENCE = re.compile(r"```[ \t]*(repl|python|py)?[ \t]*\n(.*?)(?:```|\Z)", re.DOTALL | re.I)
_THINK = re.compile(r"<think>.*?(?:</think>|\Z)", re.DOTALL | re.I)
_FINAL = re.compile(r"^[ \t>*_`#-]*(FINAL_VAR|FINAL)\s*\(", re.MULTILINE)


@dataclass(frozen=True)
class Final:
    """A final answer found in the reply text: ``FINAL(answer)`` or ``FINAL_VAR(name)``."""

    kind: str  # "FINAL" or "FINAL_VAR"
    argument: str


def code_blocks(reply: str) -> list[str]:
    """The code of every ```repl / ```python block, in order (an unclosed last block counts)."""
    blocks = []
    for match in _FENCE.finditer(_THINK.sub("", reply)):
        language, code = match.group(1), match.group(2)
        if language is None and not _looks_like_python(code):
            continue  # a fence around plain text, not code
        if code.strip():
            blocks.append(code.rstrip() + "\n")
    return blocks


def _looks_like_python(code: str) -> bool:
    return bool(re.search(r"\b(print|context|llm_query|FINAL|import|=)\b|\(", code))


def prose(reply: str) -> str:
    """The reply without code blocks or reasoning blocks."""
    return _FENCE.sub("", _THINK.sub("", reply))


def find_final(reply: str) -> Final | None:
    """A FINAL(...) or FINAL_VAR(...) at the start of a line of prose, with balanced parens."""
    text = prose(reply)
    for match in _FINAL.finditer(text):
        argument = _balanced(text, match.end())
        if argument is not None:
            return Final(match.group(1).upper(), _unquote(argument.strip()))
    return None


def after_final(reply: str) -> str:
    """The prose from the FINAL(...) line on, where [n] "quote" lines may follow."""
    text = prose(reply)
    index = text.rfind("FINAL")
    return text[index:] if index != -1 else ""


def _balanced(text: str, start: int) -> str | None:
    """The text up to the parenthesis closing the one just before ``start``.

    Quotes are honoured, so ``FINAL("a (b")`` works; if the closing parenthesis never comes
    (a model that forgot it), everything to the end is taken.
    """
    depth, i, quote = 1, start, ""
    while i < len(text):
        char = text[i]
        if quote:
            if char == "\\":
                i += 1
            elif text.startswith(quote, i):
                i += len(quote) - 1
                quote = ""
        elif text.startswith(('"""', "'''"), i):
            quote = text[i : i + 3]
            i += 2
        elif char in "\"'":
            quote = char
        elif char == "(":
            depth += 1
        elif char == ")":
            depth -= 1
            if depth == 0:
                return text[start:i]
        i += 1
    return text[start:].rstrip() or None


def _unquote(argument: str) -> str:
    """Strip one level of matching string quotes, as a model writing FINAL("...") means."""
    for quote in ('"""', "'''", '"', "'"):
        if (
            len(argument) >= 2 * len(quote)
            and argument.startswith(quote)
            and argument.endswith(quote)
        ):
            inner = argument[len(quote) : -len(quote)]
            return inner.replace("\\" + quote[0], quote[0]).replace("\\n", "\n")
    return argument
