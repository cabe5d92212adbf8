"""The app's settings: one versioned JSON file in the user data dir. Never holds secrets.

The defaults here are the only ones: the run budget, the REPL's limits and the ingest limits
take theirs from ``Settings()``, and each layer builds its own record with ``from_settings``.
"""

from __future__ import annotations

import json
import logging
import os
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path

from rlm_desktop.errors import UsageError
from rlm_desktop.paths import data_dir

log = logging.getLogger(__name__)

SETTINGS_VERSION = 1
_MAX_RECENT = 10
_KEPT_BY_THE_APP = frozenset({"version", "recent_models", "recent_libraries"})
# Settings that take one of a few words.
CHOICES: dict[str, tuple[str, ...]] = {
    "ocr": ("off", "auto", "force"),
    "theme": ("system", "light", "dark"),
    "rlm_profile": ("auto", "paper", "reference"),
}
_TRUE = ("true", "on", "1", "yes")
_FALSE = ("false", "off", "0", "no")


class SettingError(UsageError):
    """A setting that does not exist, or text that is no value for it (exit code 2)."""


@dataclass
class Settings:
    """Everything the user can set. API keys live in the OS keychain, never here."""

    version: int = SETTINGS_VERSION
    offline: bool = True  # a fresh install refuses network backends until the user says so
    model: str = "demo"
    sub_model: str = ""  # empty: the same as model
    base_url: str = ""  # for openai:MODEL specs
    n_ctx: int = 0  # 0: the model's trained context, capped for RAM
    n_threads: int = 0  # 0: physical cores to generate, all to read prompts, less busy ones
    n_gpu_layers: int = -1  # -1: all layers that fit a GPU when the build supports one, else 0
    flash_attn: bool = True  # where the build supports it; forced on by a quantized KV cache
    kv_type: str = ""  # "" (f16), or q8_0 / q4_0 to shrink the KV cache
    # Sub-calls decode together in sub_slots sequences sharing a KV cache of sub_ctx tokens
    # (0: as many as n_ctx); map_chunks sizes its pieces so that all slots fill.
    sub_slots: int = 8
    sub_ctx: int = 0
    recent_models: list[str] = field(default_factory=list)
    # Folders of .gguf files to offer besides the app's own downloads and the places other
    # apps keep theirs (LM Studio, GPT4All, Ollama, Jan, the Hugging Face and llama.cpp caches).
    model_folders: list[str] = field(default_factory=list)
    mode: str = "rlm"  # rlm, no-subcalls or direct
    # How the root model is told to work and finish (rlm/profiles.py): "auto" picks the
    # scaffold a natively recursive model was trained with (resources/models/recursive.json).
    rlm_profile: str = "auto"
    tools_file: str = ""  # a Python file of helper functions offered in the REPL ("" none)
    max_iterations: int = 12
    max_depth: int = 1
    max_subcalls: int = 64
    max_tokens: int = 200_000
    max_seconds: float = 600.0
    cell_timeout_s: float = 60.0
    sandbox_memory_mb: int = 2048
    sandbox_disk_mb: int = 512  # everything one REPL may write, together
    # A library whose text passes this many MB is mapped from disk as a large ``context``
    # instead of held as one str: 0 decides from the machine's memory, below 0 maps any.
    large_context_mb: int = 0
    # A citation shorter than this (words or characters), or without letters, proves
    # nothing and is shown as "too short"; check_support asks the sub model, once per
    # citation, whether the quote supports the sentence it is attached to.
    citation_min_words: int = 4
    citation_min_chars: int = 20
    check_support: bool = False
    theme: str = "system"  # system, light or dark
    watch_folders: bool = False
    # A Word file is a ZIP archive: one whose parts unpack past these is refused (bomb guard).
    # (python-docx needs about ten times a part's size in memory; real parts compress 3-10x)
    docx_max_part_mb: int = 64
    docx_max_ratio: int = 100
    # OCR of scanned pages and images (the optional "ocr" extra): "off", "auto" (pages with
    # no usable text layer, and images) or "force" (every page, its text layer replaced).
    # ocr_languages are Tesseract's codes joined by "+" ("eng+deu"); each needs its model.
    ocr: str = "auto"
    ocr_languages: str = "eng"
    recent_libraries: list[str] = field(default_factory=list)

    def remember_model(self, spec: str) -> None:
        """Put a model spec first in the recent list."""
        self.recent_models = [spec] + [s for s in self.recent_models if s != spec]
        del self.recent_models[_MAX_RECENT:]

    def set_from_text(self, name: str, text: str) -> None:
        """Set one setting from text as a person types it (``offline off``, ``n_ctx 8192``)."""
        setattr(self, name, parse_setting(name, text))


def known_setting(name: str) -> str:
    """``name`` when a user may set it by name; a SettingError listing the names otherwise."""
    names = {f.name for f in fields(Settings)} - _KEPT_BY_THE_APP
    if name not in names:
        raise SettingError(f"unknown setting {name!r}; known: {', '.join(sorted(names))}")
    return name


def parse_setting(name: str, text: str) -> bool | int | float | str | list[str]:
    """The value ``text`` means for setting ``name``, read by the setting's type (a list
    setting takes its items separated by the path separator: ``/a:/b`` on Linux)."""
    kind = type(getattr(Settings(), known_setting(name)))
    if name in CHOICES and text not in CHOICES[name]:
        raise SettingError(f"{name} is one of {', '.join(CHOICES[name])}, not {text!r}")
    if kind is list:
        return [item for item in text.split(os.pathsep) if item.strip()]
    if kind is bool:
        if text.lower() not in _TRUE + _FALSE:
            raise SettingError(f"{name} needs a bool, not {text!r}")
        return text.lower() in _TRUE
    try:
        return kind(text)
    except ValueError as exc:
        raise SettingError(f"{name} needs a {kind.__name__}, not {text!r}") from exc


def settings_path() -> Path:
    """Where the settings file lives."""
    return data_dir() / "settings.json"


def load_settings() -> Settings:
    """Read the settings (defaults for anything missing or unreadable)."""
    path = settings_path()
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        return Settings()
    except (OSError, ValueError) as exc:
        log.warning("ignoring unreadable settings file %s: %s", path, exc)
        return Settings()
    known = {f.name for f in fields(Settings)}
    values = {k: v for k, v in data.items() if k in known}
    values["version"] = SETTINGS_VERSION
    return Settings(**values)


def save_settings(settings: Settings) -> None:
    """Write the settings atomically."""
    path = settings_path()
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps(asdict(settings), indent=2), encoding="utf-8")
    os.replace(tmp, path)
