"""Read GPU health from NVML and print ONE JSON document (schema ``nvml_readings``).

Run as ``python -m preflight_action.gpu.nvml``: the orchestrator starts it
in a subprocess with a timeout, because NVML calls can hang on a broken driver.
Every call here is a read-only query; nothing changes clocks, power limits or
any other device setting. A reading the GPU does not support becomes ``null``
with the NVML error text under ``unavailable``. No NVML at all (CPU hosts,
Apple, ROCm) is ``"available": false`` with the reason, exit code 0.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from collections.abc import Callable
from typing import Any

PROVENANCE = "recorded by preflight_action.gpu.nvml"

# NVML clocks event ("throttle") reason bits, nvml.h nvmlClocksEventReason*.
REASON_BITS = {
    0x1: "gpu_idle",
    0x2: "applications_clocks_setting",
    0x4: "sw_power_cap",
    0x8: "hw_slowdown",
    0x10: "sync_boost",
    0x20: "sw_thermal_slowdown",
    0x40: "hw_thermal_slowdown",
    0x80: "hw_power_brake_slowdown",
    0x100: "display_clock_setting",
}


def decode_reasons(mask: int) -> list[str]:
    """Names of the set bits of an NVML clocks event reason mask, lowest bit first."""
    names = [name for bit, name in REASON_BITS.items() if mask & bit]
    unknown = mask & ~sum(REASON_BITS)
    if unknown:
        names.append(f"unknown_0x{unknown:x}")
    return names


def _text(value: Any) -> str:
    return value.decode("utf-8", "replace") if isinstance(value, bytes) else str(value)


def cuda_version_text(value: int | None) -> str | None:
    """NVML's CUDA driver version integer (12040) as ``12.4``."""
    if not value:
        return None
    major, rest = divmod(int(value), 1000)
    return f"{major}.{rest // 10}"


class Reader:
    """Calls NVML and turns each failure into ``None`` plus a note under ``unavailable``."""

    def __init__(self, nvml: Any) -> None:
        self.nvml = nvml
        self.unavailable: dict[str, str] = {}

    def get(self, field: str, func: Callable[..., Any] | None, *args: Any) -> Any:
        if func is None:
            self.unavailable[field] = "not in this nvidia-ml-py version"
            return None
        try:
            return func(*args)
        except self.nvml.NVMLError as exc:
            self.unavailable[field] = _text(exc) or type(exc).__name__
            return None


def _gpu(nvml: Any, index: int) -> dict[str, Any]:
    handle = nvml.nvmlDeviceGetHandleByIndex(index)
    r = Reader(nvml)
    pci = r.get("pci_bus_id", nvml.nvmlDeviceGetPciInfo, handle)
    util = r.get("utilization_gpu_pct", nvml.nvmlDeviceGetUtilizationRates, handle)
    power = r.get("power_w", nvml.nvmlDeviceGetPowerUsage, handle)
    limit = r.get("power_limit_w", nvml.nvmlDeviceGetEnforcedPowerLimit, handle)
    reasons_func = getattr(nvml, "nvmlDeviceGetCurrentClocksEventReasons", None) or nvml.nvmlDeviceGetCurrentClocksThrottleReasons
    mask = r.get("clock_event_reasons", reasons_func, handle)
    ecc_mode = r.get("ecc.mode_enabled", nvml.nvmlDeviceGetEccMode, handle)
    uncorrected, corrected = nvml.NVML_MEMORY_ERROR_TYPE_UNCORRECTED, nvml.NVML_MEMORY_ERROR_TYPE_CORRECTED
    ecc = {
        "mode_enabled": bool(ecc_mode[0]) if ecc_mode is not None else None,
        "volatile_uncorrected": r.get(
            "ecc.volatile_uncorrected", nvml.nvmlDeviceGetTotalEccErrors, handle, uncorrected, nvml.NVML_VOLATILE_ECC
        ),
        "volatile_corrected": r.get("ecc.volatile_corrected", nvml.nvmlDeviceGetTotalEccErrors, handle, corrected, nvml.NVML_VOLATILE_ECC),
        "aggregate_uncorrected": r.get(
            "ecc.aggregate_uncorrected", nvml.nvmlDeviceGetTotalEccErrors, handle, uncorrected, nvml.NVML_AGGREGATE_ECC
        ),
    }
    return {
        "index": index,
        "name": _text(r.get("name", nvml.nvmlDeviceGetName, handle) or "") or None,
        "uuid": _text(r.get("uuid", nvml.nvmlDeviceGetUUID, handle) or "") or None,
        "pci_bus_id": _text(pci.busId) if pci is not None else None,
        "utilization_gpu_pct": int(util.gpu) if util is not None else None,
        "temperature_c": r.get("temperature_c", nvml.nvmlDeviceGetTemperature, handle, nvml.NVML_TEMPERATURE_GPU),
        "power_w": round(power / 1000.0, 1) if power is not None else None,
        "power_limit_w": round(limit / 1000.0, 1) if limit is not None else None,
        "clocks": {
            "sm_mhz": r.get("clocks.sm_mhz", nvml.nvmlDeviceGetClockInfo, handle, nvml.NVML_CLOCK_SM),
            "sm_max_mhz": r.get("clocks.sm_max_mhz", nvml.nvmlDeviceGetMaxClockInfo, handle, nvml.NVML_CLOCK_SM),
            "mem_mhz": r.get("clocks.mem_mhz", nvml.nvmlDeviceGetClockInfo, handle, nvml.NVML_CLOCK_MEM),
            "mem_max_mhz": r.get("clocks.mem_max_mhz", nvml.nvmlDeviceGetMaxClockInfo, handle, nvml.NVML_CLOCK_MEM),
        },
        "clock_event_reasons": {"mask": int(mask), "active": decode_reasons(int(mask))} if mask is not None else None,
        "ecc": ecc,
        "retired_pages": _retired_pages(r, nvml, handle),
        "remapped_rows": _remapped_rows(r, nvml, handle),
        "pcie": {
            "gen": r.get("pcie.gen", nvml.nvmlDeviceGetCurrPcieLinkGeneration, handle),
            "max_gen": r.get("pcie.max_gen", nvml.nvmlDeviceGetMaxPcieLinkGeneration, handle),
            "gpu_max_gen": r.get("pcie.gpu_max_gen", getattr(nvml, "nvmlDeviceGetGpuMaxPcieLinkGeneration", None), handle),
            "width": r.get("pcie.width", nvml.nvmlDeviceGetCurrPcieLinkWidth, handle),
            "max_width": r.get("pcie.max_width", nvml.nvmlDeviceGetMaxPcieLinkWidth, handle),
        },
        "mig": _mig(r, nvml, handle),
        **_nvlink(r, nvml, handle),
        "unavailable": r.unavailable,
    }


def _retired_pages(r: Reader, nvml: Any, handle: Any) -> dict[str, Any] | None:
    """Page retirement (Kepler..Volta); Ampere and later report row remapping instead."""
    single = r.get("retired_pages", nvml.nvmlDeviceGetRetiredPages, handle, nvml.NVML_PAGE_RETIREMENT_CAUSE_MULTIPLE_SINGLE_BIT_ECC_ERRORS)
    if single is None:
        return None
    double = r.get("retired_pages.double_bit", nvml.nvmlDeviceGetRetiredPages, handle, nvml.NVML_PAGE_RETIREMENT_CAUSE_DOUBLE_BIT_ECC_ERROR)
    pending = r.get("retired_pages.pending", nvml.nvmlDeviceGetRetiredPagesPendingStatus, handle)
    return {
        "single_bit_multiple": len(single),
        "double_bit": len(double) if double is not None else None,
        "pending": bool(pending) if pending is not None else None,
    }


def _remapped_rows(r: Reader, nvml: Any, handle: Any) -> dict[str, Any] | None:
    rows = r.get("remapped_rows", getattr(nvml, "nvmlDeviceGetRemappedRows", None), handle)
    if rows is None:
        return None
    corrected, uncorrected, pending, failure = rows
    return {"corrected": int(corrected), "uncorrected": int(uncorrected), "pending": bool(pending), "failure": bool(failure)}


def _mig(r: Reader, nvml: Any, handle: Any) -> dict[str, Any] | None:
    mode = r.get("mig", nvml.nvmlDeviceGetMigMode, handle)
    if mode is None:
        return None
    current, pending = mode
    return {"current": bool(current), "pending": bool(pending)}


NVLINK_COUNTERS = {
    "replay": "NVML_NVLINK_ERROR_DL_REPLAY",
    "recovery": "NVML_NVLINK_ERROR_DL_RECOVERY",
    "crc_flit": "NVML_NVLINK_ERROR_DL_CRC_FLIT",
    "crc_data": "NVML_NVLINK_ERROR_DL_CRC_DATA",
}
# nvmlGpuP2PStatus_t; "chipset_not_supported" is spelled right here even where nvml.h misspells it.
P2P_STATUS = ("ok", "chipset_not_supported", "gpu_not_supported", "ioh_topology_not_supported", "disabled_by_regkey", "not_supported")


def _nvlink(r: Reader, nvml: Any, handle: Any) -> dict[str, Any]:
    """``{"nvlink": ...}``: each link's state, peer and DL error counters, None when the GPU has no NVLink
    (PCIe boards); ``{}`` (unknown, not "none") when this nvidia-ml-py cannot ask."""
    if not hasattr(nvml, "nvmlDeviceGetNvLinkState"):
        r.unavailable["nvlink"] = "not in this nvidia-ml-py version"
        return {}
    links = []
    for link in range(getattr(nvml, "NVML_NVLINK_MAX_LINKS", 18)):
        try:
            active = nvml.nvmlDeviceGetNvLinkState(handle, link) == nvml.NVML_FEATURE_ENABLED
        except nvml.NVMLError as exc:
            if link == 0:
                r.unavailable["nvlink"] = _text(exc) or type(exc).__name__
                return {"nvlink": None}
            continue  # links past the GPU's own count answer NotSupported / InvalidArgument
        # One unavailable note per reading, not per link: a counter one link lacks, they all lack.
        remote = r.get("nvlink.remote_pci_bus_id", nvml.nvmlDeviceGetNvLinkRemotePciInfo, handle, link) if active else None
        errors = {
            name: r.get(f"nvlink.{name}", nvml.nvmlDeviceGetNvLinkErrorCounter, handle, link, getattr(nvml, constant))
            for name, constant in NVLINK_COUNTERS.items()
        }
        links.append({"link": link, "active": active, "remote_pci_bus_id": _text(remote.busId) if remote else None, "errors": errors})
    return {"nvlink": {"links": links}}


def _add_p2p(nvml: Any, gpus: list[dict[str, Any]]) -> None:
    """P2P read and NVLink status from each GPU to every other (nvmlDeviceGetP2PStatus), read-only."""
    if not hasattr(nvml, "nvmlDeviceGetP2PStatus"):
        return  # "p2p" stays absent: unknown, which gpu.nvlink reports instead of judging
    handles = [nvml.nvmlDeviceGetHandleByIndex(g["index"]) for g in gpus]
    for gpu, handle in zip(gpus, handles, strict=True):
        peers = []
        for other, other_handle in zip(gpus, handles, strict=True):
            if other is gpu:
                continue
            entry: dict[str, Any] = {"peer": other["index"]}
            for name, index in (("read", nvml.NVML_P2P_CAPS_INDEX_READ), ("nvlink", nvml.NVML_P2P_CAPS_INDEX_NVLINK)):
                try:
                    code = int(nvml.nvmlDeviceGetP2PStatus(handle, other_handle, index))
                    entry[name] = P2P_STATUS[code] if code < len(P2P_STATUS) else "unknown"
                except nvml.NVMLError as exc:
                    entry[name] = None
                    gpu["unavailable"][f"p2p.{other['index']}.{name}"] = _text(exc) or type(exc).__name__
            peers.append(entry)
        gpu["p2p"] = peers


def unavailable(reason: str) -> dict[str, Any]:
    return {
        "schema_version": 1,
        "provenance": PROVENANCE,
        "available": False,
        "reason": reason,
        "driver_version": None,
        "cuda_driver_version": None,
        "gpus": [],
    }


def collect() -> dict[str, Any]:
    """Every GPU NVML can see, read-only; never raises for a missing library or driver."""
    started = time.perf_counter()
    try:
        import pynvml as nvml
    except ImportError as exc:
        return unavailable(f"nvidia-ml-py (pynvml) is not installed for {sys.executable}: {exc}")
    try:
        nvml.nvmlInit()
    except nvml.NVMLError as exc:
        return unavailable(f"NVML could not start: {_text(exc)} (no NVIDIA driver on this host, or not an NVIDIA GPU)")
    try:
        system = Reader(nvml)
        cuda = system.get("cuda_driver_version", nvml.nvmlSystemGetCudaDriverVersion)
        gpus = [_gpu(nvml, index) for index in range(nvml.nvmlDeviceGetCount())]
        _add_p2p(nvml, gpus)
        document = {
            "schema_version": 1,
            "provenance": PROVENANCE,
            "available": True,
            "reason": None,
            "driver_version": _text(system.get("driver_version", nvml.nvmlSystemGetDriverVersion) or "") or None,
            "cuda_driver_version": cuda_version_text(cuda),
            "nvml_version": _text(system.get("nvml_version", nvml.nvmlSystemGetNVMLVersion) or "") or None,
            "gpus": gpus,
        }
    finally:
        nvml.nvmlShutdown()
    document["elapsed_ms"] = round((time.perf_counter() - started) * 1000.0, 3)
    return document


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m preflight_action.gpu.nvml", description=__doc__.split("\n\n")[0])
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    from preflight_action import schemas

    parse_args(argv)
    document = collect()
    schemas.validate(document, "nvml_readings", "nvml_readings output")
    sys.stdout.write(json.dumps(document) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
