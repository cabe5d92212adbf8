"""A tiny GGUF LoRA adapter written by hand (tests have no ``gguf`` package): a rank-1
update of some of a model's weights, of a given strength (0: it changes nothing)."""

import struct
from pathlib import Path

import numpy as np

_ALIGN = 32
_STRING, _FLOAT32 = 8, 6
_F32 = 0


def _string(text: str) -> bytes:
    data = text.encode()
    return struct.pack("<Q", len(data)) + data


def write_adapter(
    path: Path, architecture: str, shapes: dict[str, tuple[int, int]], strength: float = 0.0
) -> Path:
    """An adapter for tensors ``name -> (n_in, n_out)`` (llama.cpp's ne0, ne1)."""
    meta = [
        ("general.architecture", _STRING, _string(architecture)),
        ("general.type", _STRING, _string("adapter")),
        ("adapter.type", _STRING, _string("lora")),
        ("adapter.lora.alpha", _FLOAT32, struct.pack("<f", 1.0)),
    ]
    tensors = []
    for name, (n_in, n_out) in shapes.items():
        low = np.random.default_rng(0).standard_normal((1, n_in)).astype(np.float32) * strength
        tensors.append((f"{name}.lora_a", (n_in, 1), low))
        tensors.append((f"{name}.lora_b", (1, n_out), np.ones((n_out, 1), np.float32)))
    out = bytearray(b"GGUF" + struct.pack("<IQQ", 3, len(tensors), len(meta)))
    for key, kind, value in meta:
        out += _string(key) + struct.pack("<I", kind) + value
    offset = 0
    for name, dims, data in tensors:
        out += _string(name) + struct.pack("<I", len(dims))
        out += b"".join(struct.pack("<Q", d) for d in dims)
        out += struct.pack("<IQ", _F32, offset)
        offset += -(-data.nbytes // _ALIGN) * _ALIGN
    out += b"\0" * (-len(out) % _ALIGN)
    for _, _, data in tensors:
        out += data.tobytes() + b"\0" * (-data.nbytes % _ALIGN)
    path.write_bytes(bytes(out))
    return path
