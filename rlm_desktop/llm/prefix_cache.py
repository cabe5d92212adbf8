"""The KV state of prompt beginnings (a system prompt) saved on disk, so that the first turn of
every run starts warm: loading a state takes milliseconds where evaluating it took seconds.

A file is named by a hash of the model's identity (file, size, date, cache layout) and the
tokens it holds, so another model, another cache type or another prompt version never reads
it. A file that does not load (written by another llama.cpp, damaged) is deleted.
"""

from __future__ import annotations

import hashlib
import logging
import os
from collections.abc import Sequence
from pathlib import Path

from rlm_desktop.llm.native import NativeContext

log = logging.getLogger(__name__)

KEPT_FILES = 16  # the newest states are kept; older ones are deleted


class PrefixStore:
    """Saved states of token prefixes for one model and cache layout, in ``folder``."""

    def __init__(self, folder: Path, identity: str) -> None:
        self.folder = folder
        self.identity = identity

    def path(self, tokens: Sequence[int]) -> Path:
        """The file for these tokens."""
        digest = hashlib.sha256(self.identity.encode("utf-8"))
        digest.update(",".join(map(str, tokens)).encode("ascii"))
        return self.folder / f"{digest.hexdigest()[:40]}.kv"

    def has(self, tokens: Sequence[int]) -> bool:
        """True when a state of these tokens was saved."""
        return self.path(tokens).exists()

    def load(self, context: NativeContext, seq: int, tokens: Sequence[int]) -> bool:
        """Fill ``seq`` (emptied first) with the saved state of ``tokens``; False if none."""
        path = self.path(tokens)
        if not path.exists():
            return False
        context.remove(seq)
        loaded = context.load(seq, path, len(tokens))
        if loaded == list(tokens):
            return True
        log.info("dropping a saved prompt state that does not load: %s", path.name)
        context.remove(seq)
        path.unlink(missing_ok=True)
        return False

    def save(self, context: NativeContext, seq: int, tokens: Sequence[int]) -> None:
        """Save ``seq``'s cells, which hold exactly ``tokens`` (a failure is only logged)."""
        path = self.path(tokens)
        temporary = path.with_suffix(f".{os.getpid()}.tmp")
        try:
            self.folder.mkdir(parents=True, exist_ok=True)
            if context.save(seq, temporary, tokens):
                os.replace(temporary, path)
            self._prune()
        except OSError as exc:
            log.info("could not save a prompt state: %s", exc)
        finally:
            temporary.unlink(missing_ok=True)

    def _prune(self) -> None:
        files = sorted(self.folder.glob("*.kv"), key=lambda p: p.stat().st_mtime, reverse=True)
        for old in files[KEPT_FILES:]:
            old.unlink(missing_ok=True)


def model_identity(path: Path, *parts: object) -> str:
    """What a saved state depends on: the model file (size and date stand for its content)
    and the given cache settings."""
    stat = path.stat()
    return "|".join(map(str, (path.resolve(), stat.st_size, stat.st_mtime_ns, *parts)))
