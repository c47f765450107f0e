"""Checks that run in the orchestrator (torch-free) over what the probe established.

GPU truth: ``gpu.health`` reads NVML through ``gpu.collect`` (a subprocess with
a timeout); ``gpu.clocks``, ``gpu.ecc``, ``gpu.pcie``, ``gpu.mig`` and
``gpu.driver`` judge those readings with ``gpu.policy``, each with its own
severity. Off the cuda backend all of them skip at once, starting nothing.

Runtime safety: ``dtype.select`` and ``memory.headroom`` are pure computations
over the ``capabilities.detect`` details and the dtype/memory policies (about a
millisecond). A bad user policy file fails the check with the file and JSON
pointer instead of losing the report.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from preflight_action.errors import InputError
from preflight_action.gpu import policy as gpu_policy
from preflight_action.gpu.collect import NVML_TIMEOUT_S, Collected, collect_readings
from preflight_action.preflight.context import Context
from preflight_action.preflight.report import CheckResult
from preflight_action.safety.capabilities import RuntimeCapabilities
from preflight_action.safety.dtype import choose, load_dtype_policy
from preflight_action.safety.memory import estimate, load_memory_policy
from preflight_probe import evidence

PERF_BACKENDS = ("cuda", "rocm")
NO_NVML = {
    "cpu": "cpu backend: no NVIDIA GPU to read with NVML",
    "rocm": "rocm backend: NVML reads NVIDIA GPUs only (AMD GPU health is not checked)",
    "mps": "mps backend: Apple GPUs have no NVML",
    "xpu": "xpu backend: NVML reads NVIDIA GPUs only",
}


def _caps(ctx: Context) -> RuntimeCapabilities:
    facts = ctx.details("capabilities.detect")
    facts.setdefault("source", "capabilities.detect")
    return RuntimeCapabilities.from_probe_facts(facts, backend=ctx.backend)


def check_dtype_select(ctx: Context) -> CheckResult:
    """Which dtype a model requesting the policy's default would get here, and why."""
    try:
        policy = load_dtype_policy()
    except InputError as exc:
        return CheckResult("dtype.select", "fail", error=f"dtype policy: {exc}", source="host")
    caps = _caps(ctx)
    choice = choose(policy.default_request, caps, policy)
    details = {
        "requested": choice.requested,
        "dtype": choice.dtype,
        "changed": choice.changed,
        "reason": choice.reason,
        "rule": choice.rule,
        "backend": caps.backend,
        "policy": policy.source,
        "simulated": choice.simulated,
        "summary": f"{choice.requested} requested -> {choice.dtype} on {caps.backend} (rule {choice.rule})",
    }
    measured = (ctx.details("dtype.support").get("dtypes") or {}).get(choice.dtype)
    if measured is not None and not measured.get("supported", True):
        why = measured.get("error") or "not supported"
        error = f"the dtype policy chose {choice.dtype} (rule {choice.rule}) but dtype.support found it unusable on {caps.backend}: {why}"
        return CheckResult("dtype.select", "fail", details=details, error=error, source="host")
    return CheckResult("dtype.select", "pass", details=details, source="host")


def check_memory_headroom(ctx: Context) -> CheckResult:
    """Free device memory (host RAM for cpu/mps) against the policy minimum; which named models would fit."""
    try:
        policy = load_memory_policy()
        dtype_policy = load_dtype_policy()
    except InputError as exc:
        return CheckResult("memory.headroom", "fail", error=f"memory policy: {exc}", source="host")
    caps = _caps(ctx)
    available = caps.available_memory_mb
    minimum = policy.minimum_headroom_mb[caps.backend]
    where = caps.device_name or ("host RAM" if caps.memory_kind == "RAM" else caps.backend)
    if available is None:
        return CheckResult.skipped("memory.headroom", f"free memory of {where} is unknown on this runtime", "host")
    dtype = choose(None, caps, dtype_policy).dtype
    fits: list[str] = []
    too_big: list[str] = []
    for name in sorted(policy.models):
        needed = estimate(name, dtype, policy=policy).total_mb + policy.safety_margin_mb
        (fits if needed <= available else too_big).append(name)
    details = {
        "backend": caps.backend,
        "memory_kind": caps.memory_kind,
        "device": where,
        "available_mb": available,
        "total_mb": caps.total_memory_mb if caps.accelerator else caps.ram_total_mb,
        "minimum_mb": minimum,
        "policy": policy.source,
        "estimate_dtype": dtype,
        "models_fit": fits,
        "models_too_big": too_big,
        "simulated": caps.simulated,
        "summary": f"{available}MB {caps.memory_kind} free (minimum {minimum:g}MB); fits {len(fits)}/{len(policy.models)} named models in {dtype}",
    }
    facts = ctx.details("capabilities.detect")
    limit, host_total = facts.get("cgroup_memory_limit_mb"), facts.get("ram_total_host_mb")
    capped = caps.memory_kind == "RAM" and limit is not None and host_total is not None and limit < host_total
    if capped:  # a container's memory limit, not the host's RAM, is what this job may use
        details["cgroup_memory_limit_mb"], details["host_ram_mb"] = limit, host_total
        details["summary"] = f"{details['summary']} (the cgroup memory limit {limit}MB binds, not the host's {host_total}MB)"
    if available < minimum:
        where = "the memory this cgroup may use" if capped else where
        error = f"only {available}MB {caps.memory_kind} free on {where}, below the policy minimum of {minimum:g}MB ({policy.source})"
        if not capped:
            return CheckResult("memory.headroom", "fail", details=details, error=error, source="host")
        where_read = (facts.get("sources") or {}).get("cgroup_memory_limit_mb", "the cgroup memory limit")
        proof = [f"cgroup memory limit {limit}MB ({where_read}); host RAM {host_total}MB; {available}MB of the limit is free"]
        details["diagnosis"] = evidence.diagnosis(evidence.CONTAINER_LIMIT, proof)
        error += f": the cgroup memory limit of {limit}MB binds, not the host's {host_total}MB of RAM"
        remedy = (
            "raise the job's memory limit (docker run --memory, Kubernetes resources.limits.memory, Slurm --mem) "
            "or free memory inside it" + evidence.rests_on(proof)
        )
        return CheckResult("memory.headroom", "fail", details=details, error=error, remedy=remedy, source="host")
    return CheckResult("memory.headroom", "pass", details=details, source="host")


def _torch_index(device: str | None) -> int:
    _, _, index = (device or "").partition(":")
    return int(index) if index.isdigit() else 0


def check_gpu_health(ctx: Context, collect: Callable[[float], Collected] | None = None) -> CheckResult:
    timeout = min(NVML_TIMEOUT_S, ctx.options.check_timeout)
    if "device.resolve" not in ctx.results:  # a read-only level (watch): NVML's view, no torch device touched
        return _gpu_health_read_only(ctx, (collect or collect_readings)(timeout) if ctx.options.device in ("auto", "cuda") else None)
    backend = ctx.backend or ""
    resolved = ctx.details("device.resolve")
    if backend == "cpu" and ctx.options.device == "auto" and resolved.get("nvidia_gpus_present"):
        return _gpus_left_unused(resolved, (collect or collect_readings)(timeout))
    if backend != "cuda":
        return CheckResult.skipped("gpu.health", NO_NVML.get(backend, f"{backend or 'unknown'} backend: no NVML"), "host")
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


def _gpu_health_read_only(ctx: Context, got: Collected | None) -> CheckResult:
    """gpu.health without device.resolve: NVML's first visible GPU (CUDA_VISIBLE_DEVICES' first entry), read only."""
    if got is None:
        return CheckResult.skipped("gpu.health", NO_NVML.get(ctx.options.device, f"--device {ctx.options.device}: no NVML"), "host")
    timing = {"elapsed_ms": round(got.elapsed_ms, 1), "read_only": True}
    if got.readings is None:
        return CheckResult("gpu.health", "fail", got.elapsed_ms, timing, error=got.error, source="host")
    readings = got.readings
    if not readings["available"]:
        return CheckResult("gpu.health", "skip", got.elapsed_ms, timing, skip_reason=readings["reason"], source="host")
    gpu, how = gpu_policy.select_gpu(readings, 0, None)
    details = {**timing, "readings": readings, "target_index": gpu["index"] if gpu else None, "selection": how}
    if gpu is None:
        return CheckResult("gpu.health", "fail", got.elapsed_ms, details, error=f"no GPU to read: {how}", source="host")
    return CheckResult("gpu.health", "pass", got.elapsed_ms, details, source="host")


def _gpus_left_unused(resolved: dict[str, Any], got: Collected) -> CheckResult:
    """``--device auto`` fell back to the CPU on a host whose NVIDIA driver bound GPUs: the silent CPU fallback.

    ``--device cpu`` says the CPU is meant; auto on a GPU host means the job would run on the CPU without a word.
    """
    present: list[str] = resolved["nvidia_gpus_present"]
    cuda = (resolved.get("backends") or {}).get("cuda") or {}
    readings = got.readings if got.readings and got.readings.get("available") else None
    names = sorted({g["name"] for g in readings["gpus"]}) if readings else []
    what = f"{len(present)} NVIDIA GPU{'s' if len(present) != 1 else ''} ({', '.join(names) or ', '.join(present)})"
    why = cuda.get("reason") or "CUDA is unavailable to this torch"
    details = {"elapsed_ms": round(got.elapsed_ms, 1), "nvidia_gpus_present": present, "readings": got.readings}
    error = f"--device auto resolved to cpu, but this host has {what} that torch cannot use: {why}"
    remedy = cuda.get("remedy") or "run with --device cuda to see why CUDA is unavailable; pass --device cpu when the CPU is meant"
    return CheckResult("gpu.health", "fail", got.elapsed_ms, details, error=error, remedy=remedy, source="host")


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
    torch_cuda = caps.get("torch_cuda_build") if caps else ctx.details("torch.import").get("cuda_build")  # watch: no capabilities.detect
    verdict = gpu_policy.evaluate_driver(readings.get("driver_version"), driver_cuda, torch_cuda)
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
