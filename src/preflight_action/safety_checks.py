"""Host checks built on the runtime safety library: ``dtype.select`` and ``memory.headroom``.

Pure, torch-free computations over the ``capabilities.detect`` details (via
``RuntimeCapabilities.from_probe_facts``) and the dtype/memory policies; they
cost about a millisecond. A bad user policy file fails the check with the
file and JSON pointer instead of losing the report.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from preflight_action.capability_record import RuntimeCapabilities
from preflight_action.dtype_policy import choose, load_dtype_policy
from preflight_action.errors import InputError
from preflight_action.memory_estimate import estimate, load_memory_policy
from preflight_action.report import CheckResult

if TYPE_CHECKING:
    from preflight_action.checks import Context


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
    if available < minimum:
        error = f"only {available}MB {caps.memory_kind} free on {where}, below the policy minimum of {minimum:g}MB ({policy.source})"
        return CheckResult("memory.headroom", "fail", details=details, error=error, source="host")
    return CheckResult("memory.headroom", "pass", details=details, source="host")
