"""Counting tokens as the model under test does, so "a 32K-token task" means 32K of its tokens.

A local GGUF model (``demo`` or a ``.gguf`` path) is counted by its own tokenizer, loaded
alone (vocabulary only, no weights). Other models (scripted, replay, remote) have no local
tokenizer: their lengths are estimated at four characters a token, and the report says so.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator
from pathlib import Path

from rlm_desktop.llm.spec import demo_model_path, parse_spec

CHARS_PER_TOKEN = 4
_SLICE = 1 << 20  # characters tokenized at a time, cut at a line break


class Tokenizer:
    """Counts tokens of text; ``name`` says whose tokens they are."""

    name = f"estimate: {CHARS_PER_TOKEN} characters a token"

    def count(self, text: str) -> int:
        """Tokens in ``text``."""
        return (len(text) + CHARS_PER_TOKEN - 1) // CHARS_PER_TOKEN

    def count_all(self, texts: list[str]) -> int:
        """Tokens in several texts (documents) together."""
        return sum(self.count(t) for t in texts)

    def close(self) -> None:
        """Release what the tokenizer holds."""


class GGUFTokenizer(Tokenizer):
    """A GGUF model's own tokenizer (llama.cpp, vocabulary only)."""

    def __init__(self, path: Path) -> None:
        import llama_cpp

        self._llama = llama_cpp
        params = llama_cpp.llama_model_default_params()
        params.vocab_only = True
        with _quiet_stderr():  # llama.cpp prints the model's metadata while loading
            llama_cpp.llama_backend_init()
            self._model = llama_cpp.llama_model_load_from_file(str(path).encode(), params)
        if not self._model:
            raise ValueError(f"llama.cpp could not read the vocabulary of {path.name}")
        self._vocab = llama_cpp.llama_model_get_vocab(self._model)
        self.name = f"{path.name} (its own tokenizer)"

    def count(self, text: str) -> int:
        total = 0
        start = 0
        while start < len(text):
            end = min(len(text), start + _SLICE)
            if end < len(text):
                end = text.rfind("\n", start, end) + 1 or end
            data = text[start:end].encode("utf-8")
            # With no room for tokens, llama_tokenize returns minus the count it needs.
            total += -self._llama.llama_tokenize(
                self._vocab, data, len(data), None, 0, False, False
            )
            start = end
        return total

    def close(self) -> None:
        if self._model:
            self._llama.llama_model_free(self._model)
            self._model = None


def tokenizer_for(spec: str) -> Tokenizer:
    """The tokenizer of a model spec ("scripted" and non-local models: the estimate)."""
    if spec == "scripted":
        return Tokenizer()
    parsed = parse_spec(spec)
    if parsed.kind == "demo":
        return GGUFTokenizer(demo_model_path())
    if parsed.kind == "gguf":
        return GGUFTokenizer(Path(parsed.value))
    return Tokenizer()


@contextlib.contextmanager
def _quiet_stderr() -> Iterator[None]:
    """Silence file descriptor 2 (C libraries write to it directly) for a moment."""
    saved = os.dup(2)
    try:
        with open(os.devnull, "wb") as null:
            os.dup2(null.fileno(), 2)
            yield
    finally:
        os.dup2(saved, 2)
        os.close(saved)
