"""Goal: the perf probe (perf.matmul + perf.bandwidth) lands within 10% of a long careful measurement
taken in the same process on the same GPU, at a fraction of its cost (at most 1 s of GPU time, and at
most a fifth of the careful measurement's).

Careful: 8192^3 products per dtype (bf16, fp16, tf32) with a 1 s warm-up and three 1 s timed repeats
(median), and device-to-device copies of up to 4 GiB the same way, all timed with CUDA events. The probe
runs twice: cold (first thing, as in a CI job) and warm (after the careful run). NVML readings (clocks,
clock event reasons, temperature, power) are printed before and after. Nothing changes device settings.

Without a CUDA/ROCm device this prints why and "skipped: no CUDA device", exit 0. Exit 1 when a goal is missed.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "src"))

from preflight_action.gpu import collect as gpu_health
from preflight_action.gpu import policy as gpu_policy
from preflight_probe import checks_perf

CLOSENESS = 0.10
MAX_PROBE_GPU_MS = 1000.0
MAX_COST_SHARE = 0.2
CAREFUL_N = 8192
GIB = 1024**3


def timed_loop(torch: Any, fn: Any, seconds: float) -> tuple[float, int, float]:
    """Run ``fn`` for about ``seconds`` of GPU time; (ms per call, calls, ms spent) by CUDA events."""
    timer = checks_perf.EventTimer(torch, "cuda:0")
    single = timer.measure(fn, 1)
    calls = max(3, int(seconds * 1000.0 / max(single, 1e-3)))
    total = timer.measure(fn, calls)
    return total / calls, calls, total + single


def careful_matmul(torch: Any, name: str, seconds: float) -> tuple[float, float]:
    """(TFLOP/s median of three repeats, GPU ms spent) for 8192^3 products."""
    dtype = getattr(torch, checks_perf.TORCH_DTYPE[name])
    previous = torch.get_float32_matmul_precision()
    torch.set_float32_matmul_precision("high" if name == "tf32" else previous)
    try:
        a = torch.randn(CAREFUL_N, CAREFUL_N, device="cuda:0", dtype=dtype)
        b = torch.randn(CAREFUL_N, CAREFUL_N, device="cuda:0", dtype=dtype)
        out = torch.empty(CAREFUL_N, CAREFUL_N, device="cuda:0", dtype=dtype)

        def fn() -> None:
            torch.matmul(a, b, out=out)

        _, _, spent = timed_loop(torch, fn, seconds)  # warm-up: clocks and power settle
        figures = []
        for _ in range(3):
            per_call, _, used = timed_loop(torch, fn, seconds)
            spent += used
            figures.append(checks_perf.tflops(checks_perf.matmul_flops(CAREFUL_N), per_call))
    finally:
        torch.set_float32_matmul_precision(previous)
    return statistics.median(figures), spent


def careful_copy(torch: Any, seconds: float) -> tuple[float, float, int]:
    """(TB/s median of three repeats, GPU ms spent, buffer bytes) for multi-GiB device copies."""
    free, _ = torch.cuda.mem_get_info(0)
    nbytes = next((g * GIB for g in (4, 2, 1) if 2 * g * GIB <= free // 3), GIB // 4)
    src = torch.empty(nbytes, dtype=torch.uint8, device="cuda:0").fill_(3)
    dst = torch.empty_like(src)

    def fn() -> None:
        dst.copy_(src)

    _, _, spent = timed_loop(torch, fn, seconds)
    figures = []
    for _ in range(3):
        per_call, _, used = timed_loop(torch, fn, seconds)
        spent += used
        figures.append(checks_perf.tb_per_s(checks_perf.copy_bytes(nbytes), per_call))
    return statistics.median(figures), spent, nbytes


def run_probe(params: dict[str, Any]) -> tuple[dict[str, float], float, float, list[str]]:
    """(figures, probe GPU ms, wall s, messages) from the real probe check functions."""
    started = time.perf_counter()
    matmul = checks_perf.check_perf_matmul(params)
    bandwidth = checks_perf.check_perf_bandwidth(params)
    wall = time.perf_counter() - started
    figures = {**matmul.details.get("figures", {}), **bandwidth.details.get("figures", {})}
    gpu_ms = float(matmul.details.get("gpu_time_ms", 0.0)) + float(bandwidth.details.get("gpu_time_ms", 0.0))
    messages = [f"{o.status}: {o.error or o.skip_reason or '; '.join(o.details.get('comparison', []))}" for o in (matmul, bandwidth)]
    return figures, gpu_ms, wall, messages


def print_nvml(label: str) -> None:
    got = gpu_health.collect_readings(30.0)
    if got.readings is None or not got.readings["available"]:
        print(f"NVML {label}: {got.error or (got.readings or {}).get('reason')}")
        return
    doc = got.readings
    print(f"NVML {label}: driver {doc['driver_version']} (CUDA {doc['cuda_driver_version']})")
    for gpu in doc["gpus"]:
        c = gpu["clocks"]
        reasons = ",".join((gpu["clock_event_reasons"] or {}).get("active", [])) or "none"
        print(
            f"  GPU {gpu['index']} {gpu['name']}: SM {c['sm_mhz']}/{c['sm_max_mhz']} MHz, mem {c['mem_mhz']}/{c['mem_max_mhz']} MHz, "
            f"reasons {reasons}, {gpu['temperature_c']} C, {gpu['power_w']}/{gpu['power_limit_w']} W, "
            f"PCIe gen {gpu['pcie']['gen']}/{gpu['pcie']['max_gen']} x{gpu['pcie']['width']}/{gpu['pcie']['max_width']}, "
            f"ECC volatile uncorrected {gpu['ecc']['volatile_uncorrected']}, MIG {gpu['mig']}"
        )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seconds", type=float, default=1.0, help="GPU seconds per careful warm-up and per timed repeat")
    args = parser.parse_args(argv)
    try:
        import torch
    except ImportError as exc:
        print(f"cannot run: torch does not import ({exc})")
        print("skipped: no CUDA device")
        return 0
    if not torch.cuda.is_available():
        why = "this torch is a CPU-only build" if not torch.backends.cuda.is_built() else "torch.cuda.is_available() is False"
        print(f"cannot run: the probe is measured against a careful run on a GPU, and {why} (torch {torch.__version__})")
        print("skipped: no CUDA device")
        return 0
    props = torch.cuda.get_device_properties(0)
    backend = "rocm" if torch.version.hip else "cuda"
    reference = gpu_policy.reference_for(gpu_policy.load_reference(), props.name, "gpu_reference.yaml")
    params = {"device": "cuda:0", "backend": backend, "compute_capability": f"{props.major}.{props.minor}", "reference": reference}
    print(f"device: {props.name} ({backend}, compute capability {props.major}.{props.minor}); torch {torch.__version__}")
    print(f"reference: {reference.get('sku') or reference.get('reason')}")
    print_nvml("before")

    torch.ones(1, device="cuda:0") @ torch.ones(1, device="cuda:0")  # context creation is not the probe's cost
    cold, cold_ms, cold_wall, cold_msgs = run_probe(params)
    print(f"probe (cold): {cold_ms:.0f} ms GPU, {cold_wall:.2f} s wall")

    careful: dict[str, float] = {}
    careful_ms = 0.0
    started = time.perf_counter()
    for name in cold:
        if name == "copy_tbs":
            careful[name], spent, nbytes = careful_copy(torch, args.seconds)
            torch.cuda.empty_cache()
            print(f"careful copy: {nbytes / GIB:g} GiB buffers")
        else:
            careful[name], spent = careful_matmul(torch, name, args.seconds)
        careful_ms += spent
    careful_wall = time.perf_counter() - started
    print(f"careful: {careful_ms:.0f} ms GPU, {careful_wall:.2f} s wall")

    warm, warm_ms, warm_wall, _ = run_probe(params)
    print(f"probe (warm): {warm_ms:.0f} ms GPU, {warm_wall:.2f} s wall")
    print_nvml("after")

    ok = True
    print(f"\n{'figure':<12}{'careful':>10}{'probe cold':>12}{'ratio':>8}{'probe warm':>12}{'ratio':>8}  unit")
    for name, value in careful.items():
        unit = "TB/s" if name == "copy_tbs" else "TFLOP/s"
        r_cold, r_warm = cold[name] / value, warm[name] / value
        ok &= abs(r_cold - 1) <= CLOSENESS and abs(r_warm - 1) <= CLOSENESS
        print(f"{name:<12}{value:>10.2f}{cold[name]:>12.2f}{r_cold:>8.2f}{warm[name]:>12.2f}{r_warm:>8.2f}  {unit}")
    share = max(cold_ms, warm_ms) / careful_ms
    cost_ok = max(cold_ms, warm_ms) <= MAX_PROBE_GPU_MS and share <= MAX_COST_SHARE
    print(
        f"\nprobe GPU time {cold_ms:.0f} / {warm_ms:.0f} ms (goal <= {MAX_PROBE_GPU_MS:.0f} ms), {share:.1%} of the careful run's {careful_ms:.0f} ms (goal <= {MAX_COST_SHARE:.0%})"
    )
    for line in cold_msgs:
        print(f"probe verdict (cold): {line}")
    print(f"closeness (goal within {CLOSENESS:.0%}): {'met' if ok else 'MISSED'}; cost: {'met' if cost_ok else 'MISSED'}")
    return 0 if ok and cost_ok else 1


if __name__ == "__main__":
    raise SystemExit(main())
