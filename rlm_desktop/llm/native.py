"""llama.cpp's C API, wrapped just enough: a loaded model with its vocabulary, and a context
(a KV cache of cells shared by sequences) with its batch. Policy lives in ``batching.py``.

Verified with llama-cpp-python 0.3.36 (the ``llama_memory_*`` family, ``flash_attn_type``,
``kv_unified``, ``llama_state_seq_*``). One hazard shapes this file: a ``llama_decode`` of more
tokens than the context's ``n_batch`` aborts the whole process (a C assertion), so ``decode``
refuses such a batch in Python first.
"""

from __future__ import annotations

import ctypes
import logging
import threading
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import llama_cpp as lc
import numpy as np

from rlm_desktop.llm.base import ModelError

log = logging.getLogger(__name__)

_ready = threading.Lock()
_state: dict[str, object] = {}

# A decode that found no free KV cells returns this; nothing was changed.
NO_KV_SLOT = 1


def _init_backend() -> None:
    """Start llama.cpp once and send its log lines to our logger (debug), not the console."""
    with _ready:
        if _state:
            return
        lc.llama_backend_init()

        @lc.llama_log_callback
        def forward(level, text, user_data):
            log.debug("llama.cpp: %s", text.decode("utf-8", "replace").rstrip())

        _state["log"] = forward  # keep a reference: the C side holds only a pointer
        lc.llama_log_set(forward, ctypes.c_void_p())


def gpu_offload_supported() -> bool:
    """True when this llama.cpp build has a GPU backend."""
    _init_backend()
    return bool(lc.llama_supports_gpu_offload())


class NativeModel:
    """Weights loaded once; any number of contexts share them."""

    def __init__(self, path: str | Path, n_gpu_layers: int) -> None:
        _init_backend()
        params = lc.llama_model_default_params()
        params.n_gpu_layers = 0x7FFFFFFF if n_gpu_layers < 0 else n_gpu_layers  # all layers
        self.ptr = lc.llama_model_load_from_file(str(path).encode("utf-8"), params)
        if not self.ptr:
            raise ValueError("llama_model_load_from_file returned NULL")
        self.vocab = lc.llama_model_get_vocab(self.ptr)
        self.n_vocab = int(lc.llama_vocab_n_tokens(self.vocab))
        self.n_layer = int(lc.llama_model_n_layer(self.ptr))
        self._pieces: dict[int, bytes] = {}

    def tokenize(self, text: str, add_special: bool) -> list[int]:
        """Tokens of ``text``; special tokens written in it (``<|im_start|>``) are parsed."""
        if not self.ptr:  # the vocabulary went with the weights: llama.cpp would abort
            raise ModelError("the model was closed")
        data = text.encode("utf-8")
        room = len(data) + 16
        buffer = (lc.llama_token * room)()
        n = lc.llama_tokenize(self.vocab, data, len(data), buffer, room, add_special, True)
        if n < 0:
            room = -n
            buffer = (lc.llama_token * room)()
            n = lc.llama_tokenize(self.vocab, data, len(data), buffer, room, add_special, True)
        return list(buffer[:n])

    def piece(self, token: int) -> bytes:
        """The bytes a generated token stands for (special tokens render as nothing)."""
        cached = self._pieces.get(token)
        if cached is None:  # two decode loops may ask at once: a buffer per call
            buffer = ctypes.create_string_buffer(256)
            n = lc.llama_token_to_piece(self.vocab, token, buffer, 256, 0, False)
            cached = self._pieces[token] = buffer.raw[: max(n, 0)]
        return cached

    def token_text(self, token: int) -> str:
        """A token's text in the vocabulary (for the chat template's BOS/EOS)."""
        text = lc.llama_vocab_get_text(self.vocab, token)
        return text.decode("utf-8", "replace") if text else ""

    def is_end(self, token: int) -> bool:
        """True for end-of-generation tokens."""
        return bool(lc.llama_vocab_is_eog(self.vocab, token))

    @property
    def bos(self) -> int:
        return int(lc.llama_vocab_bos(self.vocab))

    @property
    def eos(self) -> int:
        return int(lc.llama_vocab_eos(self.vocab))

    def load_lora(self, path: str | Path) -> Any:
        """Load a LoRA adapter for these weights (freed with them); apply it per context."""
        adapter = lc.llama_adapter_lora_init(self.ptr, str(path).encode("utf-8"))
        if not adapter:
            raise ValueError("llama_adapter_lora_init returned NULL")
        return adapter

    def close(self) -> None:
        """Free the weights (every context on them must be closed first)."""
        if self.ptr:
            lc.llama_model_free(self.ptr)
            self.ptr = None


class NativeContext:
    """A context on a loaded model: ``n_ctx`` KV cells shared by up to ``n_seq`` sequences.

    The cache is unified (any sequence may use any cell), so one long sequence can use the
    whole context and short ones pack tightly. Only the thread that decodes may touch it.
    """

    def __init__(
        self,
        model: NativeModel,
        *,
        n_ctx: int,
        n_seq: int,
        threads: int,
        threads_batch: int,
        flash_attn: bool,
        kv_type: int | None = None,
        n_batch: int = 512,
    ) -> None:
        params = lc.llama_context_default_params()
        params.n_ctx = n_ctx
        params.n_batch = params.n_ubatch = n_batch
        params.n_seq_max = n_seq
        if hasattr(params, "n_outputs_max"):
            params.n_outputs_max = max(n_seq, 1)  # one logits row per sequence and step
        params.kv_unified = True
        params.flash_attn_type = (
            lc.LLAMA_FLASH_ATTN_TYPE_AUTO if flash_attn else lc.LLAMA_FLASH_ATTN_TYPE_DISABLED
        )
        if kv_type is not None:
            params.type_k = params.type_v = kv_type
        # llama.cpp uses n_threads for one-token steps and n_threads_batch for the others.
        params.n_threads = threads
        params.n_threads_batch = threads_batch
        params.no_perf = True
        self.model = model
        self.ptr = lc.llama_init_from_model(model.ptr, params)
        if not self.ptr:
            raise MemoryError(f"llama.cpp could not create a context of {n_ctx:,} tokens")
        self.memory = lc.llama_get_memory(self.ptr)
        self.n_ctx = int(lc.llama_n_ctx(self.ptr))
        self.n_batch = int(lc.llama_n_batch(self.ptr))
        self.n_seq = n_seq
        self._batch = lc.llama_batch_init(self.n_batch, 0, 1)

    def use_lora(self, adapter: Any, scale: float = 1.0) -> None:
        """Apply a loaded LoRA adapter to every decode of this context."""
        adapters = (lc.llama_adapter_lora_p_ctypes * 1)(adapter)
        scales = (ctypes.c_float * 1)(scale)
        if lc.llama_set_adapters_lora(self.ptr, adapters, 1, scales) != 0:
            raise ValueError("llama_set_adapters_lora failed")

    # ------------------------------------------------------------------ decoding

    def decode(self, entries: Sequence[tuple[int, int, int, bool]]) -> int:
        """Decode ``(token, position, sequence, wants_logits)`` entries in one step.

        Returns llama.cpp's status: 0, or NO_KV_SLOT when the cache had no room (nothing
        changed then). Logits are read by an entry's index in ``entries``.
        """
        if len(entries) > self.n_batch:
            raise ValueError(f"{len(entries)} tokens in one step; the context takes {self.n_batch}")
        batch = self._batch
        for i, (token, pos, seq, logits) in enumerate(entries):
            batch.token[i] = token
            batch.pos[i] = pos
            batch.n_seq_id[i] = 1
            batch.seq_id[i][0] = seq
            batch.logits[i] = logits
        batch.n_tokens = len(entries)
        return int(lc.llama_decode(self.ptr, batch))

    def logits(self, index: int) -> np.ndarray:
        """The logits of entry ``index`` of the last decode (a view: copy to keep)."""
        pointer = lc.llama_get_logits_ith(self.ptr, index)
        return np.ctypeslib.as_array(pointer, shape=(self.model.n_vocab,))

    def set_threads(self, threads: int, threads_batch: int) -> None:
        """Change the thread counts for the next decodes."""
        lc.llama_set_n_threads(self.ptr, threads, threads_batch)

    # ------------------------------------------------------------------ cells

    def remove(self, seq: int, start: int = 0) -> None:
        """Free a sequence's cells from position ``start`` on."""
        lc.llama_memory_seq_rm(self.memory, seq, start, -1)

    def copy(self, source: int, target: int, end: int) -> None:
        """Give ``target`` the cells of ``source``'s first ``end`` positions (shared cells)."""
        lc.llama_memory_seq_cp(self.memory, source, target, 0, end)

    def clear(self) -> None:
        """Empty the whole cache."""
        lc.llama_memory_clear(self.memory, True)

    def save(self, seq: int, path: Path, tokens: Sequence[int]) -> bool:
        """Write a sequence's cells (and the tokens they hold) to a file."""
        array = (lc.llama_token * len(tokens))(*tokens)
        written = lc.llama_state_seq_save_file(
            self.ptr, str(path).encode("utf-8"), seq, array, len(tokens)
        )
        return written > 0

    def load(self, seq: int, path: Path, capacity: int) -> list[int] | None:
        """Read a saved sequence into ``seq``; its tokens, or None when the file does not fit."""
        array = (lc.llama_token * capacity)()
        count = ctypes.c_size_t(0)
        read = lc.llama_state_seq_load_file(
            self.ptr, str(path).encode("utf-8"), seq, array, capacity, ctypes.byref(count)
        )
        if read == 0:
            self.remove(seq)
            return None
        return list(array[: count.value])

    def close(self) -> None:
        """Free the cache and the batch."""
        if self.ptr:
            lc.llama_batch_free(self._batch)
            lc.llama_free(self.ptr)
            self.ptr = None


class Sampler:
    """Chooses each next token of one sequence: greedy, or top-p with a temperature, under an
    optional GBNF grammar."""

    def __init__(
        self,
        model: NativeModel,
        *,
        temperature: float,
        top_p: float,
        seed: int,
        grammar: str | None = None,
    ) -> None:
        self.chain = None
        if temperature <= 0 and grammar is None:
            return  # greedy: an argmax over the logits, no chain needed
        chain = lc.llama_sampler_chain_init(lc.llama_sampler_chain_default_params())
        if grammar is not None:
            rule = lc.llama_sampler_init_grammar(model.vocab, grammar.encode("utf-8"), b"root")
            if not rule:
                lc.llama_sampler_free(chain)
                raise ValueError("llama.cpp could not parse the grammar")
            lc.llama_sampler_chain_add(chain, rule)
        if temperature <= 0:
            lc.llama_sampler_chain_add(chain, lc.llama_sampler_init_greedy())
        else:
            lc.llama_sampler_chain_add(chain, lc.llama_sampler_init_top_p(top_p, 1))
            lc.llama_sampler_chain_add(chain, lc.llama_sampler_init_temp(temperature))
            lc.llama_sampler_chain_add(chain, lc.llama_sampler_init_dist(seed))
        self.chain = chain

    def sample(self, context: NativeContext, index: int) -> int:
        """The next token from the logits of entry ``index`` of the last decode."""
        if self.chain is None:
            return int(context.logits(index).argmax())
        return int(lc.llama_sampler_sample(self.chain, context.ptr, index))

    def close(self) -> None:
        """Free the chain."""
        if self.chain is not None:
            lc.llama_sampler_free(self.chain)
            self.chain = None


def kv_type_code(name: str) -> int | None:
    """llama.cpp's code for a KV-cache type name (f16, q8_0, q4_0); None when unknown."""
    code = getattr(lc, f"GGML_TYPE_{name.upper()}", None)
    return int(code) if code is not None else None
