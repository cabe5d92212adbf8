"""The curated models recommended for this app (resources/models/recommended.json)."""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass
from functools import cache

from rlm_desktop.llm.model_files import models_dir
from rlm_desktop.paths import resources_dir


@dataclass(frozen=True)
class Recommended:
    """One recommended download; sizes are rounded, sha256 is None where not known."""

    id: str
    name: str
    repo: str
    file: str
    parameters: str
    size_gb: float
    ram_gb: float
    sha256: str | None
    role: str  # root (writes the code) or sub (answers sub-calls, or a small root)
    why: str

    def downloaded(self) -> bool:
        """True once the file is in the app's models folder."""
        return (models_dir() / self.file).exists()

    def to_json(self) -> dict:
        """The shape ``models list --json`` shows, with whether it is downloaded."""
        return {**asdict(self), "downloaded": self.downloaded()}


@cache
def recommended_models() -> tuple[Recommended, ...]:
    """The recommended list, best first (it ships with the app: no network needed)."""
    data = json.loads((resources_dir() / "models" / "recommended.json").read_text("utf-8"))
    return tuple(Recommended(**entry) for entry in data["models"])


def find_recommended(name: str) -> Recommended | None:
    """The recommended model with this id or file name."""
    wanted = name.strip().lower()
    for model in recommended_models():
        if wanted in (model.id, model.file.lower()):
            return model
    return None


def best_for(free_bytes: int, role: str = "root") -> Recommended | None:
    """The first recommended model of a role that fits in ``free_bytes`` (None if none does);
    for a machine too small for every root model, the smallest sub model."""
    fitting = [m for m in recommended_models() if m.ram_gb * 2**30 <= 0.8 * free_bytes]
    for model in fitting:
        if model.role == role:
            return model
    return fitting[-1] if fitting else None
