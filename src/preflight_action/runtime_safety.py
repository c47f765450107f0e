"""Runtime safety library: know the runtime before you load a model.

Import this before loading weights::

    from preflight_action.runtime_safety import (
        check_vram_sufficient, configure_torch_backends, estimate_model_memory_mb,
        inspect_runtime_capabilities, log_runtime_diagnostics, select_safe_dtype,
    )

    log_runtime_diagnostics()
    configure_torch_backends()
    choice = select_safe_dtype("bfloat16")          # DtypeChoice: .dtype, .reason, .torch_dtype()
    need = estimate_model_memory_mb("flux-schnell", choice.dtype)
    ok, message = check_vram_sufficient(need, safety_margin_mb=2048)

Every function answers without torch (capabilities say torch is absent, the
dtype is float32). Policies are YAML data (policy/dtype.yaml, policy/memory.yaml)
that a user file replaces (``policy=`` or $PREFLIGHT_DTYPE_POLICY /
$PREFLIGHT_MEMORY_POLICY). Pass ``caps=load_simulated_profile("h100-linux")``
to see what any platform would get; such answers are marked simulated.
"""

from __future__ import annotations

import json
import logging
import threading
from typing import Any

from preflight_action import redact
from preflight_action.safety import backends as backend_config
from preflight_action.safety import inspect as capability_inspect
from preflight_action.safety.capabilities import RuntimeCapabilities
from preflight_action.safety.dtype import DtypeChoice, DtypePolicy, choose, load_dtype_policy
from preflight_action.safety.memory import (
    MemoryEstimate,
    MemoryPolicy,
    check_sufficient,
    estimate,
    load_memory_policy,
    meta_model,
)
from preflight_action.safety.profiles import list_simulated_profiles, load_simulated_profile

__all__ = [
    "DtypeChoice",
    "DtypePolicy",
    "MemoryEstimate",
    "MemoryPolicy",
    "RuntimeCapabilities",
    "check_vram_sufficient",
    "configure_torch_backends",
    "estimate_model_memory_mb",
    "get_cached_capabilities",
    "inspect_runtime_capabilities",
    "list_simulated_profiles",
    "load_dtype_policy",
    "load_memory_policy",
    "load_simulated_profile",
    "log_runtime_diagnostics",
    "meta_model",
    "runtime_diagnostics",
    "select_safe_dtype",
]

log = logging.getLogger("preflight_action.runtime_safety")
_cache_lock = threading.Lock()
_cached: RuntimeCapabilities | None = None


def inspect_runtime_capabilities() -> RuntimeCapabilities:
    """Inspect this process's runtime now (imports torch when installed; never raises for a missing torch)."""
    return capability_inspect.inspect()


def get_cached_capabilities(force_refresh: bool = False) -> RuntimeCapabilities:
    """The first inspection's record, reused; ``force_refresh=True`` inspects again (e.g. after freeing memory)."""
    global _cached  # noqa: PLW0603 - one process-wide cache is the point
    cached = _cached
    if cached is not None and not force_refresh:
        return cached
    with _cache_lock:
        if _cached is None or force_refresh:
            _cached = inspect_runtime_capabilities()
        return _cached


def _caps(caps: RuntimeCapabilities | None) -> RuntimeCapabilities:
    return caps if caps is not None else get_cached_capabilities()


def select_safe_dtype(requested: Any = None, caps: RuntimeCapabilities | None = None, policy: DtypePolicy | None = None) -> DtypeChoice:
    """The dtype to load a model in here, and why; ``requested`` like ``torch.bfloat16`` or ``"bf16"``."""
    choice = choose(requested, _caps(caps), policy or load_dtype_policy())
    if choice.changed:
        log.warning("dtype: %s", choice.reason)
    else:
        log.debug("dtype: %s", choice.reason)
    return choice


def estimate_model_memory_mb(
    model_or_name: Any,
    dtype: Any = "float16",
    mode: str = "inference",
    *,
    activation_mb: float | None = None,
    overhead_mb: float | None = None,
    policy: MemoryPolicy | None = None,
) -> MemoryEstimate:
    """Footprint of a named model, a parameter count or a (meta-device) ``torch.nn.Module``; ``int()`` gives MB."""
    return estimate(model_or_name, dtype, mode, activation_mb=activation_mb, overhead_mb=overhead_mb, policy=policy)


def check_vram_sufficient(
    required_mb: float | MemoryEstimate,
    safety_margin_mb: float | None = None,
    caps: RuntimeCapabilities | None = None,
    policy: MemoryPolicy | None = None,
) -> tuple[bool, str]:
    """``(ok, message)`` like ``(False, "Insufficient VRAM: need 12000MB, have 8000MB available ...")``.

    Without ``caps`` the capabilities are re-inspected (and the cache refreshed): free memory is
    read now, right before the load it gates, not when the process started.
    """
    return check_sufficient(
        required_mb, caps if caps is not None else get_cached_capabilities(force_refresh=True), safety_margin_mb, policy
    )


def configure_torch_backends(
    deterministic: bool = False,
    allow_tf32: bool | None = None,
    benchmark: bool | None = None,
    caps: RuntimeCapabilities | None = None,
) -> dict[str, dict[str, Any]]:
    """Set TF32 by compute capability (and deterministic cuDNN on request); return what changed."""
    return backend_config.configure(_caps(caps), deterministic=deterministic, allow_tf32=allow_tf32, benchmark=benchmark)


def runtime_diagnostics(caps: RuntimeCapabilities | None = None, requested_dtype: Any = None) -> dict[str, Any]:
    """One JSON-able record (schema ``runtime_diagnostics``) for post-mortems, secrets scrubbed."""
    record = _caps(caps)
    dtype_policy = load_dtype_policy()
    choice = choose(requested_dtype if requested_dtype is not None else dtype_policy.default_request, record, dtype_policy)
    document = {
        "schema_version": 1,
        "event": "runtime_diagnostics",
        "simulated": record.simulated,
        "summary": record.summary(),
        "capabilities": record.to_dict(),
        "dtype": choice.to_dict(),
        "backends": backend_config.current_flags(),
        "policies": {"dtype": dtype_policy.source, "memory": str(load_memory_policy().source)},
    }
    scrubbed: dict[str, Any] = redact.scrub(document, redact.secret_values())
    return scrubbed


def log_runtime_diagnostics(
    logger: logging.Logger | None = None,
    caps: RuntimeCapabilities | None = None,
    level: int = logging.INFO,
) -> dict[str, Any]:
    """Log the diagnostics record once (JSON in the message, the dict as ``extra["runtime_diagnostics"]``); return it."""
    record = runtime_diagnostics(caps)
    (logger or log).log(level, "runtime diagnostics %s", json.dumps(record, sort_keys=True), extra={"runtime_diagnostics": record})
    return record
