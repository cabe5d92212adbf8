"""The inference rows of ``rlm-desktop bench speed`` on a GPU machine.

Needs a llama-cpp-python built with a GPU backend; the wheel this project caches is CPU-only.
On an NVIDIA machine (CUDA toolkit installed), in the project's virtualenv:

    CMAKE_ARGS="-DGGML_CUDA=on" .venv/bin/pip install --force-reinstall --no-cache-dir \\
        "llama-cpp-python>=0.3.36,<0.4"
    .venv/bin/python benchmarks/gpu_inference.py [--model PATH.gguf] [--quick] [--json]

(``-DGGML_METAL=on`` on a Mac, ``-DGGML_VULKAN=on`` elsewhere.) Layers go to the GPU as the
app decides by default (all that fit the free VRAM; ``--gpu-layers N`` to choose). It prints
the model's placement, then the same rows as the CPU run: batched against sequential
sub-calls (1-16 sequences), root reuse with sub-calls, map_chunks occupancy, the warm first
turn and the orchestration overhead. Exit status 2 when this llama.cpp has no GPU backend.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from rich.console import Console

from rlm_desktop.bench.models_bench import run_model_benchmarks
from rlm_desktop.bench.report import print_results
from rlm_desktop.llm.llama import LlamaCppBackend
from rlm_desktop.llm.native import gpu_offload_supported
from rlm_desktop.llm.spec import demo_model_path


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", type=Path, default=None, help="a GGUF (default: the demo)")
    parser.add_argument("--gpu-layers", type=int, default=-1, help="-1: all that fit")
    parser.add_argument("--n-ctx", type=int, default=0, help="the root's window (0: trained)")
    parser.add_argument("--quick", action="store_true", help="small sizes: a smoke run")
    parser.add_argument("--json", action="store_true", help="the results as JSON")
    args = parser.parse_args()
    console = Console(stderr=args.json)
    if not gpu_offload_supported():
        console.print(
            "This llama.cpp has no GPU backend: reinstall llama-cpp-python with "
            'CMAKE_ARGS="-DGGML_CUDA=on" (see this script\'s docstring).'
        )
        return 2
    backend = LlamaCppBackend(
        args.model or demo_model_path(), n_ctx=args.n_ctx, n_gpu_layers=args.gpu_layers
    )
    try:
        placement = {k: backend.describe()[k] for k in ("name", "n_ctx", "n_gpu_layers")}
        console.print(f"model: {json.dumps(placement)}")
        results = run_model_benchmarks(backend, quick=args.quick, log=console.print)
    finally:
        backend.close()
    print_results(results, args.json, console)
    return 0


if __name__ == "__main__":
    sys.exit(main())
