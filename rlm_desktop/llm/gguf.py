"""Read a GGUF file's metadata (architecture, size, quantization, context, chat template)
without loading the model, and refuse files that are not GGUF with a clear message."""

from __future__ import annotations

import math
import struct
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

from rlm_desktop.llm.base import ModelError

_MAGIC = b"GGUF"
_SCALARS = {
    0: "<B",
    1: "<b",
    2: "<H",
    3: "<h",
    4: "<I",
    5: "<i",
    6: "<f",
    7: "<?",
    10: "<Q",
    11: "<q",
    12: "<d",
}
_STRING, _ARRAY = 8, 9
# llama.cpp's LLAMA_FTYPE values for the quantizations people actually download.
_FILE_TYPES = {
    0: "F32",
    1: "F16",
    2: "Q4_0",
    3: "Q4_1",
    7: "Q8_0",
    8: "Q5_0",
    9: "Q5_1",
    10: "Q2_K",
    11: "Q3_K_S",
    12: "Q3_K_M",
    13: "Q3_K_L",
    14: "Q4_K_S",
    15: "Q4_K_M",
    16: "Q5_K_S",
    17: "Q5_K_M",
    18: "Q6_K",
    19: "IQ2_XXS",
    20: "IQ2_XS",
    21: "Q2_K_S",
    22: "IQ3_XS",
    23: "IQ3_XXS",
    24: "IQ1_S",
    25: "IQ4_NL",
    26: "IQ3_S",
    27: "IQ3_M",
    28: "IQ2_S",
    29: "IQ2_M",
    30: "IQ4_XS",
    31: "IQ1_M",
    32: "BF16",
}


@dataclass(frozen=True)
class GGUFInfo:
    """What a GGUF file says about its model."""

    path: str
    architecture: str
    name: str
    parameters: int
    quantization: str
    context_length: int
    chat_template: str | None
    file_size: int

    def summary(self) -> str:
        """One line for people: name, size, quantization, context."""
        params = (
            f"{self.parameters / 1e9:.1f}B"
            if self.parameters >= 1e9
            else (f"{self.parameters / 1e6:.0f}M")
        )
        template = "chat template" if self.chat_template else "no chat template"
        return (
            f"{self.name} ({self.architecture}, {params} parameters, {self.quantization}, "
            f"{self.context_length:,}-token context, {template}, "
            f"{self.file_size / 2**20:,.0f} MB)"
        )


class _Reader:
    def __init__(self, handle: BinaryIO, version: int) -> None:
        self.handle = handle
        self.version = version

    def unpack(self, fmt: str):
        size = struct.calcsize(fmt)
        data = self.handle.read(size)
        if len(data) != size:
            raise EOFError("truncated GGUF header")
        return struct.unpack(fmt, data)[0]

    def count(self) -> int:
        return self.unpack("<Q" if self.version >= 2 else "<I")

    def string(self) -> str:
        length = self.count()
        if length > 1 << 26:
            raise ValueError("implausible string length")
        return self.handle.read(length).decode("utf-8", "replace")

    def value(self, kind: int):
        if kind in _SCALARS:
            return self.unpack(_SCALARS[kind])
        if kind == _STRING:
            return self.string()
        if kind == _ARRAY:
            item_kind, length = self.unpack("<I"), self.count()
            if item_kind in _SCALARS:  # skip numeric arrays without decoding them
                self.handle.seek(struct.calcsize(_SCALARS[item_kind]) * length, 1)
                return None
            items = [self.value(item_kind) for _ in range(length)]  # e.g. the vocabulary
            return items if length < 16 else None
        raise ValueError(f"unknown GGUF value type {kind}")


def read_gguf(path: str | Path) -> GGUFInfo:
    """Read a GGUF header; raise ModelError if the file is missing or not GGUF."""
    path = Path(path).expanduser()
    try:
        handle = open(path, "rb")  # noqa: SIM115 (closed below)
    except OSError as exc:
        raise ModelError(f"cannot open the model file {path}: {exc.strerror or exc}") from exc
    with handle:
        head = handle.read(4)
        if head != _MAGIC:
            raise ModelError(
                f"{path.name} is not a GGUF model file: llama.cpp reads only .gguf files "
                "(convert the model with llama.cpp's convert script, or download a GGUF build)"
            )
        try:
            return _parse(handle, path)
        except (EOFError, ValueError, struct.error, UnicodeDecodeError) as exc:
            raise ModelError(f"{path.name} is a damaged GGUF file: {exc}") from exc


def _parse(handle: BinaryIO, path: Path) -> GGUFInfo:
    version = struct.unpack("<I", handle.read(4))[0]
    reader = _Reader(handle, version)
    tensors, pairs = reader.count(), reader.count()
    meta: dict = {}
    for _ in range(pairs):
        key = reader.string()
        meta[key] = reader.value(reader.unpack("<I"))
    parameters = 0
    for _ in range(tensors):
        reader.string()
        dims = [reader.count() for _ in range(reader.unpack("<I"))]
        reader.unpack("<I")
        reader.unpack("<Q")
        parameters += math.prod(dims)
    arch = str(meta.get("general.architecture", "unknown"))
    file_type = meta.get("general.file_type")
    return GGUFInfo(
        path=str(path.resolve()),
        architecture=arch,
        name=str(meta.get("general.name") or path.stem),
        parameters=parameters,
        quantization=_FILE_TYPES.get(file_type, f"type {file_type}")
        if file_type is not None
        else "unknown",
        context_length=int(meta.get(f"{arch}.context_length") or 0),
        chat_template=meta.get("tokenizer.chat_template"),
        file_size=path.stat().st_size,
    )
