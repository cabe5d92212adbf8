"""Will a model fit: its memory at the context size the app will use, against this computer's.

The estimate is the rule of thumb the README gives: the file (the weights), plus for each
llama.cpp context the app opens on the model a KV cache of
Σ layers × n_ctx × n_head_kv × (key length + value length) × bytes per element, plus a compute
buffer. The app opens two contexts on a model by default: its own conversation, and one for
batched sub-calls (``batching.py``). It is compared with free memory (RAM, and VRAM when
llama.cpp was built with a GPU); a model that needs more than the computer has in all is
refused before llama.cpp tries to load it.
"""

from __future__ import annotations

import functools
import logging
import os
import shutil
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

from rlm_desktop.llm.base import ModelError
from rlm_desktop.llm.gguf import GGUFInfo

log = logging.getLogger(__name__)

# Cap the default context: the KV cache of a 128K-token window does not fit a laptop.
DEFAULT_CTX_CAP = 8192
# The contexts the app opens on a model that answers the root loop and batched sub-calls.
CONTEXTS = 2
# Bytes per KV element by cache type (quantized blocks carry a scale).
_KV_BYTES = {"": 2.0, "f16": 2.0, "bf16": 2.0, "f32": 4.0, "q8_0": 34 / 32, "q4_0": 18 / 32}
_UBATCH = 512  # tokens llama.cpp computes at once
FITS, TIGHT, TOO_BIG = "fits", "tight", "too big"
_FITS_SHARE = 0.8  # above this share of free memory a model is "tight"
# Architectures whose cache is not one plain KV per layer: their estimate is an upper bound.
_ROUGH_ARCHITECTURES = {"deepseek2", "deepseek3", "jamba", "mamba", "mamba2", "rwkv6", "rwkv7"}


def planned_context(info: GGUFInfo, n_ctx: int = 0) -> int:
    """The context the app will give the model: the setting, else the trained one, capped."""
    return n_ctx or min(info.context_length or 4096, DEFAULT_CTX_CAP)


@dataclass(frozen=True)
class MemoryEstimate:
    """Bytes a model needs, part by part, and why the figure may be rough."""

    weights: int
    kv_cache: int  # per context
    compute: int  # per context
    contexts: int
    n_ctx: int
    rough: str = ""  # empty when the formula holds for this architecture

    @property
    def total(self) -> int:
        """All of it together."""
        return self.weights + self.contexts * (self.kv_cache + self.compute)


def estimate_memory(
    info: GGUFInfo, n_ctx: int = 0, kv_type: str = "", contexts: int = CONTEXTS
) -> MemoryEstimate:
    """The memory ``info``'s model needs at the context the app will use."""
    n_ctx = planned_context(info, n_ctx)
    per_element = _KV_BYTES.get(kv_type.lower(), 2.0)
    per_token = info.kv_heads_all_layers * (info.key_length + info.value_length)
    kv = int(n_ctx * per_token * per_element)
    compute = 4 * _UBATCH * (info.vocab_size + n_ctx * info.head_count // 2)
    return MemoryEstimate(info.file_size, kv, compute, contexts, n_ctx, rough_because(info))


def rough_because(info: GGUFInfo) -> str:
    """Why the KV formula over- or under-counts this model ("" when it holds)."""
    if info.sliding_window:
        return (
            f"rough: some layers attend to only {info.sliding_window:,} tokens "
            "(sliding window), so it probably needs less"
        )
    if info.recurrent:
        return "rough: a hybrid model with recurrent layers keeps a state instead of a KV cache"
    if info.kv_lora_rank or info.architecture in _ROUGH_ARCHITECTURES:
        return "rough: this architecture stores its attention cache in another form"
    if not info.kv_heads_all_layers:
        return "rough: the file does not say how many attention heads its layers have"
    return ""


@dataclass(frozen=True)
class Memory:
    """This computer's memory in bytes; VRAM is 0 without a GPU build of llama.cpp."""

    ram_total: int
    ram_free: int
    vram_total: int = 0
    vram_free: int = 0

    @property
    def free(self) -> int:
        """What a model may use now."""
        return self.ram_free + self.vram_free

    @property
    def total(self) -> int:
        """What a model could use with every other program closed."""
        return self.ram_total + self.vram_total


@dataclass(frozen=True)
class Fit:
    """A model's estimate against the computer's memory: fits, tight or too big."""

    verdict: str
    estimate: MemoryEstimate
    memory: Memory

    def explain(self) -> str:
        """The numbers behind the verdict, for a tooltip or ``models info``."""
        e, m = self.estimate, self.memory
        per_context = "" if e.contexts == 1 else f"{e.contexts} × "
        lines = [
            f"About {gib(e.total)} with a context of {e.n_ctx:,} tokens: "
            f"the file {gib(e.weights)}, KV cache {per_context}{gib(e.kv_cache)}, "
            f"compute buffer {per_context}{gib(e.compute)}.",
            f"Free now: {gib(m.ram_free)} of {gib(m.ram_total)} RAM"
            + (f", {gib(m.vram_free)} of {gib(m.vram_total)} VRAM." if m.vram_total else "."),
        ]
        if e.contexts > 1:
            lines.append(
                "(The model's own conversation and batched sub-calls each have a context.)"
            )
        if e.rough:
            lines.append(e.rough[0].upper() + e.rough[1:] + ".")
        return "\n".join(lines)


def judge(estimate: MemoryEstimate, memory: Memory) -> Fit:
    """The verdict on a model's estimate."""
    return Fit(verdict(estimate.total, memory), estimate, memory)


def verdict(needed: int, memory: Memory) -> str:
    """Fits under 80% of free memory, tight up to all of it, too big beyond."""
    if needed <= _FITS_SHARE * memory.free:
        return FITS
    return TIGHT if needed <= memory.free else TOO_BIG


def check_loadable(info: GGUFInfo, estimate: MemoryEstimate, memory: Memory) -> None:
    """Raise ModelError when the model needs more memory than this computer has in all."""
    if estimate.total <= memory.total:
        return
    raise ModelError(
        f"{info.name} needs about {gib(estimate.total)} of memory with a context of "
        f"{estimate.n_ctx:,} tokens, more than this computer's {gib(memory.total)}: choose a "
        "smaller model or quantization (`rlm-desktop models list`), or lower the context size "
        "in Settings"
    )


def gib(size: int) -> str:
    """Bytes as people read them: 4.7 GB, 180 MB."""
    if size >= 2**30:
        return f"{size / 2**30:.1f} GB"
    return f"{size / 2**20:.0f} MB"


# ------------------------------------------------------------------ this computer


def system_memory(gpu_layers: int = -1) -> Memory:
    """Total and free RAM, and VRAM when llama.cpp can offload to a GPU and layers go there."""
    ram_total, ram_free = _ram()
    vram_total = vram_free = 0
    if gpu_layers != 0 and gpu_offload():
        vram_total, vram_free = nvidia_vram()
    return Memory(ram_total, ram_free, vram_total, vram_free)


@functools.cache
def gpu_offload() -> bool:
    """True when the installed llama.cpp was built with a GPU backend."""
    try:
        import llama_cpp
    except ImportError:
        return False
    return bool(llama_cpp.llama_supports_gpu_offload())


def nvidia_vram() -> tuple[int, int]:
    """(total, free) bytes of the NVIDIA GPUs, from nvidia-smi; (0, 0) when there is none."""
    tool = shutil.which("nvidia-smi")
    if tool is None:
        return 0, 0
    try:
        text = subprocess.run(
            [tool, "--query-gpu=memory.total,memory.free", "--format=csv,noheader,nounits"],
            capture_output=True,
            text=True,
            timeout=5,
            check=True,
        ).stdout
    except (OSError, subprocess.SubprocessError) as exc:
        log.debug("nvidia-smi failed: %s", exc)
        return 0, 0
    return parse_nvidia_smi(text)


def parse_nvidia_smi(text: str) -> tuple[int, int]:
    """Sum the ``total, free`` MiB lines of nvidia-smi's CSV output, in bytes."""
    total = free = 0
    for line in text.splitlines():
        parts = [p.strip() for p in line.split(",")]
        if len(parts) == 2 and all(p.isdigit() for p in parts):
            total += int(parts[0]) * 2**20
            free += int(parts[1]) * 2**20
    return total, free


def _ram() -> tuple[int, int]:
    """(total, available) RAM in bytes."""
    if sys.platform.startswith("linux"):
        values = _meminfo(Path("/proc/meminfo"))
        if "MemTotal" in values:
            return values["MemTotal"], values.get("MemAvailable", values.get("MemFree", 0))
    if sys.platform == "win32":
        return _windows_ram()
    total = _sysconf("SC_PHYS_PAGES")
    free = _sysconf("SC_AVPHYS_PAGES") or _darwin_free() or total // 2
    return total, free


def _meminfo(path: Path) -> dict[str, int]:
    values = {}
    try:
        for line in path.read_text().splitlines():
            name, _, rest = line.partition(":")
            number = rest.split()
            if number and number[0].isdigit():
                values[name] = int(number[0]) * 1024
    except OSError:
        pass
    return values


def _sysconf(name: str) -> int:
    try:
        return os.sysconf(name) * os.sysconf("SC_PAGE_SIZE")
    except (ValueError, OSError, AttributeError):
        return 0


def _darwin_free() -> int:
    """Free, inactive and speculative pages on macOS (vm_stat), in bytes."""
    try:
        text = subprocess.run(["vm_stat"], capture_output=True, text=True, timeout=5).stdout
    except (OSError, subprocess.SubprocessError):
        return 0
    page = 16384 if "page size of 16384" in text else 4096
    wanted = ("Pages free", "Pages inactive", "Pages speculative")
    pages = 0
    for line in text.splitlines():
        name, _, value = line.partition(":")
        if name.strip() in wanted and value.strip().rstrip(".").isdigit():
            pages += int(value.strip().rstrip("."))
    return pages * page


def _windows_ram() -> tuple[int, int]:
    import ctypes

    class Status(ctypes.Structure):
        _fields_ = [
            ("length", ctypes.c_ulong),
            ("load", ctypes.c_ulong),
            ("total", ctypes.c_ulonglong),
            ("available", ctypes.c_ulonglong),
            ("page_total", ctypes.c_ulonglong),
            ("page_free", ctypes.c_ulonglong),
            ("virtual_total", ctypes.c_ulonglong),
            ("virtual_free", ctypes.c_ulonglong),
            ("extended", ctypes.c_ulonglong),
        ]

    status = Status()
    status.length = ctypes.sizeof(Status)
    ctypes.windll.kernel32.GlobalMemoryStatusEx(ctypes.byref(status))  # type: ignore[attr-defined]
    return int(status.total), int(status.available)


# ------------------------------------------------------------------ fit for the method

# The RLM root loop keeps its instructions, the question, code, outputs and a 768-token
# answer in one window; below this it cannot hold even two turns.
MIN_ROOT_CONTEXT = 4096
# Under this a model rarely writes working code: fine to try the app, not for real answers.
MIN_CODER_PARAMETERS = 1_000_000_000


def too_small_for_rlm(info: GGUFInfo, n_ctx: int = 0) -> str:
    """A sentence saying why the model cannot run the root loop ("" when it can)."""
    window = planned_context(info, n_ctx)
    if window >= MIN_ROOT_CONTEXT:
        return ""
    if info.context_length and info.context_length < MIN_ROOT_CONTEXT:
        fix = "choose a model with a longer context (most 3-14B models hold 32,768 tokens)"
    else:
        fix = f"raise the context size in Settings to at least {MIN_ROOT_CONTEXT:,}"
    return (
        f"{info.name} gets a context of {window:,} tokens, too small for the RLM method, which "
        f"needs {MIN_ROOT_CONTEXT:,} for its instructions, code and outputs: {fix}"
    )


def weak_coder_note(info: GGUFInfo) -> str:
    """A note for models too small to write good code ("" for the others)."""
    if 0 < info.parameters < MIN_CODER_PARAMETERS:
        return "too small to write good code: fine for trying the app, not for real answers"
    return ""
