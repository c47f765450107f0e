"""One-line words for a check result, shared by the terminal, Markdown and HTML renderings."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from preflight_action.preflight.report import CheckResult


def _caps(d: dict[str, Any]) -> str:
    distro = " ".join(str(x) for x in (d.get("os_distribution"), d.get("os_version")) if x)
    parts = [
        f"{distro or d.get('os')}{' (WSL2)' if d.get('is_wsl2') else ''}",
        f"Python {d.get('python_version')}",
        f"torch {d.get('torch_version')}",
    ]
    if d.get("torch_cuda_build"):
        parts.append(f"CUDA build {d['torch_cuda_build']}, driver {d.get('cuda_driver_version') or 'n/a'}")
    if d.get("torch_hip_build"):
        parts.append(f"HIP {d['torch_hip_build']}")
    if d.get("device_name"):
        cc = f" sm_{str(d['compute_capability']).replace('.', '')}" if d.get("compute_capability") else ""
        mem = f", {d['total_memory_mb']} MiB" if d.get("total_memory_mb") else ""
        parts.append(f"{d['device_name']}{cc}{mem}")
    elif d.get("cpu_model"):
        parts.append(str(d["cpu_model"]))
    if d.get("libc"):
        parts.append(f"{d['libc']} {d.get('libc_version') or ''}".strip())
    if d.get("cxx_compiler_version") or d.get("cxx_compiler"):
        parts.append(f"C++ {d.get('cxx_compiler_version') or d.get('cxx_compiler')}")
    return ", ".join(parts)


def _dtypes(d: dict[str, Any]) -> str:
    out = []
    for name, info in sorted((d.get("dtypes") or {}).items()):
        if not info.get("supported"):
            out.append(f"{name} unsupported")
        else:
            out.append(f"{name} err {info.get('rel_error', 0):.1e}")
    return ", ".join(out)


_PASS_WORDS: dict[str, Callable[[dict[str, Any]], str]] = {
    "torch.import": lambda d: (
        f"torch {d.get('version')} ({'CUDA ' + d['cuda_build'] if d.get('cuda_build') else 'HIP ' + d['hip_build'] if d.get('hip_build') else 'CPU build'})"
    ),
    "device.resolve": lambda d: f"{d.get('resolved_device')} ({d.get('reason')})",
    "capabilities.detect": _caps,
    "tensor.smoke": lambda d: (
        f"matmul err {d.get('matmul_rel_error', 0):.1e}, round trip {'exact' if d.get('roundtrip_exact') else 'CHANGED'}"
    ),
    "dtype.support": _dtypes,
    "torchvision.import": lambda d: f"torchvision {d.get('torchvision')}, nms on {d.get('device')}",
    "compile.smoke": lambda d: f"{d.get('backend')} on {d.get('device')}, err vs eager {d.get('rel_error_vs_eager', 0):.1e}",
    "deps.consistency": lambda d: ", ".join(f"{k} {v}" for k, v in sorted((d.get("installed") or {}).items()) if v),
}


def words(check: CheckResult) -> str:
    """What a person should read about this check, in one line."""
    if check.status == "skip":
        return f"skipped: {check.skip_reason}"
    if check.status == "fail":
        first = (check.error or "").strip().splitlines()
        return first[0] if first else "failed"
    describe = _PASS_WORDS.get(check.id)
    if describe is None:
        summary = check.details.get("summary")
        return str(summary) if summary else ""
    try:
        return describe(check.details)
    except (TypeError, ValueError, KeyError):
        return ""
