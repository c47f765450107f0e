"""In-process capability inspection: the probe's collector plus psutil, py-cpuinfo and NVML.

``preflight_probe.capabilities.collect`` is the one implementation of the
stdlib/torch facts; this module only picks the device, adds what the optional
libraries know better, and builds the frozen record. torch is optional: when
it cannot be imported, the record says so and nothing raises.
"""

from __future__ import annotations

import importlib
import importlib.util
import logging
from typing import Any

from preflight_action.safety.capabilities import RuntimeCapabilities, infer_backend
from preflight_probe import capabilities

log = logging.getLogger(__name__)


def import_torch() -> tuple[Any, str]:
    """``(torch module or None, why)``; a broken torch install is reported, not raised."""
    if importlib.util.find_spec("torch") is None:
        return None, "torch is not installed"
    try:
        return importlib.import_module("torch"), "import torch"
    except Exception as exc:  # a broken install can raise anything (OSError for a missing DLL, ...)
        return None, f"import torch failed: {type(exc).__name__}: {str(exc).splitlines()[0][:200] if str(exc) else ''}"


def pick_device(torch: Any) -> str | None:
    """The device the record describes: cuda:0 (CUDA or ROCm) > xpu:0 > mps > CPU (None)."""
    if torch is None:
        return None
    try:
        if torch.cuda.is_available():
            return "cuda:0"
        xpu = getattr(torch, "xpu", None)
        if xpu is not None and xpu.is_available():
            return "xpu:0"
        mps = getattr(torch.backends, "mps", None)
        if mps is not None and mps.is_available():
            return "mps"
    except Exception:  # a half-working driver stack: describe the CPU
        log.debug("accelerator query failed; describing the CPU", exc_info=True)
    return None


def inspect(torch: Any = None, *, import_it: bool = True) -> RuntimeCapabilities:
    """Inspect this process's runtime; imports torch (when installed) unless ``import_it`` is False."""
    why = "import torch"
    if torch is None and import_it:
        torch, why = import_torch()
    device = pick_device(torch)
    facts = capabilities.collect(torch, device, query_driver_model=False, query_cudnn=False)
    if torch is None:
        facts["sources"]["torch_available"] = why
    _enrich_with_psutil(facts)
    _enrich_with_cpuinfo(facts)
    if facts.get("cuda_available") and facts.get("torch_cuda_build") and not facts.get("torch_hip_build"):
        _enrich_with_nvml(facts, torch, device)
    backend = infer_backend(facts) if device else "cpu"
    facts["source"] = "inspect_runtime_capabilities()"
    return RuntimeCapabilities.from_probe_facts(facts, backend=backend)


def _enrich_with_psutil(facts: dict[str, Any]) -> None:
    """psutil fills what the stdlib collector could not read (available RAM on macOS, cores off Linux).

    On Linux psutil reads the same /proc files the collector already read, so it is
    not imported there (its import alone costs ~12 ms of the 50 ms inspection budget).
    """
    missing = [name for name in ("ram_total_mb", "ram_available_mb", "cpu_cores") if facts.get(name) is None]
    if not missing:
        return
    try:
        import psutil
    except ImportError:
        return
    try:
        memory = psutil.virtual_memory()
        cores = psutil.cpu_count(logical=False)
    except (OSError, RuntimeError):  # restricted containers can refuse /proc reads
        return
    mib = 1024 * 1024
    found = {"ram_total_mb": memory.total // mib, "ram_available_mb": memory.available // mib, "cpu_cores": cores}
    for name in missing:
        if found[name]:
            facts[name] = found[name]
            facts["sources"][name] = "psutil.cpu_count(logical=False)" if name == "cpu_cores" else "psutil.virtual_memory()"


def _enrich_with_cpuinfo(facts: dict[str, Any]) -> None:
    """py-cpuinfo only where the stdlib could not read ISA flags (Windows): it costs ~1 s per call."""
    if facts.get("cpu_isa") is not None:
        return
    try:
        import cpuinfo
    except ImportError:
        return
    try:
        info = cpuinfo.get_cpu_info()
    except Exception:  # py-cpuinfo shells out and parses; any failure leaves the stdlib facts
        log.debug("py-cpuinfo failed", exc_info=True)
        return
    flags = set(info.get("flags") or ())
    facts["cpu_isa"] = sorted(f for f in capabilities.ISA_FLAGS if f in flags)
    facts["sources"]["cpu_isa"] = "py-cpuinfo get_cpu_info()['flags']"
    if info.get("brand_raw"):
        facts["cpu_model"] = info["brand_raw"]
        facts["sources"]["cpu_model"] = "py-cpuinfo get_cpu_info()['brand_raw']"


def _enrich_with_nvml(facts: dict[str, Any], torch: Any, device: str | None) -> None:
    """NVIDIA kernel driver version, and WDDM/TCC on native Windows, from NVML (nvidia-ml-py)."""
    try:
        import pynvml
    except ImportError:
        return
    try:
        pynvml.nvmlInit()
    except Exception:  # NVMLError subclasses; no driver library
        _windows_driver_model_fallback(facts)
        return
    try:
        facts["nvidia_driver_version"] = _text(pynvml.nvmlSystemGetDriverVersion())
        facts["sources"]["nvidia_driver_version"] = "NVML nvmlSystemGetDriverVersion"
        if facts.get("os") == "Windows":
            handle = _nvml_handle(pynvml, torch, device)
            current, _pending = pynvml.nvmlDeviceGetDriverModel(handle)
            facts["windows_driver_model"] = "WDDM" if current == pynvml.NVML_DRIVER_WDDM else "TCC"
            facts["sources"]["windows_driver_model"] = "NVML nvmlDeviceGetDriverModel"
    except Exception:
        log.debug("NVML query failed", exc_info=True)
        _windows_driver_model_fallback(facts)
    finally:
        try:
            pynvml.nvmlShutdown()
        except Exception:
            log.debug("nvmlShutdown failed", exc_info=True)


def _nvml_handle(pynvml: Any, torch: Any, device: str | None) -> Any:
    """The NVML handle of torch's device (by UUID, so CUDA_VISIBLE_DEVICES remapping is honoured)."""
    try:
        uuid = str(torch.cuda.get_device_properties(device).uuid)
        return pynvml.nvmlDeviceGetHandleByUUID(uuid if uuid.startswith("GPU-") else f"GPU-{uuid}")
    except Exception:
        return pynvml.nvmlDeviceGetHandleByIndex(0)


def _windows_driver_model_fallback(facts: dict[str, Any]) -> None:
    if facts.get("os") == "Windows" and "windows_driver_model" not in facts:
        model, source = capabilities.windows_driver_model()
        facts["windows_driver_model"] = model
        facts["sources"]["windows_driver_model"] = source


def _text(value: Any) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)
