"""Read a GGUF file's metadata (architecture, size, quantization, context, attention shape,
chat template) without loading the model, and refuse files that are not GGUF with a clear
message. A split model (``-00001-of-00003.gguf``) is read as one: its parameters and size
are those of all its parts."""

from __future__ import annotations

import math
import re
import struct
from dataclasses import dataclass
from pathlib import Path
from typing import Any, BinaryIO

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
# Numeric arrays up to this length are decoded (per-layer head counts); longer ones, like a
# vocabulary's token types, are skipped.
_DECODED_ARRAY = 4096
SPLIT_PART = re.compile(r"-(\d{5})-of-(\d{5})\.gguf$", re.IGNORECASE)
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
class _Skipped:
    """A long array that was read past, not decoded: only its length is kept."""

    length: int


@dataclass(frozen=True)
class GGUFInfo:
    """What a GGUF file says about its model (all parts of a split model together)."""

    path: str
    architecture: str
    name: str
    parameters: int
    quantization: str
    context_length: int
    chat_template: str | None
    file_size: int
    kind: str = "model"  # general.type: model, mmproj (a vision projector) or adapter
    block_count: int = 0
    head_count: int = 0
    head_count_kv: int = 0  # the most of any layer
    kv_heads_all_layers: int = 0  # the sum over layers: what the KV cache scales with
    key_length: int = 0
    value_length: int = 0
    embedding_length: int = 0
    vocab_size: int = 0
    sliding_window: int = 0  # 0: every layer attends to the whole context
    recurrent: bool = False  # has state-space or RWKV layers (a hybrid or recurrent model)
    kv_lora_rank: int = 0  # compressed (MLA) attention, as in DeepSeek V2/V3
    split_count: int = 1

    @property
    def is_projector(self) -> bool:
        """A vision projector (mmproj): a companion file, not a chat model."""
        return self.kind == "mmproj" or self.architecture == "clip"

    def summary(self) -> str:
        """One line for people: name, size, quantization, context."""
        template = "chat template" if self.chat_template else "no chat template"
        return (
            f"{self.name} ({self.architecture}, {parameter_label(self.parameters)} parameters, "
            f"{self.quantization}, {self.context_length:,}-token context, {template}, "
            f"{self.file_size / 2**20:,.0f} MB)"
        )


def parameter_label(parameters: int) -> str:
    """135M, 7.6B: a parameter count as people write it."""
    if parameters >= 1e9:
        return f"{parameters / 1e9:.1f}B"
    return f"{parameters / 1e6:.0f}M"


class _Reader:
    """Reads a header from a buffer refilled from the file: long vocabularies are walked past
    in memory instead of with one read per token."""

    _CHUNK = 1 << 20

    def __init__(self, handle: BinaryIO) -> None:
        self.handle = handle
        self.buffer = b""
        self.pos = 0
        self.version = 3
        self.version = self.unpack("<I")

    def _ensure(self, size: int) -> None:
        if self.pos + size > len(self.buffer):
            more = self.handle.read(max(size, self._CHUNK))
            self.buffer = self.buffer[self.pos :] + more
            self.pos = 0
            if len(self.buffer) < size:
                raise EOFError("truncated GGUF header")

    def unpack(self, fmt: str) -> Any:
        size = struct.calcsize(fmt)
        self._ensure(size)
        value = struct.unpack_from(fmt, self.buffer, self.pos)[0]
        self.pos += size
        return value

    def skip(self, size: int) -> None:
        if self.pos + size <= len(self.buffer):
            self.pos += size
        else:
            self.handle.seek(size - (len(self.buffer) - self.pos), 1)
            self.buffer, self.pos = b"", 0

    def _skip_strings(self, length: int) -> None:
        """Walk past ``length`` strings of a v2+ header (the hot loop of a scan)."""
        if self.version < 2:
            for _ in range(length):
                self.skip(self.count())
            return
        unpack_from, left = struct.unpack_from, length
        while left:
            self._ensure(8)
            buffer, pos, end = self.buffer, self.pos, len(self.buffer) - 8
            while left and pos <= end:
                size = unpack_from("<Q", buffer, pos)[0]
                if pos + 8 + size > len(buffer):
                    break
                pos += 8 + size
                left -= 1
            self.pos = pos
            if left and pos <= end:  # one string runs past the buffer
                self.skip(8 + unpack_from("<Q", buffer, pos)[0])
                left -= 1

    def count(self) -> int:
        return self.unpack("<Q" if self.version >= 2 else "<I")

    def string(self) -> str:
        length = self.count()
        if length > 1 << 26:
            raise ValueError("implausible string length")
        self._ensure(length)
        text = self.buffer[self.pos : self.pos + length].decode("utf-8", "replace")
        self.pos += length
        return text

    def value(self, kind: int) -> Any:
        if kind in _SCALARS:
            return self.unpack(_SCALARS[kind])
        if kind == _STRING:
            return self.string()
        if kind == _ARRAY:
            item_kind, length = self.unpack("<I"), self.count()
            if length > 1 << 28:
                raise ValueError("implausible array length")
            if item_kind in _SCALARS:
                fmt = _SCALARS[item_kind]
                if length > _DECODED_ARRAY:
                    self.skip(struct.calcsize(fmt) * length)
                    return _Skipped(length)
                return [self.unpack(fmt) for _ in range(length)]
            if item_kind == _STRING and length >= 16:  # e.g. the vocabulary: read past it
                self._skip_strings(length)
                return _Skipped(length)
            return [self.value(item_kind) for _ in range(length)]
        raise ValueError(f"unknown GGUF value type {kind}")


def read_gguf(path: str | Path) -> GGUFInfo:
    """Read a GGUF header; raise ModelError if the file is missing or not GGUF."""
    path = Path(path).expanduser()
    meta, parameters = _read_header(path)
    size = path.stat().st_size
    split_count = int(meta.get("split.count") or 1)
    if split_count > 1 and SPLIT_PART.search(path.name):
        for part in split_parts(path, split_count)[1:]:
            if not part.exists():
                raise ModelError(
                    f"{path.name} is the first of {split_count} parts of a model, and "
                    f"{part.name} is missing: download every part into the same folder"
                )
            parameters += _read_header(part)[1]
            size += part.stat().st_size
    return _info(path, meta, parameters, size, split_count)


def split_parts(first: Path, count: int) -> list[Path]:
    """The files of a split model, from its first part's name."""
    match = SPLIT_PART.search(first.name)
    if match is None:
        return [first]
    stem = first.name[: match.start()]
    return [first.with_name(f"{stem}-{n:05d}-of-{count:05d}.gguf") for n in range(1, count + 1)]


def _read_header(path: Path) -> tuple[dict[str, Any], int]:
    """The metadata and the parameter count of one file."""
    try:
        handle = open(path, "rb")  # noqa: SIM115 (closed below)
    except OSError as exc:
        raise ModelError(
            f"cannot open the model file {path}: {exc.strerror or exc}; choose another model "
            "(`rlm-desktop models list` shows the ones on this computer)"
        ) from exc
    with handle:
        if handle.read(4) != _MAGIC:
            raise ModelError(
                f"{path.name} is not a GGUF model file, the only kind this app can run: choose a "
                ".gguf file, or download one (`rlm-desktop models list` shows recommended ones)"
            )
        try:
            return _parse(handle)
        except (EOFError, ValueError, struct.error, UnicodeDecodeError) as exc:
            raise ModelError(
                f"{path.name} is a damaged GGUF file ({exc}): download it again, or choose "
                "another model"
            ) from exc


def _parse(handle: BinaryIO) -> tuple[dict[str, Any], int]:
    reader = _Reader(handle)
    tensors, pairs = reader.count(), reader.count()
    meta: dict[str, Any] = {}
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
    return meta, parameters


def _number(value: Any, default: int = 0) -> int:
    """A scalar metadata value, or the largest of an array of them."""
    if isinstance(value, list):
        return int(max(value, default=default))
    return int(value) if isinstance(value, int | float) and not isinstance(value, bool) else default


def _info(
    path: Path, meta: dict[str, Any], parameters: int, size: int, split_count: int
) -> GGUFInfo:
    arch = str(meta.get("general.architecture", "unknown"))

    def key(name: str) -> Any:
        return meta.get(f"{arch}.{name}")

    file_type = meta.get("general.file_type")
    layers = _number(key("block_count"))
    heads = _number(key("attention.head_count"))
    kv = key("attention.head_count_kv")
    per_layer = kv if isinstance(kv, list) else [_number(kv, heads)] * layers
    embedding = _number(key("embedding_length"))
    head_size = embedding // heads if heads else 0
    tokens = meta.get("tokenizer.ggml.tokens")
    vocab = tokens.length if isinstance(tokens, _Skipped) else len(tokens or [])
    template = meta.get("tokenizer.chat_template")
    return GGUFInfo(
        path=str(path.resolve()),
        architecture=arch,
        name=str(meta.get("general.name") or path.stem),
        parameters=parameters,
        quantization=_FILE_TYPES.get(file_type, f"type {file_type}")
        if file_type is not None
        else "unknown",
        context_length=_number(key("context_length")),
        chat_template=template if isinstance(template, str) else None,
        file_size=size,
        kind=str(meta.get("general.type") or "model"),
        block_count=layers,
        head_count=heads,
        head_count_kv=max(per_layer, default=0),
        kv_heads_all_layers=sum(per_layer),
        key_length=_number(key("attention.key_length"), head_size),
        value_length=_number(key("attention.value_length"), head_size),
        embedding_length=embedding,
        vocab_size=vocab or _number(key("vocab_size")),
        sliding_window=_number(key("attention.sliding_window")),
        recurrent=any(k.startswith((f"{arch}.ssm.", f"{arch}.wkv.")) for k in meta),
        kv_lora_rank=_number(key("attention.kv_lora_rank")),
        split_count=split_count,
    )
