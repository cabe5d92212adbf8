"""Shared fixtures: every test gets its own data dir; libraries live in tmp_path."""

from __future__ import annotations

import json
import os
import shutil
import tempfile
import time
from pathlib import Path

import pytest

# Qt renders offscreen in tests (set before any Qt import).
os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
# Module-scoped fixtures (a loaded model) are made before the per-test home below: they too
# must never write into the real data folder (the model's saved prompt states).
os.environ["RLM_DESKTOP_HOME"] = tempfile.mkdtemp(prefix="rlm-test-home-")

from rlm_desktop.store import Library

DATA = Path(__file__).parent / "data"
SAMPLES = Path(__file__).parent.parent / "resources" / "samples"


@pytest.fixture(scope="module")
def library_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The bundled samples ingested once per module (a module asking about other documents
    defines its own)."""
    from rlm_desktop.ingest import pipeline

    folder = tmp_path_factory.mktemp("samples-lib")
    shutil.copytree(SAMPLES, folder / "docs")
    with Library(folder / "lib") as lib:
        pipeline.ingest(lib, [folder / "docs"])
    return folder / "lib"


def scripted(tmp_path: Path, root, sub=(), **kwargs):
    """An RLM whose models replay ``root`` and ``sub``, and the list its events go to."""
    from rlm_desktop import RLM

    script = tmp_path / f"script-{time.monotonic_ns()}.json"
    script.write_text(json.dumps({"root": list(root), "sub": list(sub)}))
    events: list = []
    rlm = RLM(f"replay:{script}", on_event=events.append, **kwargs)
    return rlm, events


def repl(code: str) -> str:
    """A model reply holding one code block."""
    return f"```repl\n{code}\n```"


@pytest.fixture(autouse=True)
def isolated_home(tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch):
    """Point RLM_DESKTOP_HOME at a fresh folder so no test touches real user data."""
    home = tmp_path_factory.mktemp("home")
    monkeypatch.setenv("RLM_DESKTOP_HOME", str(home))
    return home


@pytest.fixture
def library(tmp_path: Path):
    """An empty library in a temporary folder."""
    with Library(tmp_path / "library") as lib:
        yield lib


def passages_tile(lib: Library, doc_id: int) -> bool:
    """True when every passage is exactly the slice of the document text it claims."""
    text = lib.document_text(doc_id)
    previous_end = 0
    for passage in lib.passages(doc_id):
        if passage.start != previous_end or text[passage.start : passage.end] != passage.text:
            return False
        if passage.line_start != text.count("\n", 0, passage.start) + 1:
            return False
        previous_end = passage.end
    return previous_end == len(text)
