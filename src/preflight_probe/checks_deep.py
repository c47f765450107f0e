"""Deep-level probe checks: memory patterns, sustained load, host transfers, a small-model smoke.

Each stress check is told ``time_limit_s`` (its share of the run's budget, less
a margin to answer in) and stops there with the figures it has, marked
``cut_short``; the orchestrator kills it only if the device itself hangs. Sizes
come from policy/levels.yaml (``stress``) through the params. Stdlib + torch.
"""

from __future__ import annotations

import functools
import time
from typing import Any

from preflight_probe import faults
from preflight_probe.checks_core import _synchronize, torch_module
from preflight_probe.outcome import Outcome

MIB = 1024 * 1024
GPU_BACKENDS = ("cuda", "rocm")
WALKING_ONES = tuple(1 << bit for bit in range(8))
VERIFY_SLICE = 16 * MIB  # random and address patterns are regenerated slice by slice to verify
MAX_ERRORS_SHOWN = 5


def _deadline(params: dict[str, Any]) -> float:
    return time.perf_counter() + float(params.get("time_limit_s") or 60.0)


def _on_gpu(params: dict[str, Any]) -> bool:
    return str(params.get("backend") or "") in GPU_BACKENDS


# ---------------------------------------------------------------- memory.pattern


def _region_bytes(torch: Any, params: dict[str, Any]) -> tuple[int, str]:
    chunk = int(params["chunk_mib"]) * MIB
    if _on_gpu(params):
        free, _total = torch.cuda.mem_get_info(params["device"])
        wanted = int(free * float(params["device_fraction"]))
        return wanted - wanted % chunk, f"{params['device']} memory ({float(params['device_fraction']):.0%} of {free // MIB} MiB free)"
    return int(params["host_mib"]) * MIB, "host RAM (a bounded region: the CPU has no device memory of its own)"


def _mismatches(torch: Any, got: Any, expected: Any, base: int, found: list[dict[str, Any]], width: int = 1) -> int:
    """Elements of ``got`` that differ from ``expected`` (a tensor, or one value for all); the first few are kept."""
    wrong = got != expected
    count = int(wrong.sum())
    if count and len(found) < MAX_ERRORS_SHOWN:
        where = torch.nonzero(wrong).flatten()[: MAX_ERRORS_SHOWN - len(found)].tolist()
        for offset in where:
            want = expected if isinstance(expected, int) else int(expected[offset])
            found.append({"offset": base + int(offset) * width, "expected": want, "read": int(got[offset])})
    return count


def _verify_fill(torch: Any, buf: Any, value: int, base: int, found: list[dict[str, Any]]) -> int:
    buf.fill_(value)
    faults.corrupt("memory.pattern", buf)
    word = int.from_bytes(bytes([value]) * 8, "little", signed=True)  # compared 8 bytes at a time: 8x fewer elements
    return _mismatches(torch, buf.view(torch.int64), word, base, found, width=8)


def _random_words(torch: Any, n: int, seed: int, device: Any) -> Any:
    gen = torch.Generator(device=device)
    gen.manual_seed(seed)
    return torch.randint(-(2**31), 2**31 - 1, (n,), generator=gen, dtype=torch.int32, device=device)


def _verify_random(torch: Any, buf: Any, seed: int, base: int, found: list[dict[str, Any]]) -> int:
    """Seeded random 32-bit words, regenerated slice by slice to verify (no second full-size buffer)."""
    words = buf.view(torch.int32)
    step = VERIFY_SLICE // 4
    parts = [(lo, min(lo + step, words.numel())) for lo in range(0, words.numel(), step)]
    for index, (lo, hi) in enumerate(parts):
        words[lo:hi] = _random_words(torch, hi - lo, seed * 100_003 + index, buf.device)
    faults.corrupt("memory.pattern", buf)
    errors = 0
    for index, (lo, hi) in enumerate(parts):
        expected = _random_words(torch, hi - lo, seed * 100_003 + index, buf.device)
        errors += _mismatches(torch, words[lo:hi], expected, base + lo * 4, found, width=4)
    return errors


def _verify_address(torch: Any, buf: Any, base: int, found: list[dict[str, Any]]) -> int:
    """Each 8-byte word holds its own address (its offset in the region): catches aliased or swapped lines."""
    words = buf.view(torch.int64)
    step = VERIFY_SLICE // 8
    for lo in range(0, words.numel(), step):
        hi = min(lo + step, words.numel())
        words[lo:hi] = torch.arange(base // 8 + lo, base // 8 + hi, dtype=torch.int64, device=buf.device)
    faults.corrupt("memory.pattern", buf)
    errors = 0
    for lo in range(0, words.numel(), step):
        hi = min(lo + step, words.numel())
        expected = torch.arange(base // 8 + lo, base // 8 + hi, dtype=torch.int64, device=buf.device)
        errors += _mismatches(torch, words[lo:hi], expected, base + lo * 8, found, width=8)
    return errors


def check_memory_pattern(params: dict[str, Any]) -> Outcome:
    """Write and verify walking-ones, random and address-in-address patterns over most of the free memory."""
    torch = torch_module()
    deadline = _deadline(params)
    device = str(params["device"])
    total, region = _region_bytes(torch, params)
    chunk = int(params["chunk_mib"]) * MIB
    if total < chunk:
        return Outcome.skip(f"less than one {chunk // MIB} MiB chunk to test in {region}", region=region)
    buffers = []
    try:
        for _ in range(total // chunk):  # hold every chunk at once: freed chunks would be handed back and retested
            buffers.append(torch.empty(chunk, dtype=torch.uint8, device=device))
    except RuntimeError as exc:  # the allocator's view of "free" is not the driver's: test what we got
        if not buffers:
            return Outcome.fail(f"cannot allocate one {chunk // MIB} MiB chunk of {region}: {str(exc).splitlines()[0]}")
    patterns = [f"walking_ones_0x{v:02x}" for v in WALKING_ONES] + ["random", "address_in_address"]
    found: list[dict[str, Any]] = []
    errors, tested, passes, cut = 0, 0, 0, False
    started = time.perf_counter()
    slowest = 0.0  # the longest pattern pass so far: the next one is not started unless it fits before the deadline
    for index, buf in enumerate(buffers):
        base = index * chunk
        steps = [functools.partial(_verify_fill, torch, buf, v, base, found) for v in WALKING_ONES]
        steps += [functools.partial(_verify_random, torch, buf, index + 1, base, found)]
        steps += [functools.partial(_verify_address, torch, buf, base, found)]
        for step in steps:
            began = time.perf_counter()
            if began + slowest > deadline:
                cut = True
                break
            errors += step()
            _synchronize(torch, device)
            slowest = max(slowest, time.perf_counter() - began)
            passes += 1
        if cut:
            break
        tested += chunk
    elapsed = time.perf_counter() - started
    del buffers
    if _on_gpu(params):
        torch.cuda.empty_cache()  # hand the tested memory back: the caching allocator would keep it from the next check
    details: dict[str, Any] = {
        "region": region,
        "bytes_planned": total,
        "bytes_tested": tested,
        "chunks_tested": tested // chunk,
        "pattern_passes": passes,  # (chunk, pattern) write-and-verify passes done, a cut chunk's included
        "chunk_mib": chunk // MIB,
        "patterns": patterns,
        "errors": errors,
        "first_errors": found,
        "seconds": round(elapsed, 3),
        "gib_per_s_written": round(passes * chunk / elapsed / 1024**3, 3) if elapsed > 0 else None,
        "cut_short": cut,
    }
    if cut:
        details["cut_short_reason"] = (
            f"its share of the --budget ran out after {tested // MIB} of {total // MIB} MiB had every pattern ({passes} passes)"
        )
    if errors:
        return Outcome.fail(
            f"{errors} byte(s) read back wrong in {region} (first at offset {found[0]['offset']}: wrote {found[0]['expected']}, "
            f"read {found[0]['read']}): the memory is corrupting data",
            remedy="take the node out of service and run the vendor's memory diagnostic (NVIDIA: dcgmi diag -r 3)",
            **details,
        )
    if tested == 0:
        return Outcome.skip(f"cut short by the --budget before the first {chunk // MIB} MiB chunk was tested", **details)
    return Outcome.ok(summary=f"{tested // MIB} MiB of {region} x {len(patterns)} patterns, 0 errors", **details)


# ---------------------------------------------------------------- load.sustained


def load_duration(params: dict[str, Any]) -> tuple[float, bool]:
    """(seconds to load the device, whether the budget shortened it below the policy's length)."""
    budget = params.get("budget_s")
    wanted = float(params["max_s"]) if budget is None else float(params["budget_fraction"]) * float(budget)
    wanted = min(max(wanted, float(params["min_s"])), float(params["max_s"]))
    limit = float(params.get("time_limit_s") or wanted)
    return min(wanted, limit), limit < wanted


def sagged(samples: list[float], sag_fraction: float) -> str | None:
    """Why the throughput counts as sagging: the last third's median below ``sag_fraction`` of the first third's."""
    if len(samples) < 3:
        return None
    third = max(len(samples) // 3, 1)
    first = sorted(samples[:third])[third // 2]
    last = sorted(samples[-third:])[third // 2]
    if first > 0 and last < sag_fraction * first:
        return f"throughput sagged under sustained load: the last {third} s ran at {last / first:.0%} of the first {third} s"
    return None


def check_load_sustained(params: dict[str, Any]) -> Outcome:
    """Matrix products for a share of the budget, achieved TFLOP/s sampled each second; fail on a sustained sag."""
    torch = torch_module()
    device = str(params["device"])
    duration, shortened = load_duration(params)
    if duration < 1.5:
        return Outcome.skip(f"its share of the --budget ({duration:.1f} s) leaves no time for one sampled second", duration_s=duration)
    n = int(params["matmul_n"]["gpu" if _on_gpu(params) else "cpu"])
    a = torch.randn(n, n, device=device)
    b = torch.randn(n, n, device=device)
    out = torch.empty(n, n, device=device)
    torch.matmul(a, b, out=out)  # warm-up: kernels chosen, clocks ramping
    _synchronize(torch, device)
    flops = 2.0 * n**3
    samples: list[dict[str, float]] = []
    started = time.perf_counter()
    window_start, count = started, 0
    while True:
        torch.matmul(a, b, out=out)
        count += 1
        if count % 4 == 0 or not _on_gpu(params):
            _synchronize(torch, device)
            now = time.perf_counter()
            if now - window_start >= 1.0:
                samples.append({"t_s": round(now - started, 3), "tflops": round(flops * count / (now - window_start) / 1e12, 6)})
                window_start, count = now, 0
            if now - started >= duration:
                break
    finite = bool(torch.isfinite(out).all())
    figures = [s["tflops"] for s in samples]
    best = max(figures) if figures else 0.0
    details: dict[str, Any] = {
        "matmul_n": n,
        "dtype": "float32",
        "seconds": round(time.perf_counter() - started, 3),
        "samples": samples,
        "tflops_best": best,
        "tflops_median": sorted(figures)[len(figures) // 2] if figures else None,
        "tflops_min": min(figures) if figures else None,
        "lowest_fraction_of_best": round(min(figures) / best, 3) if best else None,
        "sag_fraction": float(params["sag_fraction"]),
        "cut_short": shortened,
    }
    if shortened:
        details["cut_short_reason"] = f"its share of the --budget allowed {duration:.1f} s of load"
    if not finite:
        return Outcome.fail("the matrix products under load returned NaN/Inf", **details)
    why = sagged(figures, float(params["sag_fraction"]))
    if why:
        return Outcome.fail(why, remedy="check cooling and power delivery; compare with nvidia-smi -q -d PERFORMANCE under load", **details)
    return Outcome.ok(summary=f"{len(samples)} s at {details['tflops_median']} TFLOP/s median (best {best})", **details)


# ---------------------------------------------------------------- transfer.host


def check_transfer_host(params: dict[str, Any]) -> Outcome:
    """Pinned host-to-device and device-to-host bandwidth against the PCIe link's expectation."""
    if not _on_gpu(params):
        backend = params.get("backend") or "unknown"
        return Outcome.skip(f"{backend} backend: no host-to-device link to measure (the device is the host's own memory)")
    torch = torch_module()
    device = str(params["device"])
    nbytes = int(params["mib"]) * MIB
    host = torch.empty(nbytes, dtype=torch.uint8, pin_memory=True)
    dev = torch.empty(nbytes, dtype=torch.uint8, device=device)
    deadline = _deadline(params)
    figures: dict[str, float] = {}
    for name, dst, src in (("h2d", dev, host), ("d2h", host, dev)):
        dst.copy_(src, non_blocking=True)  # warm-up
        _synchronize(torch, device)
        reps, started = 0, time.perf_counter()
        while reps < 10 and (reps < 2 or time.perf_counter() < deadline):
            dst.copy_(src, non_blocking=True)
            reps += 1
            _synchronize(torch, device)
        figures[f"{name}_gb_per_s"] = round(nbytes * reps / (time.perf_counter() - started) / 1e9, 3)
    expected = params.get("expected_gb_per_s")
    details: dict[str, Any] = {**figures, "mib": nbytes // MIB, "pinned": True, "expected_gb_per_s": expected, "link": params.get("link")}
    if not expected:
        return Outcome.ok(
            summary=f"H2D {figures['h2d_gb_per_s']} GB/s, D2H {figures['d2h_gb_per_s']} GB/s (no PCIe reading to compare)", **details
        )
    floor = float(params["min_fraction"]) * float(expected)
    slow = [f"{k[:3].upper()} {v} GB/s" for k, v in figures.items() if v < floor]
    details["floor_gb_per_s"] = round(floor, 3)
    if slow:
        return Outcome.fail(
            f"{' and '.join(slow)} below {floor:.1f} GB/s ({float(params['min_fraction']):.0%} of the {expected} GB/s a {params.get('link')} link gives)",
            remedy="reseat the card or check the slot, riser and BIOS PCIe settings; nvidia-smi -q -d PCIE shows the link",
            **details,
        )
    return Outcome.ok(summary=f"H2D {figures['h2d_gb_per_s']} GB/s, D2H {figures['d2h_gb_per_s']} GB/s of {expected} GB/s", **details)


# ---------------------------------------------------------------- model.smoke


def check_model_smoke(params: dict[str, Any]) -> Outcome:
    """A forward against the float32 CPU reference and one training step of a small transformer (the smoke runner's case)."""
    from preflight_probe import smoke_worker

    torch = torch_module()
    device = str(params["device"]).split(":")[0]
    spec = {"seed": int(params.get("seed", 0)), "models": ["transformer"], "dtypes": ["float32"]}
    case = smoke_worker.run_case(torch, spec, device, "transformer", "float32")
    details = {k: v for k, v in case.items() if k not in ("type", "outcome", "reason")}
    if case["outcome"] == "skipped":
        return Outcome.skip(str(case["reason"]), **details)
    if case["outcome"] != "pass":
        return Outcome.fail(f"transformer float32 on {device}: {case['reason']}", **details)
    forward = case["forward"]
    return Outcome.ok(
        summary=f"forward rel. error {forward['max_rel_error']:.2g}, {forward['ms_per_iteration']:.1f} ms/iter; training step "
        f"{case['train']['step_ms']:.1f} ms",
        **details,
    )
