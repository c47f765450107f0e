"""A stand-in for pynvml: its real constants and error classes, synthesized answers (no driver on this host).

``fake_pynvml(**answers)`` answers as one healthy, idle H100 SXM would; each test overrides the calls its
case is about (``nvmlDeviceGetCount``, clocks, ECC counters, NVLink ...). ``raises(code)`` builds a call that
fails the way the driver does (``pynvml.NVML_ERROR_NOT_SUPPORTED`` on consumer GPUs, for instance).
"""

from __future__ import annotations

import types
from collections.abc import Callable
from typing import Any

import pynvml


def raises(code: int) -> Callable[..., Any]:
    """A call that raises ``pynvml.NVMLError(code)`` whatever it is asked."""
    error = pynvml.NVMLError(code)

    def call(*args: Any) -> Any:
        raise error

    return call


def fake_pynvml(**answers: Any) -> types.SimpleNamespace:
    unsupported = raises(pynvml.NVML_ERROR_NOT_SUPPORTED)
    names = {n: getattr(pynvml, n) for n in dir(pynvml) if n.startswith("NVML_") or n.startswith("NVMLError")}
    healthy_idle_h100: dict[str, Any] = {
        "nvmlInit": lambda: None,
        "nvmlShutdown": lambda: None,
        "nvmlSystemGetCudaDriverVersion": lambda: 12040,
        "nvmlSystemGetDriverVersion": lambda: "550.54.15",
        "nvmlSystemGetNVMLVersion": lambda: "12.550.54.15",
        "nvmlDeviceGetCount": lambda: 1,
        "nvmlDeviceGetHandleByIndex": lambda i: ("handle", i),
        "nvmlDeviceGetName": lambda h: b"NVIDIA H100 80GB HBM3",
        "nvmlDeviceGetUUID": lambda h: f"GPU-{h[1]}",
        "nvmlDeviceGetPciInfo": lambda h: types.SimpleNamespace(busId=f"00000000:{0x18 + h[1]:02X}:00.0".encode()),
        "nvmlDeviceGetUtilizationRates": lambda h: types.SimpleNamespace(gpu=0, memory=0),
        "nvmlDeviceGetPowerUsage": lambda h: 70000,
        "nvmlDeviceGetEnforcedPowerLimit": lambda h: 700000,
        "nvmlDeviceGetTemperature": lambda h, s: 30,
        "nvmlDeviceGetCurrentClocksEventReasons": lambda h: 0x1,  # idle: the GPU lowered its clocks itself
        "nvmlDeviceGetClockInfo": lambda h, c: 345,
        "nvmlDeviceGetMaxClockInfo": lambda h, c: 1980,
        "nvmlDeviceGetEccMode": lambda h: [1, 1],
        "nvmlDeviceGetTotalEccErrors": lambda h, kind, counter: 0,
        "nvmlDeviceGetRetiredPages": unsupported,
        "nvmlDeviceGetRetiredPagesPendingStatus": unsupported,
        "nvmlDeviceGetRemappedRows": lambda h: (0, 0, 0, 0),
        "nvmlDeviceGetCurrPcieLinkGeneration": lambda h: 5,
        "nvmlDeviceGetMaxPcieLinkGeneration": lambda h: 5,
        "nvmlDeviceGetGpuMaxPcieLinkGeneration": lambda h: 5,
        "nvmlDeviceGetCurrPcieLinkWidth": lambda h: 16,
        "nvmlDeviceGetMaxPcieLinkWidth": lambda h: 16,
        "nvmlDeviceGetMigMode": lambda h: [0, 0],
    }
    return types.SimpleNamespace(**names, **{**healthy_idle_h100, **answers})
