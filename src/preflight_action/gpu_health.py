"""Host side of the GPU-truth checks: NVML readings in a subprocess, health checks, perf-probe params.

``gpu.health`` runs ``python -m preflight_action.nvml_readings`` under this
interpreter with a timeout (NVML can hang on a broken driver) and keeps the
readings; ``gpu.clocks``, ``gpu.ecc``, ``gpu.pcie``, ``gpu.mig`` and
``gpu.driver`` judge them with the pure functions in ``gpu_policy``, each with
its own severity in policy/severity.yaml. Off the cuda backend all of them skip
at once, without starting anything.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from preflight_action import gpu_policy
from preflight_action.errors import PreflightError
from preflight_action.report import CheckResult

if TYPE_CHECKING:
    from preflight_action.checks import Context

NVML_TIMEOUT_S = 30.0
PERF_BACKENDS = ("cuda", "rocm")
NO_NVML = {
    "cpu": "cpu backend: no NVIDIA GPU to read with NVML",
    "rocm": "rocm backend: NVML reads NVIDIA GPUs only (AMD GPU health is not checked)",
    "mps": "mps backend: Apple GPUs have no NVML",
    "xpu": "xpu backend: NVML reads NVIDIA GPUs only",
}


@dataclass(frozen=True)
class Collected:
    """What the NVML subprocess produced: the readings, or why there are none."""

    readings: dict[str, Any] | None
    error: str | None
    elapsed_ms: float


def readings_command() -> list[str]:
    return [sys.executable, "-m", "preflight_action.nvml_readings"]


def _env() -> dict[str, str]:
    """This environment, with our package importable by the subprocess even from a checkout."""
    env = dict(os.environ)
    root = str(Path(gpu_policy.__file__).resolve().parent.parent)
    env["PYTHONPATH"] = root + (os.pathsep + env["PYTHONPATH"] if env.get("PYTHONPATH") else "")
    return env


def collect_readings(timeout: float, command: list[str] | None = None) -> Collected:
    """Run the NVML reader in a subprocess; a hang, crash or bad document becomes ``error``."""
    from preflight_action import schemas

    argv = command or readings_command()
    started = time.perf_counter()
    try:
        done = subprocess.run(argv, capture_output=True, text=True, timeout=timeout, env=_env(), check=False)
    except subprocess.TimeoutExpired:
        elapsed = (time.perf_counter() - started) * 1000.0
        return Collected(
            None, f"NVML did not answer within {timeout:g} s (the driver may be hung; nvidia-smi would likely hang too)", elapsed
        )
    except OSError as exc:
        return Collected(None, f"cannot start the NVML reader {argv[0]}: {exc}", (time.perf_counter() - started) * 1000.0)
    elapsed = (time.perf_counter() - started) * 1000.0
    if done.returncode != 0:
        tail = [line for line in done.stderr.strip().splitlines() if line.strip()][-1:] or ["no stderr output"]
        return Collected(None, f"the NVML reader exited with code {done.returncode}: {tail[0][:300]}", elapsed)
    try:
        document = json.loads(done.stdout)
        schemas.validate(document, "nvml_readings", "NVML reader output")
    except (json.JSONDecodeError, PreflightError) as exc:
        return Collected(None, f"the NVML reader printed an invalid document: {str(exc)[:300]}", elapsed)
    return Collected(document, None, elapsed)


def _torch_index(device: str | None) -> int:
    _, _, index = (device or "").partition(":")
    return int(index) if index.isdigit() else 0


def check_gpu_health(ctx: Context, collect: Callable[[float], Collected] | None = None) -> CheckResult:
    backend = ctx.backend or ""
    if backend != "cuda":
        return CheckResult.skipped("gpu.health", NO_NVML.get(backend, f"{backend or 'unknown'} backend: no NVML"), "host")
    timeout = min(NVML_TIMEOUT_S, ctx.options.check_timeout)
    got = (collect or collect_readings)(timeout)
    timing = {"elapsed_ms": round(got.elapsed_ms, 1)}
    if got.readings is None:
        return CheckResult("gpu.health", "fail", got.elapsed_ms, timing, error=got.error, source="host")
    readings = got.readings
    if not readings["available"]:
        return CheckResult("gpu.health", "skip", got.elapsed_ms, timing, skip_reason=readings["reason"], source="host")
    caps = ctx.details("capabilities.detect")
    gpu, how = gpu_policy.select_gpu(readings, _torch_index(ctx.device), caps.get("device_name"))
    details = {**timing, "readings": readings, "target_index": gpu["index"] if gpu else None, "selection": how}
    if gpu is None:
        return CheckResult(
            "gpu.health", "fail", got.elapsed_ms, details, error=f"cannot find {ctx.device} among NVML's GPUs: {how}", source="host"
        )
    return CheckResult("gpu.health", "pass", got.elapsed_ms, details, source="host")


def _target(ctx: Context) -> dict[str, Any]:
    details = ctx.details("gpu.health")
    index = details["target_index"]
    return next(g for g in details["readings"]["gpus"] if g["index"] == index)


def _result(check_id: str, verdict: gpu_policy.Verdict) -> CheckResult:
    if verdict.status == "skip":
        return CheckResult(check_id, "skip", details=verdict.details, skip_reason=verdict.message, source="host")
    if verdict.status == "fail":
        return CheckResult(check_id, "fail", details=verdict.details, error=verdict.message, source="host")
    return CheckResult(check_id, "pass", details={**verdict.details, "summary": verdict.message}, source="host")


def check_gpu_clocks(ctx: Context) -> CheckResult:
    return _result("gpu.clocks", gpu_policy.evaluate_clocks(_target(ctx)))


def check_gpu_ecc(ctx: Context) -> CheckResult:
    return _result("gpu.ecc", gpu_policy.evaluate_ecc(_target(ctx)))


def check_gpu_pcie(ctx: Context) -> CheckResult:
    return _result("gpu.pcie", gpu_policy.evaluate_pcie(_target(ctx)))


def check_gpu_mig(ctx: Context) -> CheckResult:
    return _result("gpu.mig", gpu_policy.evaluate_mig(_target(ctx)))


def check_gpu_driver(ctx: Context) -> CheckResult:
    readings = ctx.details("gpu.health")["readings"]
    caps = ctx.details("capabilities.detect")
    driver_cuda = readings.get("cuda_driver_version") or caps.get("cuda_driver_version")
    verdict = gpu_policy.evaluate_driver(readings.get("driver_version"), driver_cuda, caps.get("torch_cuda_build"))
    return _result("gpu.driver", verdict)


def perf_params(ctx: Context) -> dict[str, Any]:
    """Params for perf.matmul / perf.bandwidth: the device and, on GPUs, the SKU reference to compare with."""
    params: dict[str, Any] = {"device": ctx.device, "backend": ctx.backend}
    if ctx.backend not in PERF_BACKENDS:
        return params  # the probe skips at once; the reference is not even loaded
    caps = ctx.details("capabilities.detect")
    params["compute_capability"] = caps.get("compute_capability")
    path = gpu_policy.reference_path()
    params["reference"] = gpu_policy.reference_for(gpu_policy.load_reference(), caps.get("device_name"), path.name)
    return params


def placement_params(ctx: Context) -> dict[str, Any]:
    return {"device": ctx.device, "backend": ctx.backend}
