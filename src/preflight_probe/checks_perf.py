"""GPU truth probe checks: matmul throughput, device copy bandwidth, and proof of device placement.

Measure, don't tune: nothing here changes clocks, power limits or any device
setting. The only process-wide switch touched is torch's float32 matmul
precision ("high" allows TF32 for the tf32 case), restored right after.

Sizing and accounting (``matmul_size``, ``copy_size``, ``plan_iterations``,
``matmul_flops``, ``copy_bytes``) and the verdicts (``judge``,
``placement_verdict``) are pure functions; the timing harness works with CUDA
events on CUDA/ROCm and with synchronize-bracketed wall time anywhere else.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from preflight_probe.checks_core import _synchronize, torch_module
from preflight_probe.outcome import Outcome

GPU_BACKENDS = ("cuda", "rocm")
MATMUL_DTYPES = ("bf16", "fp16", "tf32")
TORCH_DTYPE = {"bf16": "bfloat16", "fp16": "float16", "tf32": "float32"}
# GPU time budgets in ms: perf.matmul (all dtypes) + perf.bandwidth stay under 1 s.
MATMUL_BUDGET_MS = 600.0
COPY_BUDGET_MS = 150.0
MATMUL_SIZES = (8192, 4096, 2048, 1024)
SCOUT_N = 2048
COPY_SIZES_MIB = (1024, 512, 256, 64)
MIB = 1024 * 1024
PLACEMENT_N = 1024
PLACEMENT_MIN_SPEEDUP = 1.5


# ---------------------------------------------------------------- pure accounting


def matmul_flops(n: int) -> int:
    """Floating-point operations of one n x n by n x n product (a multiply and an add per term)."""
    return 2 * n**3


def copy_bytes(nbytes: int) -> int:
    """Memory traffic of one device-to-device copy of ``nbytes``: every byte is read once and written once."""
    return 2 * nbytes


def tflops(flops: float, ms: float) -> float:
    return flops / (ms * 1e-3) / 1e12


def tb_per_s(nbytes: float, ms: float) -> float:
    return nbytes / (ms * 1e-3) / 1e12


def matmul_size(free_bytes: int) -> int:
    """Largest n in MATMUL_SIZES whose three float32 n x n matrices fit in an eighth of free memory."""
    for n in MATMUL_SIZES:
        if 3 * 4 * n * n <= free_bytes // 8:
            return n
    return MATMUL_SIZES[-1]


def size_for_budget(scout_ms: float, scout_n: int, budget_ms: float, max_n: int, runs: int = 5) -> int:
    """Largest n (up to ``max_n``) whose product, predicted from a scout product's time, runs ``runs`` times within the budget.

    Time grows as n^3 at best; small products use the GPU less well, so the
    prediction over-estimates and the real run stays inside the budget.
    """
    for n in MATMUL_SIZES:
        if n <= max_n and scout_ms * (n / scout_n) ** 3 * runs <= budget_ms:
            return n
    return MATMUL_SIZES[-1]


def copy_size(free_bytes: int) -> int:
    """Bytes per copy buffer: the largest of COPY_SIZES_MIB whose source + destination fit in a quarter of free memory."""
    for mib in COPY_SIZES_MIB:
        if 2 * mib * MIB <= free_bytes // 4:
            return mib * MIB
    return COPY_SIZES_MIB[-1] * MIB


def plan_iterations(single_ms: float, budget_ms: float, lo: int = 3, hi: int = 50) -> int:
    """Timed iterations that fit ``budget_ms`` given one iteration's time, clamped to [lo, hi]."""
    if single_ms <= 0:
        return hi
    return max(lo, min(hi, int(budget_ms / single_ms)))


def dtype_plan(backend: str, compute_capability: str | None) -> tuple[list[str], dict[str, str]]:
    """Which matmul dtypes to measure, and why the others are left out."""
    if backend == "cuda" and compute_capability:
        major = int(compute_capability.split(".")[0])
        if major < 8:
            reason = f"compute capability {compute_capability} has no bf16/tf32 tensor cores"
            return ["fp16"], {"bf16": reason, "tf32": reason}
    return list(MATMUL_DTYPES), {}


# ---------------------------------------------------------------- verdicts

LABELS = {"bf16": "bf16 matmul", "fp16": "fp16 matmul", "tf32": "tf32 matmul", "copy_tbs": "device copy"}
UNITS = {"copy_tbs": "TB/s"}


def _fmt(key: str, value: float) -> str:
    return f"{value:.2f}" if key == "copy_tbs" else f"{value:.0f}"


def judge(figures: dict[str, float], reference: dict[str, Any]) -> tuple[list[str], list[str]]:
    """(problems, notes) comparing measured figures with the SKU reference passed by the orchestrator.

    ``reference`` is ``{"sku", "expected": {figure: value|None}, "threshold"}`` or
    ``{"sku": None, "reason"}`` for an unknown SKU.
    """
    problems: list[str] = []
    notes: list[str] = []
    sku = reference.get("sku")
    if not sku:
        return [], [f"comparison skipped: {reference.get('reason') or 'no reference for this device'}"]
    threshold = float(reference["threshold"])
    expected_all = reference.get("expected") or {}
    for key, value in figures.items():
        unit = UNITS.get(key, "TFLOP/s")
        expected = expected_all.get(key)
        if expected is None:
            notes.append(f"{LABELS[key]} {_fmt(key, value)} {unit}: the {sku} reference has no {key} figure, not compared")
            continue
        ratio = value / float(expected)
        line = (
            f"{LABELS[key]} {_fmt(key, value)} {unit} is {ratio:.0%} of the {sku} expectation "
            f"{_fmt(key, float(expected))}{' TB/s' if key == 'copy_tbs' else ''} (threshold {threshold:.0%})"
        )
        (problems if ratio < threshold else notes).append(line)
    return problems, notes


def verdict(figures: dict[str, float], reference: dict[str, Any], details: dict[str, Any]) -> Outcome:
    problems, notes = judge(figures, reference)
    details = {**details, "figures": figures, "reference": reference, "comparison": problems + notes}
    if problems:
        return Outcome.fail("; ".join(problems), **details)
    if not reference.get("sku"):
        measured = ", ".join(f"{LABELS[k]} {_fmt(k, v)} {UNITS.get(k, 'TFLOP/s')}" for k, v in figures.items())
        return Outcome.skip(f"measured {measured}; {notes[0]}", **details)
    return Outcome.ok(**details)


def placement_verdict(device: str, tensor_devices: dict[str, str], device_ms: float, cpu_ms: float, memory_grew: bool | None) -> list[str]:
    """Problems proving the work did NOT run on ``device`` (empty: it did)."""
    problems = []
    want_type, _, want_index = device.partition(":")
    for name, got in tensor_devices.items():
        got_type, _, got_index = got.partition(":")
        if got_type != want_type or (want_index and got_index and got_index != want_index):
            problems.append(f"tensor {name} is on {got}, not {device}")
    if memory_grew is False:
        problems.append(f"allocating the tensors did not grow {device} memory: the data is not on the device")
    speedup = cpu_ms / device_ms if device_ms > 0 else float("inf")
    if speedup < PLACEMENT_MIN_SPEEDUP:
        problems.append(
            f"the same {PLACEMENT_N}x{PLACEMENT_N} float32 matmul took {device_ms:.3f} ms on {device} and {cpu_ms:.3f} ms on the CPU "
            f"({speedup:.1f}x, expected at least {PLACEMENT_MIN_SPEEDUP:g}x): the work looks like it ran on the CPU"
        )
    return problems


# ---------------------------------------------------------------- timing harness


class SyncTimer:
    """Wall time between two device synchronizations (any backend, CPU included)."""

    def __init__(self, sync: Callable[[], None]) -> None:
        self.sync = sync

    def measure(self, fn: Callable[[], Any], iterations: int) -> float:
        self.sync()
        start = time.perf_counter()
        for _ in range(iterations):
            fn()
        self.sync()
        return (time.perf_counter() - start) * 1000.0


class EventTimer:
    """CUDA (or HIP) events around the launches: GPU time without host launch jitter."""

    def __init__(self, torch: Any, device: str) -> None:
        self.torch = torch
        self.device = device

    def measure(self, fn: Callable[[], Any], iterations: int) -> float:
        cuda = self.torch.cuda
        with cuda.device(self.device):
            start, end = cuda.Event(enable_timing=True), cuda.Event(enable_timing=True)
            start.record()
            for _ in range(iterations):
                fn()
            end.record()
            end.synchronize()
            return float(start.elapsed_time(end))


def make_timer(torch: Any, device: str) -> EventTimer | SyncTimer:
    if device.startswith("cuda"):
        return EventTimer(torch, device)
    return SyncTimer(lambda: _synchronize(torch, device))


@dataclass
class Measurement:
    iterations: int
    per_iter_ms: float
    spent_ms: float  # every timed and warm-up run, for the GPU-time budget
    batches_ms: list[float] = field(default_factory=list)


def measure(fn: Callable[[], Any], timer: EventTimer | SyncTimer, budget_ms: float, lo: int = 3, hi: int = 50) -> Measurement:
    """Warm up twice (the first call pays lazy init), size the run to ``budget_ms``, time two batches, keep the faster."""
    first = timer.measure(fn, 1)
    single = timer.measure(fn, 1)
    iterations = plan_iterations(single, budget_ms, max(2, lo), hi)
    counts = [iterations // 2, iterations - iterations // 2]
    batches = [timer.measure(fn, count) for count in counts]
    per_iter = min(ms / count for ms, count in zip(batches, counts))  # noqa: B905 - zip(strict=) needs 3.10; the probe runs on 3.8
    return Measurement(iterations, per_iter, first + single + sum(batches), batches)


# ---------------------------------------------------------------- checks


def _not_on_gpu(params: dict[str, Any]) -> str | None:
    backend = str(params.get("backend") or "")
    if backend in GPU_BACKENDS:
        return None
    if backend == "cpu":
        return "cpu backend: the performance probe measures GPUs only"
    return f"{backend or 'unknown'} backend: the performance probe supports CUDA and ROCm devices only"


def _free_bytes(torch: Any, device: str) -> int:
    free, _total = torch.cuda.mem_get_info(device)
    return int(free)


def _matmul_operands(torch: Any, device: str, dtype: Any, n: int) -> tuple[Any, Any, Any]:
    a = torch.randn(n, n, device=device, dtype=dtype)
    b = torch.randn(n, n, device=device, dtype=dtype)
    return a, b, torch.empty(n, n, device=device, dtype=dtype)


def _matmul_case(torch: Any, device: str, name: str, max_n: int, timer: Any, budget_ms: float) -> tuple[int, Measurement, float]:
    """(n, measurement, scout ms): a scout product picks the size, then the timed run at that size."""
    dtype = getattr(torch, TORCH_DTYPE[name])
    scout_n = min(SCOUT_N, max_n)
    a, b, out = _matmul_operands(torch, device, dtype, scout_n)
    scout_spent = timer.measure(lambda: torch.matmul(a, b, out=out), 1)
    scout_ms = timer.measure(lambda: torch.matmul(a, b, out=out), 1)
    n = size_for_budget(scout_ms, scout_n, budget_ms, max_n)
    a, b, out = _matmul_operands(torch, device, dtype, n)
    return n, measure(lambda: torch.matmul(a, b, out=out), timer, budget_ms), scout_spent + scout_ms


def _time_copy(torch: Any, device: str, nbytes: int, timer: Any) -> Measurement:
    src = torch.empty(nbytes, dtype=torch.uint8, device=device).fill_(7)
    dst = torch.empty_like(src)
    return measure(lambda: dst.copy_(src), timer, COPY_BUDGET_MS)


def check_perf_matmul(params: dict[str, Any]) -> Outcome:
    why = _not_on_gpu(params)
    if why:
        return Outcome.skip(why)
    torch = torch_module()
    device = str(params["device"])
    names, left_out = dtype_plan(str(params["backend"]), params.get("compute_capability"))
    n = matmul_size(_free_bytes(torch, device))
    timer = make_timer(torch, device)
    budget = MATMUL_BUDGET_MS / len(names)
    figures: dict[str, float] = {}
    runs: dict[str, Any] = {}
    spent = 0.0
    previous = torch.get_float32_matmul_precision()
    try:
        for name in names:
            torch.set_float32_matmul_precision("high" if name == "tf32" else previous)
            size, result, scout_spent = _matmul_case(torch, device, name, n, timer, budget)
            figures[name] = round(tflops(matmul_flops(size), result.per_iter_ms), 1)
            runs[name] = {"n": size, "iterations": result.iterations, "per_iter_ms": round(result.per_iter_ms, 4)}
            spent += result.spent_ms + scout_spent
    finally:
        torch.set_float32_matmul_precision(previous)
        torch.cuda.empty_cache()
    details = {"device": device, "runs": runs, "left_out": left_out, "gpu_time_ms": round(spent, 1), "timer": type(timer).__name__}
    return verdict(figures, dict(params.get("reference") or {}), details)


def check_perf_bandwidth(params: dict[str, Any]) -> Outcome:
    why = _not_on_gpu(params)
    if why:
        return Outcome.skip(why)
    torch = torch_module()
    device = str(params["device"])
    nbytes = copy_size(_free_bytes(torch, device))
    timer = make_timer(torch, device)
    try:
        result = _time_copy(torch, device, nbytes, timer)
    finally:
        torch.cuda.empty_cache()
    figure = round(tb_per_s(copy_bytes(nbytes), result.per_iter_ms), 3)
    details = {
        "device": device,
        "buffer_mib": nbytes // MIB,
        "bytes_per_copy_counted": copy_bytes(nbytes),
        "iterations": result.iterations,
        "per_iter_ms": round(result.per_iter_ms, 4),
        "gpu_time_ms": round(result.spent_ms, 1),
        "timer": type(timer).__name__,
    }
    return verdict({"copy_tbs": figure}, dict(params.get("reference") or {}), details)


def measure_placement(torch: Any, device: str) -> tuple[list[str], dict[str, Any]]:
    """Put a matmul on ``device``, check where its tensors live, and time it against the same matmul on the CPU."""
    gen = torch.Generator().manual_seed(3)
    a_cpu = torch.randn(PLACEMENT_N, PLACEMENT_N, generator=gen)
    b_cpu = torch.randn(PLACEMENT_N, PLACEMENT_N, generator=gen)
    is_cuda = device.startswith("cuda")
    before = torch.cuda.memory_allocated(device) if is_cuda else None
    a, b = a_cpu.to(device), b_cpu.to(device)
    grew = bool(torch.cuda.memory_allocated(device) > before) if is_cuda else None
    out = torch.matmul(a, b)
    tensor_devices = {"a": str(a.device), "b": str(b.device), "a @ b": str(out.device)}
    device_run = measure(lambda: torch.matmul(a, b), make_timer(torch, device), 20.0, lo=3, hi=20)
    cpu_run = measure(lambda: torch.matmul(a_cpu, b_cpu), SyncTimer(lambda: None), 60.0, lo=2, hi=5)
    problems = placement_verdict(device, tensor_devices, device_run.per_iter_ms, cpu_run.per_iter_ms, grew)
    details = {
        "device": device,
        "tensor_devices": tensor_devices,
        "device_memory_grew": grew,
        "device_ms": round(device_run.per_iter_ms, 4),
        "cpu_ms": round(cpu_run.per_iter_ms, 4),
        "speedup_vs_cpu": round(cpu_run.per_iter_ms / device_run.per_iter_ms, 1) if device_run.per_iter_ms > 0 else None,
        "cpu_threads": torch.get_num_threads(),
    }
    return problems, details


def check_device_placement(params: dict[str, Any]) -> Outcome:
    device = str(params.get("device") or "cpu")
    if device == "cpu":
        return Outcome.skip("cpu: nothing to fall back from")
    problems, details = measure_placement(torch_module(), device)
    if problems:
        return Outcome.fail("; ".join(problems), **details)
    return Outcome.ok(**details)
