"""Where RLM Desktop keeps its data: one function decides, one variable overrides."""

from __future__ import annotations

import os
from pathlib import Path

import platformdirs

HOME_ENV = "RLM_DESKTOP_HOME"


def data_dir() -> Path:
    """Return the user data directory (``$RLM_DESKTOP_HOME`` when set)."""
    override = os.environ.get(HOME_ENV)
    if override:
        return Path(override).expanduser().resolve()
    return Path(platformdirs.user_data_dir("rlm-desktop", appauthor=False))


def default_library_dir() -> Path:
    """Return the folder of the default library."""
    return data_dir() / "library"


def resources_dir() -> Path:
    """Return the folder holding prompts, icons and the sample documents."""
    return Path(__file__).resolve().parent.parent / "resources"


def samples_dir() -> Path:
    """Return the folder of the bundled sample documents."""
    return resources_dir() / "samples"


def sample_documents() -> list[Path]:
    """The bundled sample documents: the samples folder without its licence files (those
    are shipped beside them and shown in About, not ingested as documents)."""
    return sorted(
        path
        for path in samples_dir().iterdir()
        if path.is_file() and not path.name.upper().startswith(("LICENSE", "NOTICE"))
    )
