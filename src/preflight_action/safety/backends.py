"""Configure torch backends for stable inference: TF32 by compute capability, deterministic cuDNN.

Returns what it changed, ``setting -> {"from", "to", "why", "simulated"}``.
Uses torch's ``fp32_precision`` API where this torch has it (torch >= 2.9;
mixing it with the legacy ``allow_tf32`` flags raises in torch), the legacy
flags otherwise. Without torch it changes nothing and returns ``{}``.
"""

from __future__ import annotations

import importlib.util
import logging
import sys
from typing import Any

from preflight_action.safety.capabilities import RuntimeCapabilities

log = logging.getLogger(__name__)
TF32_MIN_CAPABILITY = (8, 0)  # Ampere and newer have TF32 tensor cores


def _torch() -> Any:
    if "torch" in sys.modules:
        return sys.modules["torch"]
    if importlib.util.find_spec("torch") is None:
        return None
    try:
        import torch
    except Exception:  # a broken torch install: nothing to configure
        log.debug("import torch failed", exc_info=True)
        return None
    return torch


def tf32_decision(caps: RuntimeCapabilities, allow_tf32: bool | None) -> tuple[bool | None, str]:
    """``(enable TF32?, why)``; None means leave the flags as they are."""
    if allow_tf32 is not None:
        return allow_tf32, f"allow_tf32={allow_tf32} requested by the caller"
    if caps.backend != "cuda" or caps.compute_capability is None:
        return None, f"no CUDA device with a known compute capability ({caps.backend}); TF32 flags left alone"
    if caps.compute_capability >= TF32_MIN_CAPABILITY:
        return True, f"compute capability {caps.compute_capability} >= {TF32_MIN_CAPABILITY}: TF32 tensor cores for float32 matmul/conv"
    return False, f"compute capability {caps.compute_capability} < {TF32_MIN_CAPABILITY}: no TF32, full float32"


def uses_new_precision_api(torch: Any) -> bool:
    return hasattr(torch.backends.cuda.matmul, "fp32_precision") and hasattr(torch.backends.cudnn, "conv")


def current_flags(torch: Any = None) -> dict[str, Any]:
    """The backend flags this module manages, as they are now (empty without torch)."""
    torch = torch if torch is not None else _torch()
    if torch is None:
        return {}
    flags: dict[str, Any] = {
        "torch.backends.cudnn.deterministic": bool(torch.backends.cudnn.deterministic),
        "torch.backends.cudnn.benchmark": bool(torch.backends.cudnn.benchmark),
    }
    if uses_new_precision_api(torch):
        flags["torch.backends.cuda.matmul.fp32_precision"] = str(torch.backends.cuda.matmul.fp32_precision)
        flags["torch.backends.cudnn.conv.fp32_precision"] = str(torch.backends.cudnn.conv.fp32_precision)
    else:
        flags["torch.backends.cuda.matmul.allow_tf32"] = bool(torch.backends.cuda.matmul.allow_tf32)
        flags["torch.backends.cudnn.allow_tf32"] = bool(torch.backends.cudnn.allow_tf32)
        flags["torch.float32_matmul_precision"] = str(torch.get_float32_matmul_precision())
    return flags


def _setters(torch: Any, enable: bool) -> dict[str, tuple[Any, Any]]:
    """setting -> (setter, value) that turn TF32 on or off."""
    if uses_new_precision_api(torch):
        value = "tf32" if enable else "ieee"
        return {
            "torch.backends.cuda.matmul.fp32_precision": (lambda v: setattr(torch.backends.cuda.matmul, "fp32_precision", v), value),
            "torch.backends.cudnn.conv.fp32_precision": (lambda v: setattr(torch.backends.cudnn.conv, "fp32_precision", v), value),
        }
    return {
        "torch.backends.cuda.matmul.allow_tf32": (lambda v: setattr(torch.backends.cuda.matmul, "allow_tf32", v), enable),
        "torch.backends.cudnn.allow_tf32": (lambda v: setattr(torch.backends.cudnn, "allow_tf32", v), enable),
        "torch.float32_matmul_precision": (torch.set_float32_matmul_precision, "high" if enable else "highest"),
    }


def configure(
    caps: RuntimeCapabilities,
    deterministic: bool = False,
    allow_tf32: bool | None = None,
    benchmark: bool | None = None,
) -> dict[str, dict[str, Any]]:
    """Apply the backend settings for ``caps``; return only what changed."""
    torch = _torch()
    if torch is None:
        log.info("configure_torch_backends: torch is not installed; nothing to configure")
        return {}
    before = current_flags(torch)
    wanted: dict[str, tuple[Any, Any, str]] = {}
    enable, why = tf32_decision(caps, allow_tf32)
    if enable is not None:
        for name, (setter, value) in _setters(torch, enable).items():
            wanted[name] = (setter, value, why)
    if deterministic:
        why_det = "deterministic=True: reproducible cuDNN kernels, no autotuning"
        wanted["torch.backends.cudnn.deterministic"] = (lambda v: setattr(torch.backends.cudnn, "deterministic", v), True, why_det)
        wanted["torch.backends.cudnn.benchmark"] = (lambda v: setattr(torch.backends.cudnn, "benchmark", v), False, why_det)
    if benchmark is not None and not deterministic:
        setter = (lambda v: setattr(torch.backends.cudnn, "benchmark", v), benchmark, f"benchmark={benchmark} requested")
        wanted["torch.backends.cudnn.benchmark"] = setter
    changed: dict[str, dict[str, Any]] = {}
    for name, (setter, value, reason) in wanted.items():
        if before.get(name) == value:
            continue
        setter(value)
        changed[name] = {"from": before.get(name), "to": value, "why": reason, "simulated": caps.simulated}
    log.info("configure_torch_backends: %s", changed or "nothing to change")
    return changed
