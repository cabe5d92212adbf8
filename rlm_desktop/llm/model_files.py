"""The app's own model files: the folder downloads land in, their partial downloads, and
removing them. Files other apps downloaded are never deleted from here."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from rlm_desktop.errors import UsageError
from rlm_desktop.paths import data_dir


def models_dir() -> Path:
    """Where downloaded models are stored (scanned like any model folder)."""
    return data_dir() / "models"


def downloads_dir() -> Path:
    """Where unfinished downloads (``.part`` files) wait to be resumed."""
    return data_dir() / "downloads"


def is_app_model(path: Path) -> bool:
    """True for a file inside the app's models folder."""
    return path.resolve().parent == models_dir().resolve()


@dataclass
class Removal:
    """What ``remove_model`` deleted."""

    removed: list[str] = field(default_factory=list)

    def to_json(self) -> dict:
        """The shape of ``rlm-desktop models remove --json``."""
        return {"removed": self.removed}


def remove_model(path: Path, owner: str = "") -> Removal:
    """Delete a model of the app's models folder, or the unfinished download of that name.

    ``owner`` names the app a file outside the folder belongs to, for the refusal message.
    """
    if path.exists() and not is_app_model(path):
        where = f"it belongs to {owner}" if owner else f"it is not in {models_dir()}"
        raise UsageError(
            f"RLM Desktop deletes only the models it downloaded, and {path} is not one of them "
            f"({where}): delete it there, or with your file manager"
        )
    removal = Removal()
    partial = [downloads_dir() / f"{path.name}.part", downloads_dir() / f"{path.name}.part.json"]
    for file in [path, *partial]:
        if file.exists():
            file.unlink()
            removal.removed.append(str(file))
    if not removal.removed:
        raise UsageError(
            f"there is no model {path.name} in {models_dir()}: "
            "`rlm-desktop models list` shows the downloaded ones"
        )
    return removal
