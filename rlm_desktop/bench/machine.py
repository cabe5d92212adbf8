"""What a benchmark ran on, for its report: the machine, and the model file under test."""

from __future__ import annotations

import os
import platform
from pathlib import Path

from rlm_desktop.llm.gguf import parameter_label, read_gguf
from rlm_desktop.llm.spec import demo_model_path, parse_spec


def describe_machine() -> dict:
    """CPU, cores, memory, system and load when the run started."""
    cpu = platform.processor() or platform.machine()
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as handle:
            names = [
                line.split(":", 1)[1].strip() for line in handle if line.startswith("model name")
            ]
        cpu = names[0] if names else cpu
    except OSError:
        pass
    memory = 0.0
    if hasattr(os, "sysconf") and "SC_PHYS_PAGES" in os.sysconf_names:
        memory = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30
    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else None
    return {
        "cpu": cpu,
        "cores": os.cpu_count() or 1,
        "memory_gb": round(memory, 1),
        "system": platform.platform(terse=True),
        "python": platform.python_version(),
        "load_at_start": None if load is None else round(load, 2),
    }


def machine_line(machine: dict) -> str:
    """One line for people: ``AMD EPYC (2 cores, 23.4 GB, Linux-6.1), load 1.4 at start``."""
    load = machine.get("load_at_start")
    return (
        f"{machine.get('cpu', '?')} ({machine.get('cores', '?')} cores, "
        f"{machine.get('memory_gb', 0):g} GB, {machine.get('system', '?')})"
        + ("" if load is None else f", load {load:g} at start")
    )


def describe_model_file(spec: str) -> dict:
    """The GGUF file a local model spec names: file, model, parameters, quantization,
    trained context. Empty for models with no local file (scripted, replay, remote)."""
    if spec == "scripted":
        return {}
    parsed = parse_spec(spec)
    if parsed.kind not in ("demo", "gguf"):
        return {}
    path = demo_model_path() if parsed.kind == "demo" else Path(parsed.value)
    info = read_gguf(path)
    return {
        "file": path.name,
        "path": str(path),
        "name": info.name,
        "parameters": parameter_label(info.parameters),
        "quantization": info.quantization,
        "trained_context": info.context_length,
        "size_mb": round(info.file_size / 2**20, 1),
    }
