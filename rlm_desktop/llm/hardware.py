"""What this computer gives llama.cpp: threads to generate and to read prompts, and how many
layers go to a GPU.

Threads: generation gets the physical cores (hyper-threads share a core's arithmetic units),
prompts and batches get every logical core, and in both cases the cores other programs keep
busy right now are left out (niced background jobs do not count: they give way). Measured on
the development machine (2 cores, other jobs running, demo model): with the second core busy,
one-token steps took 10-20x longer on two threads than on one, because each of the model's
operations waits for the slower thread.
"""

from __future__ import annotations

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
    """Cores other programs keep busy now: their CPU time over the last moments, less this
    process's own (0 where the OS will not say)."""
    return _usage.busy()


class _CpuUsage:
    """Other programs' CPU use, from the kernel's counters between two readings.

    On Linux, time spent by *niced* programs is not counted when they give way to us (a
    nice-19 job gets about 1.5% of a core against an ordinary one, unless the kernel groups
    programs by session), so leaving a core to them would only slow us down. Elsewhere the
    1-minute load average stands in.
    """

    _FRESH_S = 1.0  # a figure younger than this is reused
    _FIRST_WAIT_S = 0.1  # the first figure needs two readings

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._reading: tuple[float, float, float] | None = None
        self._busy: int | None = None
        self._at = 0.0

    def busy(self) -> int:
        with self._lock:
            if not Path("/proc/stat").exists():
                return _load_average()
            now = time.monotonic()
            if self._busy is not None and now - self._at < self._FRESH_S:
                return self._busy
            if self._reading is None:
                self._reading = _reading()
                time.sleep(self._FIRST_WAIT_S)
            (then, busy_then, own_then), current = self._reading, _reading()
            wall = current[0] - then
            others = (current[1] - busy_then) - (current[2] - own_then)
            self._reading, self._at = current, current[0]
            self._busy = max(0, round(others / wall)) if wall > 0 else 0
            return self._busy


def _load_average() -> int:
    try:
        return max(0, round(os.getloadavg()[0]))
    except (OSError, AttributeError):
        return 0


def _reading() -> tuple[float, float, float]:
    """(now, CPU seconds of un-niced work on every core, this process's CPU seconds)."""
    import resource  # Unix only, as /proc/stat is

    now = time.monotonic()
    ticks = [int(f) for f in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]]
    # user, nice, system, idle, iowait, irq, softirq, steal: all but idle and iowait, and
    # nice when niced programs really give way (not so with per-session autogroups)
    busy = ticks[0] + ticks[2] + sum(ticks[5:8]) + (0 if _nice_yields() else ticks[1])
    own = resource.getrusage(resource.RUSAGE_SELF)
    return now, busy / os.sysconf("SC_CLK_TCK"), own.ru_utime + own.ru_stime


def _nice_yields() -> bool:
    """True when niced jobs give way to this process: it is not niced itself, and the kernel
    does not schedule each session as a group (a niced job in another session then takes
    its fair share whatever its nice value)."""
    if os.getpriority(os.PRIO_PROCESS, 0) > 0:
        return False
    try:
        return Path("/proc/sys/kernel/sched_autogroup_enabled").read_text().strip() == "0"
    except OSError:
        return True


_usage = _CpuUsage()


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
