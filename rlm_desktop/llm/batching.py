"""Continuous batching with llama.cpp's low-level API: many prompts, one decode per step.

Each prompt is a sequence (its own ``seq_id``, positions and sampler) in a context with
``n_seq_max`` slots and a unified KV cache. Every step, one ``llama_decode`` advances all
live sequences; a sequence that finishes frees its KV cells at once and a waiting prompt
takes its slot, so sequences join and leave independently.
"""

from __future__ import annotations

import ctypes
import threading
import time
from collections import deque
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

from rlm_desktop.llm.base import Completion, GenerationSettings, ModelError, Usage

MAX_SEQUENCES = 16


@dataclass
class _Sequence:
    index: int  # position of the prompt in the caller's list
    slot: int  # seq_id
    prompt: list[int]
    max_tokens: int
    sampler: object
    started: float
    pos: int = 0
    out: bytearray = field(default_factory=bytearray)
    generated: int = 0
    last: int = -1
    first_token_s: float = 0.0
    finish: str = ""


class BatchDecoder:
    """A second llama.cpp context on an already loaded model, for batched sub-calls."""

    def __init__(self, llm, n_ctx: int, n_threads: int, n_seq_max: int = MAX_SEQUENCES) -> None:
        """``n_ctx``: the window each sequence may use, and the size of the shared KV pool."""
        import llama_cpp

        self.lc = llama_cpp
        self.llm = llm
        self.n_seq_max = n_seq_max
        self.vocab = llama_cpp.llama_model_get_vocab(llm.model)
        params = llama_cpp.llama_context_default_params()
        # One pool of KV cells shared by all sequences (kv_unified): short sub-calls use
        # little, so many fit where a per-sequence split would waste most of it. Admission
        # reserves each sequence's prompt + max_tokens, so the pool never overflows.
        self.n_ctx = params.n_ctx = n_ctx
        # A step may carry whole prompts: n_batch spans the context, llama.cpp splits it
        # into ubatches; only one logits row per sequence is ever asked for.
        params.n_batch = self.n_ctx
        params.n_ubatch = 512
        params.n_seq_max = n_seq_max
        if hasattr(params, "n_outputs_max"):
            params.n_outputs_max = n_seq_max
        # Measured here (llama.cpp in llama-cpp-python 0.3.36, CPU): flash attention over a
        # unified KV cache shifts the logits of a sequence by up to 0.8 when other sequences
        # share the batch; without it, batched logits equal single-sequence ones exactly.
        params.flash_attn_type = llama_cpp.LLAMA_FLASH_ATTN_TYPE_DISABLED
        params.kv_unified = True
        params.n_threads = params.n_threads_batch = n_threads
        params.no_perf = True
        self.ctx = llama_cpp.llama_init_from_model(llm.model, params)
        if not self.ctx:
            raise ModelError("llama.cpp could not create a context for batched decoding")
        self.memory = llama_cpp.llama_get_memory(self.ctx)
        self.batch = llama_cpp.llama_batch_init(params.n_batch, 0, n_seq_max)
        self.n_batch = params.n_batch
        self._piece = ctypes.create_string_buffer(256)

    def close(self) -> None:
        """Free the context and the batch."""
        if self.ctx:
            self.lc.llama_batch_free(self.batch)
            self.lc.llama_free(self.ctx)
            self.ctx = None

    # ------------------------------------------------------------------ helpers

    def _sampler(self, settings: GenerationSettings, seed: int):
        lc = self.lc
        chain = lc.llama_sampler_chain_init(lc.llama_sampler_chain_default_params())
        if settings.temperature <= 0:
            lc.llama_sampler_chain_add(chain, lc.llama_sampler_init_greedy())
        else:
            lc.llama_sampler_chain_add(chain, lc.llama_sampler_init_top_p(settings.top_p, 1))
            lc.llama_sampler_chain_add(chain, lc.llama_sampler_init_temp(settings.temperature))
            lc.llama_sampler_chain_add(chain, lc.llama_sampler_init_dist(seed))
        return chain

    def _piece_of(self, token: int) -> bytes:
        n = self.lc.llama_token_to_piece(self.vocab, token, self._piece, 256, 0, False)
        return self._piece.raw[: max(n, 0)]

    def _add(self, token: int, pos: int, slot: int, logits: bool) -> int:
        b = self.batch
        i = b.n_tokens
        b.token[i] = token
        b.pos[i] = pos
        b.n_seq_id[i] = 1
        b.seq_id[i][0] = slot
        b.logits[i] = logits
        b.n_tokens = i + 1
        return i

    # ------------------------------------------------------------------ decoding

    def run(
        self,
        prompts: Sequence[list[int]],
        settings: GenerationSettings,
        stops: Sequence[str],
        cancel: threading.Event | None,
        fit: Callable[[int, int, int], int],
    ) -> list[Completion]:
        """Generate an answer for every prompt; results in the prompts' order."""
        lc = self.lc
        lc.llama_memory_clear(self.memory, True)
        waiting = deque(
            (i, p, fit(len(p), settings.max_tokens, self.n_ctx)) for i, p in enumerate(prompts)
        )
        free = deque(range(self.n_seq_max))
        live: dict[int, _Sequence] = {}
        reserved = 0  # KV cells promised to live sequences (prompt + answer)
        results: list[Completion | None] = [None] * len(prompts)
        while waiting or live:
            cancelled = cancel is not None and cancel.is_set()
            self.batch.n_tokens = 0
            outputs: dict[int, int] = {}  # slot -> index in the batch of its logits row
            for seq in live.values():
                outputs[seq.slot] = self._add(seq.last, seq.pos, seq.slot, True)
                seq.pos += 1
            # Admit waiting prompts while there are free slots and room in this batch.
            while waiting and free and not cancelled:
                index, prompt, max_tokens = waiting[0]
                need = len(prompt) + max_tokens
                if live and (
                    reserved + need > self.n_ctx or self.batch.n_tokens + len(prompt) > self.n_batch
                ):
                    break  # wait until a sequence leaves
                waiting.popleft()
                reserved += need
                slot = free.popleft()
                seq = _Sequence(
                    index,
                    slot,
                    prompt,
                    max_tokens,
                    self._sampler(settings, settings.seed + index),
                    time.perf_counter(),
                )
                live[slot] = seq
                outputs[slot] = self._prefill(seq)
            if cancelled:
                for seq in live.values():
                    seq.finish = "cancelled"
                    self._finish(seq, results, free, stops)
                live.clear()
                for index, prompt, _ in waiting:
                    results[index] = Completion("", Usage(prompt_tokens=len(prompt)), "cancelled")
                break
            if self.batch.n_tokens and lc.llama_decode(self.ctx, self.batch) != 0:
                raise ModelError("llama.cpp failed to decode a batch (out of KV cache space?)")
            for slot, row in outputs.items():
                seq = live[slot]
                token = lc.llama_sampler_sample(seq.sampler, self.ctx, row)
                if not seq.generated:
                    seq.first_token_s = time.perf_counter() - seq.started
                seq.generated += 1
                if lc.llama_vocab_is_eog(self.vocab, token):
                    seq.finish = "stop"
                else:
                    seq.out += self._piece_of(token)
                    seq.last = token
                    if _hit_stop(seq, stops):
                        seq.finish = "stop"
                    elif seq.generated >= seq.max_tokens:
                        seq.finish = "length"
                if seq.finish:
                    self._finish(seq, results, free, stops)
                    reserved -= len(seq.prompt) + seq.max_tokens
                    del live[slot]
        return [r for r in results if r is not None]

    def _prefill(self, seq: _Sequence) -> int:
        """Queue a prompt's tokens; only the last one asks for logits."""
        row = -1
        for token in seq.prompt:
            row = self._add(token, seq.pos, seq.slot, False)
            seq.pos += 1
        self.batch.logits[row] = True
        return row

    def _finish(self, seq: _Sequence, results: list, free: deque, stops: Sequence[str]) -> None:
        self.lc.llama_memory_seq_rm(self.memory, seq.slot, -1, -1)
        self.lc.llama_sampler_free(seq.sampler)
        free.append(seq.slot)
        text = seq.out.decode("utf-8", "replace")
        for stop in (s for s in stops if s in text):
            text = text[: text.index(stop)]
        usage = Usage(
            prompt_tokens=len(seq.prompt),
            completion_tokens=seq.generated,
            time_to_first_token_s=seq.first_token_s,
            total_s=time.perf_counter() - seq.started,
        )
        results[seq.index] = Completion(text, usage, seq.finish)


def _hit_stop(seq: _Sequence, stops: Sequence[str]) -> bool:
    if not stops:
        return False
    tail = seq.out[-64:].decode("utf-8", "ignore")
    return any(stop in tail for stop in stops)
