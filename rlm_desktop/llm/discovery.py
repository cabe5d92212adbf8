"""Find the GGUF models already on this computer, where other apps keep them, without copying.

Each source knows its app's layout: LM Studio and GPT4All keep plain ``.gguf`` files, Ollama
names content-addressed blobs in manifests, Jan describes each model in a ``model.yml``, the
Hugging Face and llama.cpp caches hold downloads of ``huggingface-cli`` and ``llama-cli -hf``.
Only files whose header is valid GGUF are listed; a split model appears once (its first part);
vision projectors (mmproj) are companions of a model, not models, and are left out.
"""

from __future__ import annotations

import json
import logging
import os
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

from rlm_desktop.llm.base import ModelError
from rlm_desktop.llm.gguf import SPLIT_PART, GGUFInfo, read_gguf
from rlm_desktop.llm.model_files import models_dir
from rlm_desktop.llm.spec import demo_model_path
from rlm_desktop.settings import Settings

log = logging.getLogger(__name__)

# The sources, in the order they are shown, with the names people know them by.
SOURCES = {
    "demo": "Built-in demo",
    "lmstudio": "LM Studio",
    "gpt4all": "GPT4All",
    "ollama": "Ollama",
    "jan": "Jan",
    "huggingface": "Hugging Face cache",
    "llama.cpp": "llama.cpp cache",
    "folder": "Your folders",
}
OLLAMA_MODEL_LAYER = "application/vnd.ollama.image.model"
# Ollama's system-wide install (Linux service) keeps its models here, outside any home.
SYSTEM_OLLAMA = (Path("/usr/share/ollama/.ollama/models"),)
_MAX_DEPTH = 6  # folders below a root that are searched
_MAX_FOLDERS = 20_000  # a user folder as big as a whole disk is searched only this far


@dataclass(frozen=True)
class FoundModel:
    """A model file found on this computer, and what its header says."""

    path: str  # what llama.cpp loads: a .gguf file, a split model's first part, an Ollama blob
    source: str  # a key of SOURCES
    name: str  # the name its app shows: "llama3.2:3b", "publisher/repo/file.gguf"
    info: GGUFInfo
    root: str = ""  # the folder it was found under

    @property
    def label(self) -> str:
        """A short name for a list: the Ollama name, else the file name without .gguf."""
        if self.source == "ollama":
            return self.name
        if self.source == "demo":
            return "demo"
        stem = Path(self.name).name
        match = SPLIT_PART.search(stem)
        return stem[: match.start()] if match else stem.removesuffix(".gguf")


@dataclass(frozen=True)
class Skipped:
    """A candidate file that is not offered, and why."""

    path: str
    source: str
    reason: str


@dataclass
class ScanResult:
    """The models found, the files passed over, the folders looked in, and the time taken."""

    models: list[FoundModel] = field(default_factory=list)
    skipped: list[Skipped] = field(default_factory=list)
    searched: list[tuple[str, str]] = field(default_factory=list)  # (source, folder) that exist
    seconds: float = 0.0


def scan(settings: Settings, include_demo: bool = True) -> ScanResult:
    """Every GGUF model in the known places and the user's folders, each file once."""
    started = time.perf_counter()
    result = ScanResult()
    seen: set[tuple[int, int]] = set()
    for source, root, name, path in _candidates(settings, include_demo, result):
        try:
            stat = path.stat()
        except OSError:
            continue
        if (stat.st_dev, stat.st_ino) in seen:  # a hard link, symlink or second Ollama tag
            continue
        seen.add((stat.st_dev, stat.st_ino))
        try:
            info = _read(path, stat)
        except ModelError as exc:
            result.skipped.append(Skipped(str(path), source, exc.message))
            continue
        if info.is_projector:
            result.skipped.append(Skipped(str(path), source, "a vision projector (mmproj)"))
            continue
        result.models.append(FoundModel(str(path), source, name, info, str(root)))
    order = list(SOURCES)
    result.models.sort(key=lambda model: order.index(model.source))  # stable: found order
    result.seconds = time.perf_counter() - started
    return result


_HEADERS: dict[tuple[str, int, int], GGUFInfo] = {}


def _read(path: Path, stat: os.stat_result) -> GGUFInfo:
    """The header of a file, read once per size and modification time."""
    key = (str(path), stat.st_size, stat.st_mtime_ns)
    if key not in _HEADERS:
        _HEADERS[key] = read_gguf(path)
    return _HEADERS[key]


# ------------------------------------------------------------------ where each app keeps them


def roots(settings: Settings) -> list[tuple[str, Path]]:
    """The (source, folder) pairs to search: the app's own downloads first, so a file linked
    from another place is listed as the app's."""
    home = Path.home()
    env = os.environ
    found: list[tuple[str, Path]] = [("folder", models_dir())]
    found += [("lmstudio", home / ".lmstudio" / "models")]
    found += [("lmstudio", home / ".cache" / "lm-studio" / "models")]
    found += [("gpt4all", folder) for folder in _gpt4all_folders(home)]
    if env.get("OLLAMA_MODELS"):
        found.append(("ollama", Path(env["OLLAMA_MODELS"]).expanduser()))
    else:
        found += [("ollama", home / ".ollama" / "models")]
        found += [("ollama", folder) for folder in SYSTEM_OLLAMA]
    found += [("jan", _app_data(home, roaming=True) / "Jan" / "data" / "llamacpp" / "models")]
    found += [("jan", home / "jan" / "models")]
    found += [("huggingface", _hf_hub(home))]
    found += [("llama.cpp", _llama_cache(home))]
    found += [("folder", Path(folder).expanduser()) for folder in settings.model_folders]
    return found


def _app_data(home: Path, roaming: bool = False) -> Path:
    """The per-user application data folder of this platform."""
    if sys.platform == "win32":
        name = "APPDATA" if roaming else "LOCALAPPDATA"
        return Path(os.environ.get(name) or home / "AppData" / ("Roaming" if roaming else "Local"))
    if sys.platform == "darwin":
        return home / "Library" / "Application Support"
    return Path(os.environ.get("XDG_DATA_HOME") or home / ".local" / "share")


def _cache_home(home: Path) -> Path:
    if sys.platform == "darwin":
        return home / "Library" / "Caches"
    if sys.platform == "win32":
        return _app_data(home)
    return Path(os.environ.get("XDG_CACHE_HOME") or home / ".cache")


def _gpt4all_folders(home: Path) -> list[Path]:
    """GPT4All's data folder, and the download folder set in its settings when it moved."""
    folders = [_app_data(home) / "nomic.ai" / "GPT4All"]
    config = (
        home / ".config" / "nomic.ai" / "GPT4All.ini"
        if sys.platform.startswith("linux")
        else _app_data(home, roaming=True) / "nomic.ai" / "GPT4All.ini"
    )
    try:
        for line in config.read_text(encoding="utf-8", errors="replace").splitlines():
            key, _, value = line.partition("=")
            if key.strip() == "modelPath" and value.strip():
                folders.append(Path(value.strip()).expanduser())
    except OSError:
        pass
    return folders


def _hf_hub(home: Path) -> Path:
    env = os.environ
    if env.get("HF_HUB_CACHE"):
        return Path(env["HF_HUB_CACHE"]).expanduser()
    if env.get("HF_HOME"):
        return Path(env["HF_HOME"]).expanduser() / "hub"
    return Path(os.environ.get("XDG_CACHE_HOME") or home / ".cache") / "huggingface" / "hub"


def _llama_cache(home: Path) -> Path:
    if os.environ.get("LLAMA_CACHE"):
        return Path(os.environ["LLAMA_CACHE"]).expanduser()
    return _cache_home(home) / "llama.cpp"


# ------------------------------------------------------------------ the candidates of each


def _candidates(
    settings: Settings, include_demo: bool, result: ScanResult
) -> Iterator[tuple[str, Path, str, Path]]:
    """(source, root, name, path) for every file that may be a model."""
    if include_demo:
        try:
            demo = demo_model_path()
            yield "demo", demo.parent, "demo", demo
        except ModelError as exc:
            log.info("no demo model: %s", exc.message)
    walkers = {"ollama": _ollama, "jan": _jan, "huggingface": _huggingface}
    searched: set[Path] = set()
    for source, root in roots(settings):
        if not root.is_dir() or root.resolve() in searched:
            continue
        searched.add(root.resolve())
        result.searched.append((source, str(root)))
        for name, path in walkers.get(source, _gguf_files)(root):
            yield source, root, name, path


def _gguf_files(root: Path) -> Iterator[tuple[str, Path]]:
    """Every ``.gguf`` file under ``root`` (hidden folders skipped), once per split model."""
    folders = 0
    for folder, subfolders, files in os.walk(root):
        here = Path(folder)
        depth = len(here.relative_to(root).parts)
        folders += 1
        if depth >= _MAX_DEPTH or folders > _MAX_FOLDERS:
            subfolders.clear()
        subfolders[:] = sorted(d for d in subfolders if not d.startswith("."))
        for file in sorted(files):
            if not file.lower().endswith(".gguf"):
                continue
            part = SPLIT_PART.search(file)
            if part and int(part.group(1)) != 1:
                continue
            yield (here / file).relative_to(root).as_posix(), here / file


def _ollama(root: Path) -> Iterator[tuple[str, Path]]:
    """The model layer of every manifest: ``name:tag`` and its ``blobs/sha256-<hex>`` file."""
    manifests = root / "manifests"
    tagged = sorted(
        (p for p in manifests.rglob("*") if p.is_file()),
        key=lambda p: (p.name == "latest", str(p)),  # "llama3.2:3b" names a blob before ":latest"
    )
    for manifest in tagged:
        try:
            layers = json.loads(manifest.read_text(encoding="utf-8")).get("layers", [])
        except (OSError, ValueError, AttributeError) as exc:
            log.debug("unreadable Ollama manifest %s: %s", manifest, exc)
            continue
        for layer in layers:
            if not isinstance(layer, dict) or layer.get("mediaType") != OLLAMA_MODEL_LAYER:
                continue
            digest = str(layer.get("digest", ""))
            for blob in (digest.replace(":", "-"), digest):
                if (root / "blobs" / blob).is_file():
                    yield _ollama_name(manifest.relative_to(manifests)), root / "blobs" / blob
                    break


def _ollama_name(relative: Path) -> str:
    """``registry.ollama.ai/library/llama3.2/3b`` → ``llama3.2:3b``; other namespaces and
    hosts keep their prefix (``hf.co/org/repo:Q4_K_M``)."""
    *where, model, tag = relative.parts
    if where[:2] == ["registry.ollama.ai", "library"]:
        where = where[2:]
    elif where[:1] == ["registry.ollama.ai"]:
        where = where[1:]
    return "/".join([*where, model]) + f":{tag}"


def _jan(root: Path) -> Iterator[tuple[str, Path]]:
    """Jan: the ``model_path`` of each ``model.yml``; older Jan: the .gguf files of a folder."""
    for folder in sorted(p for p in root.iterdir() if p.is_dir()):
        description = folder / "model.yml"
        if not description.is_file():
            yield from ((name, path) for name, path in _gguf_files(folder))
            continue
        fields = _yaml_fields(description)
        model_path = fields.get("model_path", "")
        data = root.parent.parent  # .../Jan/data/llamacpp/models → .../Jan/data
        for path in (Path(model_path), data / model_path, folder / model_path):
            if model_path and path.is_file():
                yield fields.get("name") or folder.name, path
                break
        else:
            yield from ((folder.name, path) for _, path in _gguf_files(folder))


def _yaml_fields(path: Path) -> dict[str, str]:
    """The top-level ``key: value`` lines of a small YAML file (enough for Jan's model.yml)."""
    fields: dict[str, str] = {}
    try:
        lines = path.read_text(encoding="utf-8", errors="replace").splitlines()
    except OSError:
        return fields
    for line in lines:
        if line[:1].isspace() or ":" not in line:
            continue
        key, _, value = line.partition(":")
        fields[key.strip()] = value.strip().strip("'\"")
    return fields


def _huggingface(root: Path) -> Iterator[tuple[str, Path]]:
    """``models--ORG--NAME/snapshots/REV/*.gguf`` → ``ORG/NAME/file.gguf``."""
    for repo in sorted(root.glob("models--*")):
        name = "/".join(repo.name.split("--")[1:])
        for snapshot in sorted((repo / "snapshots").glob("*")):
            for relative, path in _gguf_files(snapshot):
                yield f"{name}/{relative}", path
