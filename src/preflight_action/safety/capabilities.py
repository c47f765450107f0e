"""The runtime capabilities record: one frozen, typed answer to "what can this machine run?".

Built in three ways: in-process inspection (``capability_inspect``), the
preflight probe's ``capabilities.detect`` details (``from_probe_facts``) and a
simulated profile file (``from_dict``; ``simulated=True``). Memory figures are
MiB, written "MB" as the rest of the ecosystem does.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import asdict, dataclass, fields
from typing import Any

BACKENDS = ("cpu", "cuda", "rocm", "mps", "xpu")


@dataclass(frozen=True)
class RuntimeCapabilities:
    os: str  # platform.system(): Linux, Windows, Darwin (WSL2 reports Linux, see is_wsl2)
    backend: str = "cpu"  # the device this record describes: cpu, cuda, rocm, mps or xpu
    os_release: str | None = None
    machine: str | None = None
    is_wsl2: bool = False
    windows_wddm: bool | None = None  # native Windows only: True WDDM, False TCC, None unknown / not Windows
    python_version: str | None = None
    torch_available: bool = False
    torch_version: str | None = None
    cuda_available: bool = False
    cuda_runtime_version: str | None = None  # the CUDA runtime torch was built with
    cuda_driver_version: str | None = None  # CUDA driver API version (cuDriverGetVersion)
    nvidia_driver_version: str | None = None  # kernel driver version (NVML), e.g. 550.54.15
    hip_version: str | None = None
    xpu_available: bool = False
    mps_available: bool = False
    device_name: str | None = None
    compute_capability: tuple[int, int] | None = None
    total_memory_mb: int | None = None
    free_memory_mb: int | None = None
    bf16_supported: bool | None = None  # of the device; None when no accelerator is described
    cpu_model: str | None = None
    cpu_cores: int | None = None  # physical cores when psutil knows them, else logical CPUs
    cpu_threads: int | None = None  # logical CPUs
    cpu_isa: tuple[str, ...] = ()
    ram_total_mb: int | None = None
    ram_available_mb: int | None = None
    simulated: bool = False
    source: str = "inspect_runtime_capabilities()"
    sources: tuple[tuple[str, str], ...] = ()  # fact -> where it came from

    @property
    def accelerator(self) -> bool:
        return self.backend != "cpu"

    @property
    def os_label(self) -> str:
        if self.is_wsl2:
            return "WSL2"
        return {"Darwin": "macOS"}.get(self.os, self.os)

    @property
    def available_memory_mb(self) -> int | None:
        """Free memory of the described device; host RAM for CPU and for MPS (unified memory)."""
        if self.backend in ("cpu", "mps") and self.free_memory_mb is None:
            return self.ram_available_mb
        return self.free_memory_mb

    @property
    def memory_kind(self) -> str:
        return "VRAM" if self.backend in ("cuda", "rocm", "xpu") else "RAM"

    def summary(self) -> str:
        """One line, like ``OS: Linux | CUDA: Yes (runtime=12.4) | GPU: NVIDIA H100 80GB HBM3 (compute=(9, 0)) | ...``."""
        os_part = self.os + (" (WSL2)" if self.is_wsl2 else "") + (" (WDDM)" if self.windows_wddm else "")
        parts = [f"OS: {os_part}"]
        if self.hip_version:
            parts.append(f"ROCm: {'Yes' if self.cuda_available else 'No'} (hip={self.hip_version})")
        elif self.cuda_available:
            extra = f", driver={self.cuda_driver_version}" if self.cuda_driver_version else ""
            parts.append(f"CUDA: Yes (runtime={self.cuda_runtime_version}{extra})")
        else:
            parts.append("CUDA: No")
        if self.mps_available:
            parts.append("MPS: Yes")
        if self.xpu_available:
            parts.append("XPU: Yes")
        if self.device_name:
            label = "GPU" if self.backend in ("cuda", "rocm", "xpu") else "Device"
            cc = f" (compute={self.compute_capability})" if self.compute_capability else ""
            parts.append(f"{label}: {self.device_name}{cc}")
        elif not self.accelerator:
            parts.append("GPU: none")
        if self.total_memory_mb is not None:
            free = f", {self.free_memory_mb}MB free" if self.free_memory_mb is not None else ""
            label = "Unified memory (MPS limit)" if self.backend == "mps" else self.memory_kind
            parts.append(f"{label}: {self.total_memory_mb}MB total{free}")
        if self.accelerator:
            parts.append(f"bf16: {_yes_no(self.bf16_supported)}")
        parts.append(f"torch: {self.torch_version if self.torch_available else 'not installed'}")
        isa = " ".join(self.cpu_isa) if self.cpu_isa else "ISA n/a"
        parts.append(f"CPU: {self.cpu_model or 'unknown'} ({self.cpu_cores or '?'} cores, {isa})")
        if self.ram_total_mb is not None:
            avail = f", {self.ram_available_mb}MB available" if self.ram_available_mb is not None else ""
            parts.append(f"RAM: {self.ram_total_mb}MB total{avail}")
        line = " | ".join(parts)
        return f"[SIMULATED: {self.source}] {line}" if self.simulated else line

    def to_dict(self) -> dict[str, Any]:
        """JSON-able; valid against ``schemas/runtime_capabilities.schema.json``."""
        data = asdict(self)
        data["compute_capability"] = list(self.compute_capability) if self.compute_capability else None
        data["cpu_isa"] = list(self.cpu_isa)
        data["sources"] = dict(self.sources)
        return data

    def to_probe_facts(self) -> dict[str, Any]:
        """The ``capabilities.detect`` details this record corresponds to (inverse of ``from_probe_facts``)."""
        cc = self.compute_capability
        return {
            "os": self.os,
            "os_release": self.os_release,
            "machine": self.machine,
            "is_wsl2": self.is_wsl2,
            "windows_driver_model": None if self.windows_wddm is None else ("WDDM" if self.windows_wddm else "TCC"),
            "python_version": self.python_version,
            "torch_available": self.torch_available,
            "torch_version": self.torch_version,
            "cuda_available": self.cuda_available,
            "torch_cuda_build": self.cuda_runtime_version,
            "cuda_driver_version": self.cuda_driver_version,
            "nvidia_driver_version": self.nvidia_driver_version,
            "torch_hip_build": self.hip_version,
            "xpu_available": self.xpu_available,
            "mps_available": self.mps_available,
            "device_name": self.device_name,
            "compute_capability": f"{cc[0]}.{cc[1]}" if cc else None,
            "total_memory_mb": self.total_memory_mb,
            "free_memory_mb": self.free_memory_mb,
            "bf16_supported": self.bf16_supported,
            "cpu_model": self.cpu_model,
            "cpu_cores": self.cpu_cores,
            "cpu_count": self.cpu_threads,
            "cpu_isa": list(self.cpu_isa),
            "ram_total_mb": self.ram_total_mb,
            "ram_available_mb": self.ram_available_mb,
            "simulated": self.simulated,
            "source": self.source,
            "sources": dict(self.sources),
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any], *, simulated: bool | None = None, source: str | None = None) -> RuntimeCapabilities:
        """Inverse of ``to_dict`` (unknown keys are ignored; a profile's facts use the same names)."""
        names = {f.name for f in fields(cls)}
        values = {k: v for k, v in data.items() if k in names}
        values["compute_capability"] = _capability(values.get("compute_capability"))
        values["cpu_isa"] = tuple(values.get("cpu_isa") or ())
        values["sources"] = tuple(sorted((values.get("sources") or {}).items()))
        if simulated is not None:
            values["simulated"] = simulated
        if source is not None:
            values["source"] = source
        return cls(**values)

    @classmethod
    def from_probe_facts(cls, facts: Mapping[str, Any], backend: str | None = None) -> RuntimeCapabilities:
        """From the ``capabilities.detect`` check's details; ``backend`` from ``device.resolve`` when known."""
        hip = facts.get("torch_hip_build")
        system = str(facts.get("os") or "unknown")
        model = facts.get("windows_driver_model")
        wddm = None if system != "Windows" or not model else str(model).upper() == "WDDM"
        cuda = bool(facts.get("cuda_available"))
        chosen = backend if backend in BACKENDS else infer_backend(facts)
        return cls(
            os=system,
            backend=chosen,
            os_release=facts.get("os_release"),
            machine=facts.get("machine"),
            is_wsl2=bool(facts.get("is_wsl2")),
            windows_wddm=wddm,
            python_version=facts.get("python_version"),
            torch_available=bool(facts.get("torch_available")),
            torch_version=facts.get("torch_version"),
            cuda_available=cuda,
            cuda_runtime_version=None if hip else facts.get("torch_cuda_build"),
            cuda_driver_version=facts.get("cuda_driver_version"),
            nvidia_driver_version=facts.get("nvidia_driver_version"),
            hip_version=hip,
            xpu_available=bool(facts.get("xpu_available")),
            mps_available=bool(facts.get("mps_available")),
            device_name=facts.get("device_name"),
            compute_capability=_capability(facts.get("compute_capability")),
            total_memory_mb=facts.get("total_memory_mb"),
            free_memory_mb=facts.get("free_memory_mb"),
            bf16_supported=facts["bf16_native"] if facts.get("bf16_native") is not None else facts.get("bf16_supported"),
            cpu_model=facts.get("cpu_model"),
            cpu_cores=facts.get("cpu_cores") or facts.get("cpu_count"),
            cpu_threads=facts.get("cpu_count"),
            cpu_isa=tuple(facts.get("cpu_isa") or ()),
            ram_total_mb=facts.get("ram_total_mb"),
            ram_available_mb=facts.get("ram_available_mb"),
            simulated=bool(facts.get("simulated", False)),
            source=str(facts.get("source") or "capabilities.detect"),
            sources=tuple(sorted((facts.get("sources") or {}).items())),
        )


def infer_backend(facts: Mapping[str, Any]) -> str:
    """The accelerator a fact set describes: the first available of cuda/rocm > xpu > mps > cpu."""
    if facts.get("cuda_available"):
        return "rocm" if facts.get("torch_hip_build") or facts.get("hip_version") else "cuda"
    if facts.get("xpu_available"):
        return "xpu"
    if facts.get("mps_available"):
        return "mps"
    return "cpu"


def _capability(value: Any) -> tuple[int, int] | None:
    """``"9.0"``, ``[9, 0]`` or ``(9, 0)`` -> ``(9, 0)``; anything else -> None."""
    if value is None:
        return None
    if isinstance(value, str):
        major, _, minor = value.partition(".")
        if major.isdigit() and minor.isdigit():
            return int(major), int(minor)
        return None
    if isinstance(value, (list, tuple)) and len(value) == 2:
        return int(value[0]), int(value[1])
    return None


def _yes_no(value: bool | None) -> str:
    return "unknown" if value is None else ("Yes" if value else "No")
