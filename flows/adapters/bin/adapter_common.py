"""Helpers the torch adapters share: device and dtype resolution, seeding, timing, the JSON line."""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from collections.abc import Callable
from typing import Any

DTYPES = ("float32", "float16", "bfloat16", "float64")


def add_runtime_args(parser: argparse.ArgumentParser) -> None:
    """The flags every torch adapter takes the same way: --device, --threads, --seed (read by ``setup``)."""
    parser.add_argument("--device", default="auto")
    parser.add_argument("--threads", type=int, default=None)
    parser.add_argument("--seed", type=int, default=0)


def setup(torch: Any, device: str, seed: int | None, threads: int | None, memory_fraction: float | None = None) -> str:
    """Resolve ``auto``, seed every generator, set threads and the CUDA memory cap; return the device."""
    if device == "auto":
        if torch.cuda.is_available():
            device = "cuda"
        elif getattr(torch, "xpu", None) is not None and torch.xpu.is_available():
            device = "xpu"
        elif torch.backends.mps.is_available():
            device = "mps"
        else:
            device = "cpu"
    if seed is not None:
        torch.manual_seed(seed)
    if threads:
        torch.set_num_threads(threads)
    if memory_fraction is not None and device.startswith("cuda"):
        torch.cuda.set_per_process_memory_fraction(memory_fraction)
    return device


def synchronize(torch: Any, device: str) -> None:
    if device.startswith("cuda"):
        torch.cuda.synchronize()
    elif device.startswith("xpu"):
        torch.xpu.synchronize()
    elif device == "mps":
        torch.mps.synchronize()


def time_ms(torch: Any, device: str, fn: Callable[[], Any], iters: int, warmup: int) -> float:
    """Median milliseconds per call after ``warmup`` calls (the median shrugs off a busy machine's outliers)."""
    for _ in range(warmup):
        fn()
    synchronize(torch, device)
    samples = []
    for _ in range(iters):
        start = time.perf_counter()
        fn()
        synchronize(torch, device)
        samples.append((time.perf_counter() - start) * 1000)
    return statistics.median(samples)


def emit(**metrics: Any) -> None:
    """The one JSON line of metrics the runner reads (the last JSON object on stdout)."""
    print(json.dumps(metrics, sort_keys=True), flush=True)


def skip(reason: str, **metrics: Any) -> int:
    emit(skip_reason=reason, **metrics)
    return 0


def peak_memory_mb(torch: Any, device: str) -> float | None:
    if device.startswith("cuda"):
        return round(torch.cuda.max_memory_allocated() / 2**20, 1)
    return None


def fail(message: str) -> int:
    print(message, file=sys.stderr)
    return 1
