"""Local GGUF models through llama.cpp (llama-cpp-python).

One loaded model serves the root loop and sub-calls. ``stream`` keeps one growing
conversation on the model's own context, so llama.cpp re-evaluates only the new tokens
(prefix reuse). ``batch`` decodes many independent prompts together as sequences of one
batch with the low-level API (see ``batching.py``).
"""

from __future__ import annotations

import logging
import os
import threading
from collections.abc import Generator, Iterator, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, cast

from rlm_desktop.llm.base import (
    Backend,
    Completion,
    ContextOverflowError,
    GenerationSettings,
    Message,
    ModelError,
    Usage,
)
from rlm_desktop.llm.fit import check_loadable, estimate_memory, planned_context, system_memory
from rlm_desktop.llm.gguf import GGUFInfo, read_gguf

if TYPE_CHECKING:
    from rlm_desktop.llm.batching import BatchDecoder

log = logging.getLogger(__name__)

# Room the prompt must leave for the answer before we refuse it; beyond that, max_tokens is
# lowered to what fits (and the answer ends with finish_reason "length").
MIN_ANSWER_TOKENS = 64


_log_callback = None


def _route_llama_logs() -> None:
    """Send llama.cpp's own log lines to our logger (debug) instead of the console."""
    global _log_callback
    if _log_callback is not None:
        return
    import ctypes

    import llama_cpp

    @llama_cpp.llama_log_callback
    def forward(level, text, user_data):
        log.debug("llama.cpp: %s", text.decode("utf-8", "replace").rstrip())

    _log_callback = forward  # keep a reference: the C side holds only a pointer
    llama_cpp.llama_log_set(forward, ctypes.c_void_p())


def _common_prefix(a: Sequence[int], b: Sequence[int]) -> int:
    n = 0
    for x, y in zip(a, b, strict=False):
        if x != y:
            break
        n += 1
    return n


class LlamaCppBackend(Backend):
    """A GGUF model loaded once, used by one caller at a time (``lock``)."""

    def __init__(
        self,
        path: str | Path,
        *,
        n_ctx: int = 0,
        n_threads: int = 0,
        n_gpu_layers: int = -1,
        flash_attn: bool = False,
        kv_type: str | None = None,
        spec: str | None = None,
    ) -> None:
        super().__init__()
        import llama_cpp
        from llama_cpp.llama_chat_format import Jinja2ChatFormatter

        _route_llama_logs()
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
        check_loadable(self.info, estimate, system_memory(n_gpu_layers))
        self.n_threads = n_threads or os.cpu_count() or 1
        if n_gpu_layers < 0:
            n_gpu_layers = -1 if llama_cpp.llama_supports_gpu_offload() else 0
        self.n_gpu_layers = n_gpu_layers
        kv = {}
        if kv_type:
            kind = getattr(llama_cpp, f"GGML_TYPE_{kv_type.upper()}", None)
            if kind is None:
                raise ModelError(f"unknown KV-cache type {kv_type!r} (try f16, q8_0, q4_0)")
            kv = {"type_k": kind, "type_v": kind}
            flash_attn = True  # a quantized V cache needs flash attention
        # Off by default: on the CPU it changes logits enough to flip greedy choices of small
        # models, and the batched path cannot use it (see batching.py), so sub-calls would
        # answer differently batched and one by one.
        try:
            self.llm = llama_cpp.Llama(
                model_path=self.info.path,
                n_ctx=self.n_ctx,
                n_threads=self.n_threads,
                n_threads_batch=self.n_threads,
                n_gpu_layers=n_gpu_layers,
                flash_attn=flash_attn,
                verbose=False,
                **kv,
            )
        except (ValueError, RuntimeError) as exc:
            raise ModelError(
                f"llama.cpp could not load {Path(self.info.path).name} ({exc}): the file may be "
                "damaged or made for a newer llama.cpp; download it again or choose another model"
            ) from exc
        model = self.llm._model
        self._formatter = Jinja2ChatFormatter(
            template=self.info.chat_template or _FALLBACK_TEMPLATE,
            eos_token=model.token_get_text(model.token_eos()),
            bos_token=model.token_get_text(model.token_bos()),
        )
        self._batcher: BatchDecoder | None = None
        self._batcher_lock = threading.Lock()

    # ------------------------------------------------------------ prompts

    def prompt_tokens(self, messages: Sequence[Message]) -> tuple[list[int], list[str]]:
        """The conversation rendered with the GGUF's own chat template, as tokens."""
        rendered = self._formatter(messages=list(messages))  # type: ignore[arg-type]
        stops = rendered.stop if isinstance(rendered.stop, list) else [rendered.stop]
        tokens = self.llm.tokenize(
            rendered.prompt.encode("utf-8"), add_bos=not rendered.added_special, special=True
        )
        return tokens, [s for s in stops if s]

    def fit(self, prompt_tokens: int, max_tokens: int, n_ctx: int | None = None) -> int:
        """The max_tokens that fits; raise ContextOverflowError when the prompt cannot fit."""
        n_ctx = n_ctx or self.n_ctx
        room = n_ctx - prompt_tokens
        if room < min(max_tokens, MIN_ANSWER_TOKENS):
            raise ContextOverflowError(prompt_tokens, max_tokens, n_ctx)
        return min(max_tokens, room)

    # ------------------------------------------------------------ one conversation

    def stream(
        self,
        messages: Sequence[Message],
        settings: GenerationSettings,
        usage: Usage,
        cancel: threading.Event | None = None,
    ) -> Iterator[str]:
        tokens, stops = self.prompt_tokens(messages)
        max_tokens = self.fit(len(tokens), settings.max_tokens)
        cached = _common_prefix(self.llm._input_ids[: self.llm.n_tokens].tolist(), tokens)
        usage.prompt_tokens = len(tokens)
        usage.cached_tokens = min(cached, len(tokens) - 1)  # the last token is always evaluated
        grammar = None
        if settings.grammar or settings.json_schema:
            from llama_cpp import LlamaGrammar

            grammar = (
                LlamaGrammar.from_string(settings.grammar, verbose=False)
                if settings.grammar
                else LlamaGrammar.from_json_schema(_json(settings.json_schema), verbose=False)
            )
        chunks = cast(
            Generator[dict[str, Any], None, None],
            self.llm.create_completion(
                prompt=tokens,
                max_tokens=max_tokens,
                temperature=settings.temperature,
                top_p=settings.top_p,
                stop=[*stops, *settings.stop],
                seed=settings.seed,
                grammar=grammar,
                stream=True,
            ),
        )
        try:
            for chunk in chunks:
                choice = chunk["choices"][0]
                if choice.get("finish_reason") is None:
                    usage.completion_tokens += 1  # one chunk per sampled token
                if text := choice["text"]:
                    yield text
                if cancel is not None and cancel.is_set():
                    break
        finally:
            chunks.close()

    # ------------------------------------------------------------ many at once

    def batch(
        self,
        conversations: Sequence[Sequence[Message]],
        settings: GenerationSettings | None = None,
        cancel: threading.Event | None = None,
    ) -> list[Completion]:
        """Decode all conversations together, as sequences of one llama.cpp batch."""
        from rlm_desktop.llm.batching import BatchDecoder

        settings = settings or GenerationSettings()
        if len(conversations) == 1:
            return [self.complete(conversations[0], settings, cancel)]
        prompts = []
        stops: list[str] = list(settings.stop)
        for conversation in conversations:
            tokens, template_stops = self.prompt_tokens(conversation)
            prompts.append(tokens)
            stops.extend(s for s in template_stops if s not in stops)
        with self.lock:
            if self._batcher is None:
                self._batcher = BatchDecoder(self.llm, self.n_ctx, self.n_threads)
            return self._batcher.run(prompts, settings, stops, cancel, self.fit)

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
            "n_gpu_layers": self.n_gpu_layers,
            "chat_template": bool(info.chat_template),
        }

    def close(self) -> None:
        if self._batcher is not None:
            self._batcher.close()
            self._batcher = None
        self.llm.close()


def _json(schema: dict | None) -> str:
    import json

    return json.dumps(schema or {})


# For the rare GGUF without a chat template: a plain ChatML rendering.
_FALLBACK_TEMPLATE = (
    "{% for message in messages %}<|im_start|>{{ message['role'] }}\n"
    "{{ message['content'] }}<|im_end|>\n{% endfor %}<|im_start|>assistant\n"
)
