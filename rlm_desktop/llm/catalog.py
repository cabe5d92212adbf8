"""The models a user can pick: the demo model and recent ones, and what each one is."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from pathlib import Path

from rlm_desktop.llm.base import ModelError
from rlm_desktop.llm.gguf import GGUFInfo, read_gguf
from rlm_desktop.llm.spec import demo_model_path, parse_spec
from rlm_desktop.settings import Settings

_REMOTE = {
    "openai": "a model on an OpenAI-compatible server",
    "replay": "a scripted replay",
}


@dataclass(frozen=True)
class ModelEntry:
    """A local model file as listed: ``status`` is ok, missing or unreadable."""

    spec: str
    status: str
    info: GGUFInfo | None = None
    message: str = ""

    def summary(self) -> str:
        """One line for people: the model's summary, or why it cannot be used."""
        return self.info.summary() if self.info else self.message

    def to_json(self) -> dict:
        """The shape of ``rlm-desktop models --json``."""
        if self.info is None:
            return {"spec": self.spec, "status": self.status, "message": self.message}
        facts = {k: v for k, v in asdict(self.info).items() if k != "chat_template"}
        return {
            "spec": self.spec,
            "status": self.status,
            "summary": self.info.summary(),
            **facts,
            "chat_template": bool(self.info.chat_template),
        }


def model_choices(recent: list[str]) -> list[str]:
    """The specs to offer in a model list: the demo model, then the recent ones, each once."""
    return list(dict.fromkeys(["demo", *recent]))


def describe_model(spec: str) -> str:
    """One line on what a spec names; a GGUF file is read (ModelError when it cannot be)."""
    parsed = parse_spec(spec)
    if parsed.kind in ("demo", "gguf"):
        path = demo_model_path() if parsed.kind == "demo" else Path(parsed.value)
        return read_gguf(path).summary()
    return _REMOTE[parsed.kind]


def local_models(settings: Settings) -> list[ModelEntry]:
    """The demo model and the recent GGUF files, each read without loading it."""
    entries: list[ModelEntry] = []
    files: list[tuple[str, Path]] = []
    for spec in model_choices(settings.recent_models):
        if spec == "demo":
            try:
                files.append((spec, demo_model_path()))
            except ModelError as exc:
                entries.append(ModelEntry(spec, "missing", message=exc.message))
        elif spec.endswith(".gguf"):
            files.append((spec, Path(spec)))
    for spec, path in files:
        try:
            entries.append(ModelEntry(spec, "ok", info=read_gguf(path)))
        except ModelError as exc:
            entries.append(ModelEntry(spec, "unreadable", message=exc.message))
    return entries
