"""The SQLite document library."""

from rlm_desktop.store.library import Document, DocumentMeta, Library, LibraryError
from rlm_desktop.store.search import SearchHit

__all__ = ["Document", "DocumentMeta", "Library", "LibraryError", "SearchHit"]
