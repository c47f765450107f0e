"""Smoke modes: real (models on the device), simulated (a capability profile), stub (no torch).

Simulated runs go through the same guard and dtype policy as real ones, against
a profile from ``preflight_action.runtime_safety``; their cases are marked
``simulated`` and a simulated run never counts as a real pass.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

from preflight_action.errors import UsageError
from preflight_action.smoke import guard

MODES = ("real", "simulated", "stub")
DEFAULT_PROFILE = "h100-linux"
MIB = 1024**2


@dataclass(frozen=True)
class SimulatedTarget:
    """What a simulated run runs against: the profile and what it implies."""

    profile: str
    backend: str
    device_name: str | None
    available_bytes: int | None
    memory_source: str
    facts: dict[str, Any]
    caps: Any


def _safety() -> Any:
    try:
        from preflight_action import runtime_safety
    except ImportError as exc:
        raise UsageError(f"simulated mode needs preflight_action.runtime_safety, which is not importable ({exc})") from None
    return runtime_safety


def profiles() -> list[str]:
    return sorted(_safety().list_simulated_profiles())


def target(name: str) -> SimulatedTarget:
    """Load simulated profile ``name``; an unknown name is a usage error listing the known ones."""
    safety = _safety()
    known = sorted(safety.list_simulated_profiles())
    if name not in known:
        import difflib

        close = difflib.get_close_matches(name, known, n=1)
        hint = f" (did you mean {close[0]!r}?)" if close else ""
        raise UsageError(f"--profile {name!r} is not a simulated profile{hint}; known: {', '.join(known)}")
    caps = safety.load_simulated_profile(name)
    backend = getattr(caps, "backend", None)
    if caps.cuda_available:
        backend = backend or ("rocm" if getattr(caps, "hip_version", None) else "cuda")
        free_mb = caps.free_memory_mb if caps.free_memory_mb is not None else caps.total_memory_mb
        source = f"{caps.device_name} free memory (profile {name})"
    elif caps.mps_available:
        backend, free_mb, source = backend or "mps", caps.ram_available_mb, f"unified memory available (profile {name})"
    else:
        backend, free_mb, source = backend or "cpu", caps.ram_available_mb, f"host RAM available (profile {name})"
    facts = {
        "os": caps.os,
        "device_name": caps.device_name,
        "compute_capability": list(caps.compute_capability) if caps.compute_capability else None,
        "total_memory_mb": caps.total_memory_mb,
        "free_memory_mb": caps.free_memory_mb,
        "bf16_supported": caps.bf16_supported,
        "mps_available": caps.mps_available,
        "ram_total_mb": caps.ram_total_mb,
        "ram_available_mb": caps.ram_available_mb,
    }
    available = int(free_mb * MIB) if free_mb is not None else None
    return SimulatedTarget(name, backend, caps.device_name, available, source, facts, caps)


@contextmanager
def _quiet_policy_log() -> Iterator[None]:
    """The policy logs each downgrade as a warning; the case records it, so keep the console to one line."""
    logger = logging.getLogger("preflight_action.runtime_safety")
    level = logger.level
    logger.setLevel(logging.ERROR)
    try:
        yield
    finally:
        logger.setLevel(level)


def simulate_cases(sim: SimulatedTarget, params: dict[str, int], dtypes: list[str], knobs: guard.GuardKnobs) -> list[dict[str, Any]]:
    """Each model x dtype through the dtype policy and the guard, as the real run would on that hardware."""
    select = _safety().select_safe_dtype
    cases = []
    for model, count in params.items():
        for dtype in dtypes:
            with _quiet_policy_log():
                choice = select(dtype, sim.caps)
            effective = str(choice.dtype)
            verdict = guard.check(
                {model: count}, [effective if effective in guard.BYTES_PER_PARAM else dtype], sim.available_bytes, sim.memory_source, knobs
            )
            fit = "fits" if verdict.fits else f"short by {verdict.shortfall_bytes / guard.GIB:.2f} GiB"
            swap = f" (the dtype policy picks {effective})" if effective != dtype else ""
            cases.append(
                {
                    "model": model,
                    "dtype": dtype,
                    "effective_dtype": effective,
                    "policy_reason": str(choice.reason),
                    "outcome": "simulated",
                    "reason": f"simulated on {sim.profile}: would run {model} in {effective} on {sim.device_name or sim.backend}{swap}; guard {fit}",
                    "params": count,
                    "guard_fits": verdict.fits,
                }
            )
    return cases
