"""The SQLite document library.

The names below are imported on first use: the REPL child imports only ``store.reader``
(standard library alone), and must not pay for loading ``sqlite_utils`` on every start.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from rlm_desktop.store.documents import Document, DocumentMeta, LibraryError
    from rlm_desktop.store.library import Library
    from rlm_desktop.store.reader import LibraryReader
    from rlm_desktop.store.search import SearchHit

_HOMES = {
    "Document": "documents",
    "DocumentMeta": "documents",
    "LibraryError": "documents",
    "Library": "library",
    "LibraryReader": "reader",
    "SearchHit": "search",
}

__all__ = ["Document", "DocumentMeta", "Library", "LibraryError", "LibraryReader", "SearchHit"]


def __getattr__(name: str) -> Any:
    """Import a public name from its module when it is first asked for."""
    if name not in _HOMES:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    return getattr(importlib.import_module(f"{__name__}.{_HOMES[name]}"), name)
