"""The models a user can pick, as one list for every surface (the welcome screen, Settings,
``rlm-desktop models list``): the demo, models found on this computer grouped by source,
recent files, and the recommended downloads; and what each one is and whether it fits."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from pathlib import Path

from rlm_desktop.llm.base import ModelError
from rlm_desktop.llm.discovery import SOURCES, FoundModel, ScanResult
from rlm_desktop.llm.fit import (
    Fit,
    Memory,
    estimate_memory,
    gib,
    judge,
    too_small_for_rlm,
    verdict,
    weak_coder_note,
)
from rlm_desktop.llm.gguf import GGUFInfo, parameter_label, read_gguf
from rlm_desktop.llm.model_files import models_dir
from rlm_desktop.llm.recommended import Recommended, recommended_models
from rlm_desktop.llm.spec import demo_model_path, parse_spec
from rlm_desktop.settings import Settings

DOWNLOAD = "download:"  # a choice that is a recommended model to download, not a model spec
DOWNLOADED_GROUP = "Downloaded with RLM Desktop"
RECENT_GROUP = "Recent"
RECOMMENDED_GROUP = "Recommended downloads"
FIT_MARKS = {"fits": "✓", "tight": "⚠", "too big": "✗"}
_REMOTE = {
    "openai": "a model on an OpenAI-compatible server",
    "replay": "a scripted replay",
}


@dataclass(frozen=True)
class Choice:
    """One line of the model picker."""

    spec: str  # what Settings stores ("demo", a file), or DOWNLOAD + a recommended id
    label: str
    group: str
    source: str  # a SOURCES key, "recent" or "recommended"
    detail: str  # parameters, quantization, context, size, fit
    fit: str = ""  # fits, tight, too big; "" when unknown (a remote model)
    explain: str = ""  # the numbers behind the fit, for a tooltip
    note: str = ""  # what else to know: too small to write code, a rough estimate
    parameters: int = 0
    capable: bool = False  # big enough, and with window enough, for the RLM method

    @property
    def recommended_id(self) -> str:
        """The recommended model this choice downloads ("" for a model already here)."""
        return self.spec.removeprefix(DOWNLOAD) if self.spec.startswith(DOWNLOAD) else ""

    def to_json(self) -> dict:
        """The shape of a choice in ``models list --json``."""
        return asdict(self)


def fit_of(info: GGUFInfo, settings: Settings, memory: Memory) -> Fit:
    """Whether a model fits at the context and KV-cache type the settings give it."""
    return judge(estimate_memory(info, settings.n_ctx, settings.kv_type), memory)


def notes(info: GGUFInfo, settings: Settings, fit: Fit) -> str:
    """Everything worth knowing beyond the numbers, in one line."""
    found = [
        too_small_for_rlm(info, settings.n_ctx) or weak_coder_note(info),
        "no chat template: answers may be poor" if not info.chat_template else "",
        fit.estimate.rough,
    ]
    return "; ".join(note for note in found if note)


def detail(info: GGUFInfo, fit: Fit) -> str:
    """ "7.6B · Q4_K_M · 32,768-token context · 4.4 GB · ✓ fits (about 5.9 GB)" """
    return (
        f"{parameter_label(info.parameters)} · {info.quantization} · "
        f"{info.context_length:,}-token context · {gib(info.file_size)} · "
        f"{FIT_MARKS[fit.verdict]} {fit.verdict} (about {gib(fit.estimate.total)})"
    )


def capable(info: GGUFInfo, settings: Settings) -> bool:
    """Big enough to write code, with a window that holds the RLM loop."""
    return not (too_small_for_rlm(info, settings.n_ctx) or weak_coder_note(info))


def _file_choice(
    spec: str,
    label: str,
    group: str,
    source: str,
    info: GGUFInfo,
    settings: Settings,
    memory: Memory,
) -> Choice:
    fit = fit_of(info, settings, memory)
    return Choice(
        spec,
        label,
        group,
        source,
        detail(info, fit),
        fit.verdict,
        fit.explain(),
        notes(info, settings, fit),
        info.parameters,
        capable(info, settings),
    )


def _model_choice(model: FoundModel, group: str, settings: Settings, memory: Memory) -> Choice:
    if model.source == "demo":
        label, spec = "demo (a tiny model to try the app)", "demo"
    else:
        label, spec = model.label, model.path
    return _file_choice(spec, label, group, model.source, model.info, settings, memory)


def _recommended_choice(model: Recommended, memory: Memory) -> Choice:
    needed = int(model.ram_gb * 2**30)
    fit = verdict(needed, memory)
    role = "for sub-calls" if model.role == "sub" else "writes the code"
    return Choice(
        DOWNLOAD + model.id,
        f"{model.name} ({model.parameters}, {role})",
        RECOMMENDED_GROUP,
        "recommended",
        f"{model.size_gb:g} GB download · {FIT_MARKS[fit]} {fit} (about {model.ram_gb:g} GB)",
        fit,
        f"{model.file} from {model.repo}.\nNeeds about {model.ram_gb:g} GB with a context "
        f"of 8,192 tokens; {gib(memory.free)} free now.",
        model.why,
    )


def picker(settings: Settings, scan: ScanResult, memory: Memory) -> list[Choice]:
    """The picker's lines in their groups: the demo, the app's downloads, each source's
    models, recent files found nowhere else, then the recommended downloads not yet here."""
    choices: list[Choice] = []
    app_folder = str(models_dir())
    by_group: dict[str, list[FoundModel]] = {}
    for model in scan.models:
        group = (
            DOWNLOADED_GROUP
            if model.source == "folder" and model.root == app_folder
            else SOURCES[model.source]
        )
        by_group.setdefault(group, []).append(model)
    order = [SOURCES["demo"], DOWNLOADED_GROUP, *list(SOURCES.values())[1:]]
    for group in order:
        for model in sorted(by_group.get(group, []), key=lambda m: m.label.lower()):
            choices.append(_model_choice(model, group, settings, memory))
    known = {c.spec for c in choices} | {str(Path(c.spec).resolve()) for c in choices}
    for spec in settings.recent_models:
        if spec not in known:
            choices.extend(_recent_choice(spec, settings, memory))
    for recommended in recommended_models():
        if not recommended.downloaded():
            choices.append(_recommended_choice(recommended, memory))
    return choices


def _recent_choice(spec: str, settings: Settings, memory: Memory) -> list[Choice]:
    try:
        parsed = parse_spec(spec)
    except ModelError:
        return []
    if parsed.kind != "gguf":
        return [Choice(spec, spec, RECENT_GROUP, "recent", _REMOTE[parsed.kind])]
    try:
        info = read_gguf(parsed.value)
    except ModelError as exc:
        return [Choice(spec, Path(spec).name, RECENT_GROUP, "recent", "", note=exc.message)]
    return [_file_choice(spec, Path(spec).name, RECENT_GROUP, "recent", info, settings, memory)]


def best_choice(choices: list[Choice]) -> Choice | None:
    """The model to suggest first: the largest one on this computer that fits and can run
    the method (None when there is none)."""
    usable = [c for c in choices if c.fit == "fits" and c.capable and not c.recommended_id]
    return max(usable, key=lambda c: c.parameters, default=None)


def found_json(model: FoundModel, settings: Settings, memory: Memory) -> dict:
    """The shape of one model in ``models scan --json`` and ``models info --json``."""
    info = model.info
    fit = fit_of(info, settings, memory)
    return {
        "path": model.path,
        "source": model.source,
        "name": model.label,
        "location": model.name,
        "model_name": info.name,
        "architecture": info.architecture,
        "parameters": info.parameters,
        "quantization": info.quantization,
        "context_length": info.context_length,
        "layers": info.block_count,
        "kv_heads": info.head_count_kv,
        "chat_template": bool(info.chat_template),
        "size_bytes": info.file_size,
        "parts": info.split_count,
        "n_ctx": fit.estimate.n_ctx,
        "ram_estimate_bytes": fit.estimate.total,
        "kv_cache_bytes": fit.estimate.kv_cache,
        "compute_bytes": fit.estimate.compute,
        "contexts": fit.estimate.contexts,
        "fit": fit.verdict,
        "rough": fit.estimate.rough,
        "notes": notes(info, settings, fit),
    }


def find_model(name: str, scan: ScanResult) -> FoundModel | None:
    """A found model by spec, path, label or app name (``demo``, ``llama3.2:3b``)."""
    wanted = name.strip()
    path = str(Path(wanted).expanduser().resolve()) if wanted != "demo" else ""
    for model in scan.models:
        if wanted in (model.label, model.name, model.path) or (
            path and path == str(Path(model.path).resolve())
        ):
            return model
    return None


def describe(spec: str, settings: Settings, memory: Memory) -> str:
    """What a spec names, for the line under a picker: the model, its fit and notes; a
    GGUF file is read (ModelError when it cannot be)."""
    if spec.startswith(DOWNLOAD):
        for model in recommended_models():
            if DOWNLOAD + model.id == spec:
                return _recommended_choice(model, memory).explain
        raise ModelError(f"no recommended model {spec.removeprefix(DOWNLOAD)!r}")
    parsed = parse_spec(spec)
    if parsed.kind not in ("demo", "gguf"):
        return _REMOTE[parsed.kind]
    info = read_gguf(demo_model_path() if parsed.kind == "demo" else Path(parsed.value))
    fit = fit_of(info, settings, memory)
    lines = [info.summary(), f"{FIT_MARKS[fit.verdict]} {fit.verdict}: {fit.explain()}"]
    if extra := notes(info, settings, fit):
        lines.append(f"Note: {extra}.")
    return "\n".join(lines)


# ------------------------------------------------------------------ the legacy listing


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
        """One entry of ``rlm-desktop models --json``'s ``models``."""
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


def local_models(settings: Settings) -> list[ModelEntry]:
    """The demo model and the recent GGUF files, each read without loading it."""
    entries: list[ModelEntry] = []
    files: list[tuple[str, Path]] = []
    for spec in dict.fromkeys(["demo", *settings.recent_models]):
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
