"""Walk files and folders the user added: recursive, hidden entries skipped, loop-safe."""

from __future__ import annotations

import logging
import os
from collections.abc import Iterable, Iterator
from pathlib import Path

log = logging.getLogger(__name__)


def is_hidden(name: str) -> bool:
    """True for dot-files and dot-folders."""
    return name.startswith(".")


def is_under(path: str, root: str) -> bool:
    """True when ``path`` is ``root`` or inside it."""
    return path == root or path.startswith(root.rstrip(os.sep) + os.sep)


def scan(roots: Iterable[Path]) -> Iterator[Path]:
    """Yield each regular file under the roots once, as a resolved absolute path.

    A file named directly is taken even if hidden; inside folders, hidden files and
    folders are skipped. Symbolic links are followed, but a folder reached twice (a link
    loop, or two links to one place) is walked once.
    """
    seen_dirs: set[tuple[int, int]] = set()
    seen_files: set[str] = set()
    for root in roots:
        if root.is_dir():
            files: Iterable[str] = _walk(str(root), seen_dirs)
        elif root.is_file():
            files = [os.path.realpath(root)]
        else:
            continue
        for path in files:
            if path not in seen_files:
                seen_files.add(path)
                yield Path(path)


def _walk(root: str, seen_dirs: set[tuple[int, int]]) -> Iterator[str]:
    """Depth-first, sorted, with one stat per folder; files come out as real paths."""
    stack = [root]
    while stack:
        folder = stack.pop()
        try:
            info = os.stat(folder)
            entries = sorted(os.scandir(folder), key=lambda e: e.name)
        except OSError as exc:
            log.warning("cannot list %s: %s", folder, exc.strerror)
            continue
        key = (info.st_dev, info.st_ino)
        if key in seen_dirs:
            continue
        seen_dirs.add(key)
        real_folder = os.path.realpath(folder)
        subfolders = []
        for entry in entries:
            if is_hidden(entry.name):
                continue
            try:
                if entry.is_dir():
                    subfolders.append(entry.path)
                elif entry.is_file():
                    if entry.is_symlink():
                        yield os.path.realpath(entry.path)
                    else:
                        yield os.path.join(real_folder, entry.name)
            except OSError:
                continue
        stack.extend(reversed(subfolders))
