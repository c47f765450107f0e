"""The orchestrator's side of the deep level's stress checks: PCIe expectations and NVML under load.

The probe is stdlib + torch, so NVML is read here: while ``load.sustained``
runs in the worker, a ``LoadMonitor`` thread takes one NVML reading a second
(through the same subprocess reader as ``gpu.health``) and ``judge`` fails the
check when a thermal, power-brake or hardware slowdown shows up under load.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from typing import Any

from preflight_action.gpu import policy as gpu_policy
from preflight_action.gpu.collect import Collected, collect_readings
from preflight_action.preflight.context import Context
from preflight_action.preflight.report import CheckResult

# Usable bandwidth of one PCIe lane per direction in GB/s, after line encoding (8b/10b to gen 2, 128b/130b after).
PCIE_LANE_GB_S = {1: 0.25, 2: 0.5, 3: 0.985, 4: 1.969, 5: 3.938, 6: 7.563}
SAMPLE_PERIOD_S = 1.0
READING_TIMEOUT_S = 5.0


def device_params(ctx: Context) -> dict[str, Any]:
    return {"device": ctx.device, "backend": ctx.backend}


def _target_gpu(ctx: Context) -> dict[str, Any] | None:
    details = ctx.details("gpu.health")
    readings, index = details.get("readings"), details.get("target_index")
    if not readings or index is None:
        return None
    return next((g for g in readings["gpus"] if g["index"] == index), None)


def pcie_expectation(gpu: dict[str, Any] | None) -> tuple[float | None, str | None]:
    """(GB/s one direction should reach, 'PCIe gen4 x16') from a GPU's NVML link reading."""
    pcie = (gpu or {}).get("pcie") or {}
    gen, width = pcie.get("gen"), pcie.get("width")
    if not gen or not width or gen not in PCIE_LANE_GB_S:
        return None, None
    return round(PCIE_LANE_GB_S[gen] * width, 3), f"PCIe gen{gen} x{width}"


def transfer_params(ctx: Context) -> dict[str, Any]:
    expected, link = pcie_expectation(_target_gpu(ctx))
    return {**device_params(ctx), "expected_gb_per_s": expected, "link": link}


def _sample(reading: dict[str, Any], index: int | None, t_s: float) -> dict[str, Any] | None:
    gpus = reading.get("gpus") or []
    gpu = next((g for g in gpus if g["index"] == index), gpus[0] if gpus else None)
    if gpu is None:
        return None
    clocks = gpu.get("clocks") or {}
    reasons = (gpu.get("clock_event_reasons") or {}).get("active") or []
    return {
        "t_s": round(t_s, 3),
        "sm_mhz": clocks.get("sm_mhz"),
        "sm_max_mhz": clocks.get("sm_max_mhz"),
        "temperature_c": gpu.get("temperature_c"),
        "power_w": gpu.get("power_w"),
        "utilization_gpu_pct": gpu.get("utilization_gpu_pct"),
        "slowdowns": [r for r in reasons if r in gpu_policy.SLOWDOWN_REASONS],
    }


class LoadMonitor:
    """NVML readings once a second while a check runs (CUDA only); ``judge`` folds them into its result."""

    def __init__(self, index: int | None, collect: Callable[[float], Collected] = collect_readings, period_s: float = SAMPLE_PERIOD_S):
        self.index = index
        self.samples: list[dict[str, Any]] = []
        self.errors: list[str] = []
        self._collect = collect
        self._period = period_s
        self._stop = threading.Event()
        self._started = time.monotonic()
        self._thread = threading.Thread(target=self._loop, name="preflight-nvml-sampler", daemon=True)
        self._thread.start()

    def _loop(self) -> None:
        while not self._stop.is_set():
            began = time.monotonic()
            got = self._collect(READING_TIMEOUT_S)
            if got.readings is not None and got.readings.get("available"):
                sample = _sample(got.readings, self.index, began - self._started)
                if sample is not None:
                    self.samples.append(sample)
            elif got.error:
                self.errors.append(got.error)
            self._stop.wait(max(self._period - (time.monotonic() - began), 0.0))

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(READING_TIMEOUT_S + 1.0)

    def judge(self, result: CheckResult) -> CheckResult:
        self.stop()
        return judge_load(result, self.samples, self.errors)


def judge_load(result: CheckResult, samples: list[dict[str, Any]], errors: list[str]) -> CheckResult:
    """``result`` with the NVML samples added; a fail when a slowdown reason was active under load."""
    details = {**result.details, "nvml_samples": samples, "nvml_errors": errors[:3]}
    throttled = [s for s in samples if s["slowdowns"]]
    if samples:
        details["sm_mhz_min"] = min((s["sm_mhz"] for s in samples if s["sm_mhz"] is not None), default=None)
        details["temperature_c_max"] = max((s["temperature_c"] for s in samples if s["temperature_c"] is not None), default=None)
        details["power_w_max"] = max((s["power_w"] for s in samples if s["power_w"] is not None), default=None)
    if result.status != "pass" or not throttled:
        return CheckResult(result.id, result.status, result.duration_ms, details, result.error, result.skip_reason, source=result.source)
    first = throttled[0]
    names = ", ".join(gpu_policy.SLOWDOWN_REASONS[r] for r in first["slowdowns"])
    error = (
        f"{names} under load at {first['t_s']:.0f} s into the run (SM {first['sm_mhz']} of {first['sm_max_mhz']} MHz, "
        f"{first['temperature_c']} C, {first['power_w']} W); {len(throttled)} of {len(samples)} readings throttled"
    )
    return CheckResult(
        result.id,
        "fail",
        result.duration_ms,
        details,
        error,
        remedy="check the cooling (fans, airflow, heatsink contact) and power delivery; nvidia-smi -q -d PERFORMANCE under load",
        source=result.source,
    )


def load_monitor(ctx: Context) -> LoadMonitor | None:
    """A sampler for load.sustained on CUDA with NVML (gpu.health passed); None elsewhere."""
    if ctx.backend != "cuda" or not ctx.passed("gpu.health"):
        return None
    return LoadMonitor(ctx.details("gpu.health").get("target_index"))
