"""The root model's conversations, each in a sequence of its own, so that nothing else run on
the model (sub-calls, a child RLM's turns) throws their cached tokens away.

A turn continues the sequence whose cells hold the whole of its previous prompt: only the new
tokens are evaluated. Any other prompt is a new conversation: it takes a free sequence (or the
one used longest ago) and starts from the longest beginning another sequence shares with it,
whose cells it shares without evaluating them (a child RLM shares its parent's system prompt),
or else from the system prompt's state saved on disk by an earlier run.

Everything here runs in the decode loop's thread (``prepare`` and ``release`` are called by
the scheduler), the only thread that touches the context.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field

from rlm_desktop.llm.base import ModelError
from rlm_desktop.llm.batching import common_prefix
from rlm_desktop.llm.native import NativeContext
from rlm_desktop.llm.prefix_cache import PrefixStore

# Shorter shared beginnings are evaluated again rather than shared (not worth a sequence).
MIN_SHARED = 8


@dataclass
class _Sequence:
    seq: int
    tokens: list[int] = field(default_factory=list)  # what its cells hold
    prompt: int = 0  # length of the prompt of its last turn
    used: float = 0.0
    busy: bool = False


@dataclass
class Turn:
    """What a conversation turn hands the scheduler (see ``batching.Request``)."""

    prepare: Callable[[NativeContext], tuple[int, int]]
    release: Callable[[int, list[int]], None]
    checkpoint: int = 0
    on_checkpoint: Callable[[NativeContext, int, list[int]], None] | None = None


@dataclass
class TurnStart:
    """Where the last turn started from: its own cells, another conversation's or the disk."""

    continued: int = 0
    shared: int = 0
    loaded: int = 0


class Conversations:
    """The sequences of the root context, matched to conversations by their tokens."""

    def __init__(self, n_seq: int, store: PrefixStore | None) -> None:
        self.sequences = [_Sequence(seq) for seq in range(n_seq)]
        self.store = store
        self.last = TurnStart()

    def turn(self, prompt: list[int], prefix: int) -> Turn:
        """A turn for ``prompt``, whose first ``prefix`` tokens are the system prompt."""
        save = (
            self.store is not None and prefix >= MIN_SHARED and not self.store.has(prompt[:prefix])
        )

        def prepare(context: NativeContext) -> tuple[int, int]:
            return self._prepare(context, prompt, prefix)

        def release(seq: int, tokens: list[int]) -> None:
            sequence = self.sequences[seq]
            sequence.tokens, sequence.prompt = tokens, len(prompt)
            sequence.used, sequence.busy = time.monotonic(), False

        def checkpoint(context: NativeContext, seq: int, tokens: list[int]) -> None:
            assert self.store is not None
            self.store.save(context, seq, tokens)

        return Turn(prepare, release, prefix if save else 0, checkpoint if save else None)

    def evict(self, context: NativeContext) -> bool:
        """Free the cells of the idle conversation used longest ago; False if there is none."""
        idle = [s for s in self.sequences if not s.busy and s.tokens]
        if not idle:
            return False
        oldest = min(idle, key=lambda s: s.used)
        context.remove(oldest.seq)
        oldest.tokens, oldest.prompt = [], 0
        return True

    def forget(self, context: NativeContext) -> None:
        """Empty every idle sequence (benchmarks start cold)."""
        for sequence in self.sequences:
            if not sequence.busy:
                context.remove(sequence.seq)
                sequence.tokens, sequence.prompt = [], 0

    def _prepare(self, context: NativeContext, prompt: list[int], prefix: int) -> tuple[int, int]:
        idle = [s for s in self.sequences if not s.busy]
        if not idle:
            raise ModelError("every conversation sequence of the model is busy")
        shared = {s.seq: common_prefix(s.tokens, prompt) for s in idle}
        continuing = [s for s in idle if s.prompt and shared[s.seq] >= s.prompt]
        self.last = TurnStart()
        if continuing:
            target = max(continuing, key=lambda s: shared[s.seq])
            cached = self.last.continued = shared[target.seq]
        else:
            source = max(idle, key=lambda s: shared[s.seq])
            cached = shared[source.seq] if shared[source.seq] >= MIN_SHARED else 0
            # A free sequence, else the one used longest ago; the source only when alone.
            others = [s for s in idle if s is not source] or idle
            target = min(others, key=lambda s: (bool(s.tokens), s.used))
            if target is not source:
                context.remove(target.seq)
                if cached:
                    context.copy(source.seq, target.seq, cached)
            self.last.shared = cached
            target.prompt = 0
            if self._load(context, target.seq, prompt, prefix, cached):
                cached = self.last.loaded = prefix
        cached = min(cached, len(prompt) - 1)  # the last token is evaluated for its logits
        context.remove(target.seq, cached)
        target.tokens, target.busy = prompt[:cached], True
        return target.seq, cached

    def _load(
        self, context: NativeContext, seq: int, prompt: list[int], prefix: int, cached: int
    ) -> bool:
        """Load the system prompt's saved state when it holds more than what is shared."""
        if self.store is None or prefix < MIN_SHARED or cached >= prefix:
            return False
        return self.store.load(context, seq, prompt[:prefix])
