"""A scripted backend for tests, demos and reproducible bug reports.

The script is ``{"root": [reply, ...], "sub": [reply, ...]}``: root-model turns take the
"root" replies in order, sub-calls take the "sub" replies in order.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator, Sequence
from pathlib import Path

from rlm_desktop.llm.base import Backend, GenerationSettings, Message, ModelError, Usage

ROLES = ("root", "sub")


class ReplayScript:
    """The replies of a script, consumed in order per role."""

    def __init__(self, replies: dict[str, list[str]], source: str = "the replay script") -> None:
        if not isinstance(replies, dict) or not all(
            isinstance(replies.get(role, []), list) for role in ROLES
        ):
            raise ModelError(f"{source} must be a JSON object with lists 'root' and 'sub'")
        self.replies = {role: [str(r) for r in replies.get(role, [])] for role in ROLES}
        self.source = source
        self.used = dict.fromkeys(ROLES, 0)
        self._lock = threading.Lock()

    @classmethod
    def from_file(cls, path: str | Path) -> ReplayScript:
        """Read a script file."""
        path = Path(path).expanduser()
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
        except OSError as exc:
            raise ModelError(f"cannot read the replay script {path}: {exc.strerror}") from exc
        except ValueError as exc:
            raise ModelError(f"the replay script {path} is not valid JSON: {exc}") from exc
        return cls(data, f"the replay script {path}")

    def next(self, role: str) -> str:
        """The next reply for a role; a clear error when the script has run out."""
        with self._lock:
            replies = self.replies[role]
            if self.used[role] >= len(replies):
                raise ModelError(
                    f"{self.source} has no more '{role}' replies (all {len(replies)} were used)"
                )
            self.used[role] += 1
            return replies[self.used[role] - 1]


def _tokens(text: str) -> int:
    # A stand-in for a tokenizer: about four characters a token.
    return max(1, len(text) // 4) if text else 0


class ReplayBackend(Backend):
    """Answers from a script instead of a model; records every conversation it was sent."""

    def __init__(self, script: ReplayScript, role: str = "root", spec: str = "replay") -> None:
        super().__init__()
        if role not in ROLES:
            raise ValueError(f"role must be one of {ROLES}")
        self.script, self.role, self.spec = script, role, spec
        self.calls: list[list[Message]] = []

    def stream(
        self,
        messages: Sequence[Message],
        settings: GenerationSettings,
        usage: Usage,
        cancel: threading.Event | None = None,
    ) -> Iterator[str]:
        self.calls.append([dict(m) for m in messages])
        reply = self.script.next(self.role)
        usage.prompt_tokens = sum(_tokens(m.get("content", "")) for m in messages)
        pieces = reply.split(" ")
        for i, piece in enumerate(pieces):
            if cancel is not None and cancel.is_set():
                return
            usage.completion_tokens += _tokens(piece) or 1
            yield piece if i == len(pieces) - 1 else piece + " "

    def describe(self) -> dict:
        return {
            "spec": self.spec,
            "kind": "replay",
            "role": self.role,
            "replies": len(self.script.replies[self.role]),
        }


class ScriptedOverModel(Backend):
    """Scripted replies over a real model: every prompt is evaluated by ``model`` (its cache,
    its token counts), but the reply is the script's. Benchmarks and tests of the machinery
    use it: a small model's own replies would make every run different.

    The reply is then put in the model's cache after the prompt, where a reply the model had
    written would be, so the next turn reuses it as it would reuse a generated one.
    ``usages`` are the prompts' counts only (the reply is the answer, not the prompt)."""

    def __init__(self, model: Backend, replies: Sequence[str]) -> None:
        super().__init__()
        self.model = model
        self.replies = list(replies)
        self.spec = f"scripted over {model.spec}"
        self.used = 0
        self.usages: list[Usage] = []  # what each root call evaluated, as the model counted

    def stream(
        self,
        messages: Sequence[Message],
        settings: GenerationSettings,
        usage: Usage,
        cancel: threading.Event | None = None,
    ) -> Iterator[str]:
        if self.used >= len(self.replies):
            raise ModelError(f"the script has no more replies (all {len(self.replies)} were used)")
        reply = self.replies[self.used]
        self.used += 1
        one_token = GenerationSettings(max_tokens=1, temperature=0.0)
        for _ in self.model.stream(messages, one_token, usage, cancel):
            pass
        self.usages.append(Usage(usage.prompt_tokens, usage.cached_tokens))
        written = [*messages, {"role": "assistant", "content": reply}]
        for _ in self.model.stream(written, one_token, Usage(), cancel):
            pass
        usage.completion_tokens = self.model.count_tokens(reply)
        yield reply

    def count_tokens(self, text: str) -> int:
        return self.model.count_tokens(text)

    def describe(self) -> dict:
        return {**self.model.describe(), "spec": self.spec}
