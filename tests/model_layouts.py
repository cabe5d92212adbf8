"""Model files for tests: the demo GGUF's header, tiny GGUF files written from scratch, and
the folders LM Studio, GPT4All, Ollama, Jan and the Hugging Face and llama.cpp caches keep
them in, under a temporary HOME."""

from __future__ import annotations

import hashlib
import json
import os
import struct
from functools import cache
from pathlib import Path

import pytest

from rlm_desktop.llm import discovery
from rlm_desktop.llm.spec import demo_model_path

_MODEL_PLACES = (
    "OLLAMA_MODELS",
    "HF_HOME",
    "HF_HUB_CACHE",
    "LLAMA_CACHE",
    "XDG_DATA_HOME",
    "XDG_CACHE_HOME",
    "XDG_CONFIG_HOME",
)
# The demo model's header and tensor list end well before this: a copy of its first bytes
# reads as the demo model (same name, parameters, context) without its 94 MB of weights.
HEADER_BYTES = 4 * 2**20


@cache
def demo_header() -> bytes:
    """The first bytes of the demo GGUF: a valid header for the discovery and fit tests."""
    with open(demo_model_path(), "rb") as handle:
        return handle.read(HEADER_BYTES)


def header_copy(path: Path) -> Path:
    """Write a copy of the demo model's header at ``path``."""
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(demo_header())
    return path


def empty_home(folder: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Make ``folder`` HOME, with no variable or system folder pointing at the models of the
    machine the tests run on."""
    folder.mkdir(parents=True, exist_ok=True)
    monkeypatch.setenv("HOME", str(folder))
    for name in _MODEL_PLACES:
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setattr(discovery, "SYSTEM_OLLAMA", ())
    return folder


def _string(text: str) -> bytes:
    data = text.encode()
    return struct.pack("<Q", len(data)) + data


def _value(value: object) -> bytes:
    if isinstance(value, str):
        return struct.pack("<I", 8) + _string(value)
    if isinstance(value, list):
        return struct.pack("<IIQ", 9, 4, len(value)) + b"".join(struct.pack("<I", v) for v in value)
    return struct.pack("<I", 4) + struct.pack("<I", value)


def tiny_gguf(
    path: Path,
    architecture: str = "qwen2",
    context: int = 32768,
    layers: int = 28,
    heads: int = 28,
    kv_heads: int | list[int] = 4,
    embedding: int = 3584,
    file_type: int = 15,
    general_type: str = "model",
    extra: dict[str, object] | None = None,
    parameters: int = 64_000,
) -> Path:
    """A GGUF header with the given shape and one tensor of ``parameters`` (no weights
    follow)."""
    arch = architecture
    meta: dict[str, object] = {
        "general.architecture": arch,
        "general.type": general_type,
        "general.name": path.stem,
        "general.file_type": file_type,
        f"{arch}.context_length": context,
        f"{arch}.block_count": layers,
        f"{arch}.attention.head_count": heads,
        f"{arch}.attention.head_count_kv": kv_heads,
        f"{arch}.embedding_length": embedding,
        **(extra or {}),
    }
    body = b"GGUF" + struct.pack("<IQQ", 3, 1, len(meta))
    for key, value in meta.items():
        body += _string(key) + _value(value)
    shape = struct.pack("<QQ", 1000, parameters // 1000)
    body += _string("token_embd.weight") + struct.pack("<I", 2) + shape
    body += struct.pack("<IQ", 0, 0)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(body)
    return path


def fake_home(home: Path) -> dict[str, Path]:
    """LM Studio, GPT4All, Ollama, Jan, Hugging Face and llama.cpp layouts under ``home``,
    each holding its own copy of the demo header; returns the model file of each."""
    files: dict[str, Path] = {}
    files["lmstudio"] = header_copy(
        home / ".lmstudio/models/lmstudio-community/SmolLM2-GGUF/SmolLM2-Q4_1.gguf"
    )
    files["lmstudio-old"] = header_copy(
        home / ".cache/lm-studio/models/TheBloke/Old-GGUF/old-model.Q4_1.gguf"
    )
    tiny_gguf(
        home / ".lmstudio/models/lmstudio-community/SmolLM2-GGUF/mmproj-SmolLM2-f16.gguf",
        architecture="clip",
        general_type="mmproj",
    )
    gpt4all = home / ".local/share/nomic.ai/GPT4All"
    files["gpt4all"] = header_copy(gpt4all / "gpt4all-smol.Q4_1.gguf")
    (gpt4all / "broken.gguf").write_text("this is not a model")

    ollama = home / ".ollama/models"
    blob = demo_header()
    digest = hashlib.sha256(blob).hexdigest()
    files["ollama"] = ollama / "blobs" / f"sha256-{digest}"
    files["ollama"].parent.mkdir(parents=True)
    files["ollama"].write_bytes(blob)
    projector = tiny_gguf(ollama / "blobs" / "sha256-projector", architecture="clip")
    manifest = {
        "schemaVersion": 2,
        "layers": [
            {"mediaType": "application/vnd.ollama.image.model", "digest": f"sha256:{digest}"},
            {"mediaType": "application/vnd.ollama.image.projector", "digest": "sha256:projector"},
            {"mediaType": "application/vnd.ollama.image.template", "digest": "sha256:template"},
        ],
    }
    for tag in ("latest", "135m"):
        path = ollama / "manifests/registry.ollama.ai/library/smollm2" / tag
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(manifest))
    assert projector.exists()

    jan = home / ".local/share/Jan/data/llamacpp/models/smollm2-135m"
    files["jan"] = header_copy(jan / "model.gguf")
    (jan / "model.yml").write_text(
        "model_path: llamacpp/models/smollm2-135m/model.gguf\nname: SmolLM2 135M (Jan)\n"
        "size_bytes: 4194304\nembedding: false\n"
    )

    repo = home / ".cache/huggingface/hub/models--bartowski--SmolLM2-GGUF"
    blob_path = header_copy(repo / "blobs" / digest)
    snapshot = repo / "snapshots" / "0123abcd" / "SmolLM2-Q8_0.gguf"
    snapshot.parent.mkdir(parents=True)
    os.symlink(os.path.relpath(blob_path, snapshot.parent), snapshot)
    files["huggingface"] = snapshot

    files["llama.cpp"] = header_copy(home / ".cache/llama.cpp/bartowski_SmolLM2-GGUF_Q4_1.gguf")
    return files
