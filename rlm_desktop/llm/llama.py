"""Local GGUF models through llama.cpp (llama-cpp-python's C API).

One loaded model serves the root loop and sub-calls from two contexts that share its
weights (a context costs only its KV cache):

- the *root context* keeps each conversation in a sequence of its own (``conversations.py``):
  a turn evaluates only its new tokens, however many sub-calls ran since the last one, a
  child RLM gets a sequence of its own, and the system prompt's state is saved on disk so
  the first turn of every run starts warm;
- the *sub-call context* decodes every sub-call through one continuous-batching loop
  (``batching.py``): ``sub_slots`` sequences sharing ``sub_ctx`` cells.

Measured here before choosing (``benchmarks/kv_layouts.py``): one context holding the root
in sequence 0 and sub-calls in the others decodes sub-calls slower, because each of their
steps attends over the root's cells too.
"""

from __future__ import annotations

import dataclasses
import queue
import threading
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import Any

from rlm_desktop.llm import hardware
from rlm_desktop.llm.base import (
    Backend,
    Capacity,
    Completion,
    ContextOverflowError,
    GenerationSettings,
    Message,
    ModelError,
    Usage,
    failed_alone,
)
from rlm_desktop.llm.batching import ANSWER_RESERVE, Request, Scheduler, common_prefix
from rlm_desktop.llm.conversations import Conversations
from rlm_desktop.llm.fit import check_loadable, estimate_memory, planned_context, system_memory
from rlm_desktop.llm.gguf import GGUFInfo, read_gguf
from rlm_desktop.llm.native import (
    NativeContext,
    NativeModel,
    gpu_offload_supported,
    kv_type_code,
)
from rlm_desktop.llm.prefix_cache import PrefixStore, model_identity
from rlm_desktop.paths import data_dir

# Room the prompt must leave for the answer before we refuse it; beyond that, max_tokens is
# lowered to what fits (and the answer ends with finish_reason "length").
MIN_ANSWER_TOKENS = 64
# Conversations the root context keeps at once: the root, the children one
# rlm_query_batched runs together (4), a compacted restart. They share the context's cells.
ROOT_SEQUENCES = 6
DEFAULT_SUB_SLOTS = 8


class LlamaCppBackend(Backend):
    """A GGUF model loaded once; callers on any thread (the decode loops serialise)."""

    serial = False

    def __init__(
        self,
        path: str | Path,
        *,
        n_ctx: int = 0,
        n_threads: int = 0,
        n_gpu_layers: int = -1,
        flash_attn: bool = True,
        kv_type: str | None = None,
        sub_slots: int = DEFAULT_SUB_SLOTS,
        sub_ctx: int = 0,
        spec: str | None = None,
        lora: str | Path | None = None,
    ) -> None:
        """``n_ctx``: the root's window (0: the trained one, capped); ``sub_ctx``: the cells
        the ``sub_slots`` sub-call sequences share (0: as many as ``n_ctx``); ``lora``: a
        GGUF LoRA adapter applied to every context of the model."""
        super().__init__()
        from llama_cpp.llama_chat_format import Jinja2ChatFormatter

        self.info: GGUFInfo = read_gguf(path)
        if self.info.is_projector:
            raise ModelError(
                f"{Path(path).name} is a vision projector (mmproj), a companion file of a "
                "model, not a model: choose the model's own .gguf file"
            )
        self.spec = spec or self.info.path
        self.n_ctx = planned_context(self.info, n_ctx)
        # One context is the least it needs; refuse before llama.cpp takes the memory.
        estimate = estimate_memory(self.info, self.n_ctx, kv_type or "", contexts=1)
        memory = system_memory(n_gpu_layers)
        check_loadable(self.info, estimate, memory)
        self._thread_setting = n_threads
        self.n_threads, self.n_threads_batch = hardware.threads(n_threads)
        self.n_gpu_layers = hardware.gpu_layers(
            n_gpu_layers,
            self.info.block_count,
            estimate_memory(self.info, self.n_ctx, kv_type or ""),
            memory,
            gpu_offload_supported(),
        )
        kv_code = None
        if kv_type:
            kv_code = kv_type_code(kv_type)
            if kv_code is None:
                raise ModelError(f"unknown KV-cache type {kv_type!r} (try f16, q8_0, q4_0)")
            flash_attn = True  # a quantized V cache needs flash attention
        self.flash_attn, self.kv_type, self._kv_code = flash_attn, kv_type or "f16", kv_code
        try:
            self.model = NativeModel(self.info.path, self.n_gpu_layers)
        except ValueError as exc:
            raise ModelError(
                f"llama.cpp could not load {Path(self.info.path).name} ({exc}): the file may be "
                "damaged or made for a newer llama.cpp; download it again or choose another model"
            ) from exc
        self.lora = str(lora) if lora else ""
        self._adapter = _load_lora(self.model, self.lora, self.info) if self.lora else None
        self._formatter = Jinja2ChatFormatter(
            template=self.info.chat_template or _FALLBACK_TEMPLATE,
            eos_token=self.model.token_text(self.model.eos),
            bos_token=self.model.token_text(self.model.bos),
        )
        self.sub_slots = max(1, sub_slots)
        self.sub_pool = max(sub_ctx or self.n_ctx, 256)
        self.root_context = self._context(self.n_ctx, ROOT_SEQUENCES)
        store = PrefixStore(
            data_dir() / "cache" / "prompt-states",
            model_identity(Path(self.info.path), self.n_ctx, self.kv_type, flash_attn, self.lora),
        )
        self.conversations = Conversations(ROOT_SEQUENCES, store)
        self.root = Scheduler(
            self.root_context,
            self.model,
            on_full=lambda: self.conversations.evict(self.root_context),
            threads=self._threads,
        )
        self._sub: Scheduler | None = None
        self._sub_lock = threading.Lock()
        self._prefixes: dict[str, int] = {}
        self._overhead = len(self.prompt_tokens([{"role": "user", "content": ""}])[0])

    def _context(self, n_ctx: int, n_seq: int) -> NativeContext:
        try:
            context = NativeContext(
                self.model,
                n_ctx=n_ctx,
                n_seq=n_seq,
                threads=self.n_threads,
                threads_batch=self.n_threads_batch,
                flash_attn=self.flash_attn,
                kv_type=self._kv_code,
            )
        except MemoryError as exc:
            raise ModelError(
                f"{exc}: lower the context size in Settings, or use kv_type q8_0"
            ) from exc
        if self._adapter is not None:  # the root's context and the sub-calls' alike
            context.use_lora(self._adapter)
        return context

    @property
    def subcalls(self) -> Scheduler:
        """The sub-call loop and its context, made on first use."""
        with self._sub_lock:
            if self._sub is None:
                context = self._context(self.sub_pool, self.sub_slots)
                self._sub = Scheduler(
                    context,
                    self.model,
                    slots=range(self.sub_slots),
                    pool=context.n_ctx,
                    threads=self._threads,
                )
            return self._sub

    def _threads(self) -> tuple[int, int]:
        """Threads for the next run of a decode loop (the setting, or what is free now)."""
        self.n_threads, self.n_threads_batch = hardware.threads(self._thread_setting)
        return self.n_threads, self.n_threads_batch

    # ------------------------------------------------------------ prompts

    def prompt_tokens(self, messages: Sequence[Message]) -> tuple[list[int], list[str]]:
        """The conversation rendered with the GGUF's own chat template, as tokens."""
        rendered = self._formatter(messages=list(messages))  # type: ignore[arg-type]
        stops = rendered.stop if isinstance(rendered.stop, list) else [rendered.stop]
        tokens = self.model.tokenize(rendered.prompt, add_special=not rendered.added_special)
        return tokens, [s for s in stops if s]

    def count_tokens(self, text: str) -> int:
        return len(self.model.tokenize(text, add_special=False))

    def capacity(self) -> Capacity:
        return Capacity(
            window=min(self.n_ctx, self.sub_pool),
            slots=self.sub_slots,
            pool=self.sub_pool,
            reserve=ANSWER_RESERVE,
            overhead=self._overhead,
            exact=True,
        )

    def fit(self, prompt_tokens: int, max_tokens: int, n_ctx: int | None = None) -> int:
        """The max_tokens that fits; raise ContextOverflowError when the prompt cannot fit."""
        n_ctx = n_ctx or self.n_ctx
        room = n_ctx - prompt_tokens
        if room < min(max_tokens, MIN_ANSWER_TOKENS):
            raise ContextOverflowError(prompt_tokens, max_tokens, n_ctx)
        return min(max_tokens, room)

    def _system_prefix(self, messages: Sequence[Message]) -> int:
        """Tokens of the rendered prompt that only the system message decides (0: none)."""
        if not messages or messages[0].get("role") != "system":
            return 0
        system = messages[0]
        if system["content"] not in self._prefixes:
            a, _ = self.prompt_tokens([system, {"role": "user", "content": "A"}])
            b, _ = self.prompt_tokens([system, {"role": "user", "content": "B"}])
            self._prefixes[system["content"]] = common_prefix(a, b)
        return self._prefixes[system["content"]]

    # ------------------------------------------------------------ conversations

    def stream(
        self,
        messages: Sequence[Message],
        settings: GenerationSettings,
        usage: Usage,
        cancel: threading.Event | None = None,
    ) -> Iterator[str]:
        tokens, stops = self.prompt_tokens(messages)
        max_tokens = self.fit(len(tokens), settings.max_tokens)
        turn = self.conversations.turn(tokens, self._system_prefix(messages))
        pieces: queue.SimpleQueue[str | None] = queue.SimpleQueue()
        request = Request(
            tokens,
            max_tokens,
            settings,
            (*stops, *settings.stop),
            cancel,
            on_text=pieces.put,
            prepare=turn.prepare,
            release=turn.release,
            checkpoint=turn.checkpoint,
            on_checkpoint=turn.on_checkpoint,
        )
        self.root.submit([request])
        try:
            while (piece := pieces.get()) is not None:
                yield piece
                if cancel is not None and cancel.is_set():
                    break  # the loop may have run ahead: nothing more is passed on
        finally:
            if not request.done.is_set():
                request.stop()
                request.done.wait()
        spent = request.wait().usage
        usage.prompt_tokens, usage.cached_tokens = spent.prompt_tokens, spent.cached_tokens
        usage.completion_tokens = spent.completion_tokens

    def reset(self) -> None:
        """Forget every cached conversation (benchmarks start cold); call it between turns."""
        self.root.settle()
        self.conversations.forget(self.root_context)

    # ------------------------------------------------------------ sub-calls

    def batch(
        self,
        conversations: Sequence[Sequence[Message]],
        settings: GenerationSettings | None = None,
        cancel: threading.Event | None = None,
        admit: Callable[[], bool] | None = None,
    ) -> list[Completion]:
        """Answer the conversations in the sub-call loop, together with any others queued.

        Every prompt is measured first: one that cannot fit a sub-call's window refuses the
        whole batch (ContextOverflowError) before anything is decoded. A member that fails
        in the loop has finish_reason "error"; the others' answers stand."""
        settings = settings or GenerationSettings()
        window = self.capacity().window
        prompts: list[list[int]] = []
        stops: list[str] = list(settings.stop)
        for conversation in conversations:
            tokens, template_stops = self.prompt_tokens(conversation)
            prompts.append(tokens)
            stops.extend(s for s in template_stops if s not in stops)
        limits = [self.fit(len(p), settings.max_tokens, window) for p in prompts]
        requests = [
            Request(
                prompt,
                limit,
                dataclasses.replace(settings, seed=settings.seed + i),
                stops,
                cancel,
                admit=admit,
            )
            for i, (prompt, limit) in enumerate(zip(prompts, limits, strict=True))
        ]
        self.subcalls.submit(requests)
        return [failed_alone(request.wait) for request in requests]

    # ------------------------------------------------------------ the rest

    def describe(self) -> dict:
        info = self.info
        return {
            "spec": self.spec,
            "kind": "llama.cpp",
            "path": info.path,
            "name": info.name,
            "architecture": info.architecture,
            "parameters": info.parameters,
            "quantization": info.quantization,
            "trained_context": info.context_length,
            "n_ctx": self.n_ctx,
            "n_threads": self.n_threads,
            "n_threads_batch": self.n_threads_batch,
            "n_gpu_layers": self.n_gpu_layers,
            "flash_attn": self.flash_attn,
            "kv_type": self.kv_type,
            "sub_slots": self.sub_slots,
            "sub_ctx": self.sub_pool,
            "chat_template": bool(info.chat_template),
            "thinks": "<think>" in (info.chat_template or ""),
            "lora": self.lora,
        }

    def close(self) -> None:
        for scheduler in (self._sub, self.root):
            if scheduler is not None:
                scheduler.close()
                scheduler.context.close()
        self._sub = None
        self.model.close()


def _load_lora(model: NativeModel, path: str, info: GGUFInfo) -> Any:
    """A LoRA adapter loaded for ``model``; ModelError (the model freed) when it does not fit."""
    try:
        return model.load_lora(path)
    except ValueError as exc:
        model.close()
        raise ModelError(
            f"llama.cpp could not load the LoRA adapter {Path(path).name} for "
            f"{Path(info.path).name} ({exc}): an adapter works only with the base model it "
            "was trained from"
        ) from exc


# For the rare GGUF without a chat template: a plain ChatML rendering.
_FALLBACK_TEMPLATE = (
    "{% for message in messages %}<|im_start|>{{ message['role'] }}\n"
    "{{ message['content'] }}<|im_end|>\n{% endfor %}<|im_start|>assistant\n"
)
