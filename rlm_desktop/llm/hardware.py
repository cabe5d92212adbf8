"""What this computer gives llama.cpp: threads to generate and to read prompts, and how many
layers go to a GPU.

Threads: generation gets the physical cores (hyper-threads share a core's arithmetic units),
prompts and batches get every logical core, and in both cases the cores other programs keep
busy right now are left out. Measured on the development machine (2 cores, other jobs
running, demo model): with the second core busy, one-token steps took 10-20x longer on two
threads than on one, because each of the model's operations waits for the slower thread.
"""

from __future__ import annotations

import math
import os
import subprocess
import sys
import threading
import time
from pathlib import Path

from rlm_desktop.llm.fit import Memory, MemoryEstimate

# Share of free VRAM the model may take: drivers and the desktop need the rest.
_VRAM_SHARE = 0.9


def logical_cores() -> int:
    """CPUs this process may run on (hyper-threads count)."""
    if hasattr(os, "sched_getaffinity"):
        return max(1, len(os.sched_getaffinity(0)))
    return os.cpu_count() or 1


def physical_cores() -> int:
    """Physical cores this process may run on; the logical count where the OS will not say."""
    logical = logical_cores()
    if sys.platform.startswith("linux"):
        found = _linux_cores()
    elif sys.platform == "darwin":
        found = _sysctl_int("hw.physicalcpu")
    else:
        found = 0
    return max(1, min(found, logical)) if found else logical


def _linux_cores() -> int:
    """Distinct (package, core) pairs among the CPUs this process may use."""
    allowed = os.sched_getaffinity(0) if hasattr(os, "sched_getaffinity") else None
    cores = set()
    for cpu in Path("/sys/devices/system/cpu").glob("cpu[0-9]*"):
        number = int(cpu.name[3:])
        if allowed is not None and number not in allowed:
            continue
        try:
            core = (cpu / "topology" / "core_id").read_text().strip()
            package = (cpu / "topology" / "physical_package_id").read_text().strip()
        except OSError:
            return 0
        cores.add((package, core))
    return len(cores)


def _sysctl_int(name: str) -> int:
    try:
        text = subprocess.run(
            ["sysctl", "-n", name], capture_output=True, text=True, timeout=5
        ).stdout
    except (OSError, subprocess.SubprocessError):
        return 0
    return int(text.strip()) if text.strip().isdigit() else 0


def threads(setting: int) -> tuple[int, int]:
    """(threads for one-token steps, threads for prompts and batches); a setting > 0 is both.

    Otherwise the physical and the logical cores, less those other programs keep busy now.
    """
    if setting > 0:
        return setting, setting
    busy = busy_cores()
    return max(1, physical_cores() - busy), max(1, logical_cores() - busy)


def busy_cores() -> int:
    """Cores other programs keep busy: the 1-minute load average less this process's own
    decoding (0 where the OS has no load average)."""
    try:
        load = os.getloadavg()[0]
    except (OSError, AttributeError):
        return 0
    return max(0, round(load - own_load.estimate()))


class OwnLoad:
    """What this process's decode loops add to the 1-minute load average: the same
    exponential average of the threads they run."""

    _MINUTE = 60.0

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._value = 0.0
        self._threads = 0
        self._since = time.monotonic()

    def _settle(self) -> None:
        now = time.monotonic()
        fade = math.exp(-(now - self._since) / self._MINUTE)
        self._value = self._threads + (self._value - self._threads) * fade
        self._since = now

    def add(self, threads: int) -> None:
        """A loop started (positive) or ended (negative) running ``threads`` threads."""
        with self._lock:
            self._settle()
            self._threads = max(0, self._threads + threads)

    def estimate(self) -> float:
        """This process's share of the load average now."""
        with self._lock:
            self._settle()
            return self._value


own_load = OwnLoad()


def gpu_layers(
    setting: int, n_layers: int, estimate: MemoryEstimate, memory: Memory, supported: bool
) -> int:
    """Layers to offload: the setting when it is 0 or more; otherwise (-1, automatic) all of
    them when the model and its caches fit the free VRAM, as many as fit when only some do,
    and none without a GPU build."""
    if setting >= 0:
        return setting
    if not supported or n_layers <= 0:
        return 0
    room = memory.vram_free * _VRAM_SHARE
    if not memory.vram_total:
        # A GPU build that reports no VRAM we can read (Metal shares RAM): trust llama.cpp.
        return n_layers
    if estimate.total <= room:
        return n_layers
    per_layer = estimate.weights / n_layers
    caches = estimate.contexts * (estimate.kv_cache + estimate.compute)
    return max(0, min(n_layers, int((room - caches) // per_layer)))
