"""The user's custom tools: Python helper functions from a file, offered in every REPL.

The app never runs the file: here it is only parsed, for its syntax and for what the system
prompt says of each function (signature and docstring). The REPL child runs it, confined like
any cell, and a file that fails there stops the run before it starts.
"""

from __future__ import annotations

import ast
from dataclasses import dataclass
from pathlib import Path

from rlm_desktop.errors import RlmDesktopError

# The description of a docstring-less or long-winded tool is kept to this much in the prompt.
_DOC_CHARS = 600


class ToolsError(RlmDesktopError):
    """A custom tools file that cannot be read, parsed or loaded."""


@dataclass(frozen=True)
class Tool:
    """One function of the tools file, as the model is told of it."""

    name: str
    signature: str  # "count_words(text: str) -> int"
    doc: str


@dataclass(frozen=True)
class Tools:
    """A tools file's source and the public functions it defines."""

    path: str
    source: str
    functions: tuple[Tool, ...]

    def prompt(self) -> str:
        """The system prompt's section on the tools."""
        lines = ["## Custom tools", "These functions are also defined in the REPL:"]
        for tool in self.functions:
            lines.append(f"- `{tool.signature}`" + (f": {tool.doc}" if tool.doc else ""))
        return "\n".join(lines)


def load_tools(path: str | Path) -> Tools:
    """Read and parse a tools file; a clear ToolsError when it is unusable."""
    path = Path(path).expanduser()
    try:
        source = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise ToolsError(f"cannot read the custom tools file {path}: {exc.strerror}") from exc
    except UnicodeDecodeError as exc:
        raise ToolsError(f"the custom tools file {path} is not UTF-8 text") from exc
    return parse_tools(source, str(path))


def parse_tools(source: str, path: str = "<tools>") -> Tools:
    """The public top-level functions of a tools file's source (never executed here)."""
    try:
        tree = ast.parse(source, path)
    except SyntaxError as exc:
        raise ToolsError(
            f"the custom tools file {path} has a syntax error on line {exc.lineno}: {exc.msg}"
        ) from exc
    functions = tuple(
        Tool(node.name, _signature(node), _doc(node))
        for node in tree.body
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef))
        and not node.name.startswith("_")
    )
    if not functions:
        raise ToolsError(f"the custom tools file {path} defines no public function")
    return Tools(path, source, functions)


def _signature(node: ast.FunctionDef | ast.AsyncFunctionDef) -> str:
    returns = f" -> {ast.unparse(node.returns)}" if node.returns is not None else ""
    return f"{node.name}({ast.unparse(node.args)}){returns}"


def _doc(node: ast.FunctionDef | ast.AsyncFunctionDef) -> str:
    doc = " ".join((ast.get_docstring(node) or "").split())
    return doc if len(doc) <= _DOC_CHARS else doc[: _DOC_CHARS - 1] + "…"
