"""Pure GPU-truth decisions: which reference a device gets, and what NVML readings say about its health.

Nothing here talks to a GPU. ``reference_for`` turns policy/gpu_reference.yaml and
a device name into the thresholds the perf probe compares against; the
``evaluate_*`` functions turn one GPU's NVML readings (schema ``nvml_readings``)
into a ``Verdict`` whose message says what is wrong and by how much.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from preflight_action import policy_files

SLOWDOWN_REASONS = {
    "sw_thermal_slowdown": "thermal slowdown (software)",
    "hw_thermal_slowdown": "thermal slowdown (hardware)",
    "hw_slowdown": "hardware slowdown",
    "hw_power_brake_slowdown": "power-brake slowdown",
}
UNDER_LOAD_SM_FRACTION = 0.5
UNDER_LOAD_MEM_FRACTION = 0.9


@dataclass(frozen=True)
class Verdict:
    status: str  # pass | fail | skip
    message: str
    details: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class Sku:
    name: str
    match: tuple[str, ...]
    exclude: tuple[str, ...]
    datasheet: dict[str, float | None]
    matmul_fraction: float
    copy_fraction: float
    threshold: float
    provenance: str

    def matches(self, device_name: str) -> bool:
        name = device_name.lower()
        return any(m.lower() in name for m in self.match) and not any(x.lower() in name for x in self.exclude)

    def expected(self) -> dict[str, float | None]:
        """Achievable figures: datasheet peak x achievable fraction (None where the SKU has no figure)."""
        out: dict[str, float | None] = {}
        for key in ("bf16", "fp16", "tf32"):
            peak = self.datasheet.get(f"{key}_tflops")
            out[key] = round(peak * self.matmul_fraction, 1) if peak else None
        out["copy_tbs"] = round(float(self.datasheet["memory_tbs"] or 0) * self.copy_fraction, 3)
        return out


def reference_path() -> Path:
    """The SKU table in force: $PREFLIGHT_GPU_REFERENCE, else the shipped one."""
    return policy_files.GPU_REFERENCE.path()


def skus_from_document(document: dict[str, Any]) -> tuple[Sku, ...]:
    return tuple(
        Sku(
            name=entry["name"],
            match=tuple(entry["match"]),
            exclude=tuple(entry.get("exclude", ())),
            datasheet=dict(entry["datasheet"]),
            matmul_fraction=float(entry["achievable"]["matmul_fraction"]),
            copy_fraction=float(entry["achievable"]["copy_fraction"]),
            threshold=float(entry["threshold"]),
            provenance=entry["provenance"],
        )
        for entry in document["skus"]
    )


def load_reference(path: str | None = None) -> tuple[Sku, ...]:
    """The validated SKU table: ``path``, else $PREFLIGHT_GPU_REFERENCE, else the shipped one (cached)."""
    return policy_files.load(policy_files.GPU_REFERENCE, _build, path)


def _build(document: dict[str, Any], _file: str) -> tuple[Sku, ...]:
    return skus_from_document(document)


def match_sku(skus: tuple[Sku, ...], device_name: str | None) -> Sku | None:
    """The first SKU whose substrings match ``device_name`` (file order)."""
    if not device_name:
        return None
    return next((sku for sku in skus if sku.matches(device_name)), None)


def reference_for(skus: tuple[Sku, ...], device_name: str | None, source: str) -> dict[str, Any]:
    """What the perf probe compares against: thresholds for a known SKU, or why there is no comparison."""
    sku = match_sku(skus, device_name)
    if sku is None:
        known = ", ".join(s.name for s in skus)
        return {"sku": None, "reason": f"{device_name or 'the device name is unknown'} matches no SKU in {source} (known: {known})"}
    return {"sku": sku.name, "expected": sku.expected(), "threshold": sku.threshold, "source": source, "provenance": sku.provenance}


# ---------------------------------------------------------------- picking the GPU torch uses


def select_gpu(
    readings: dict[str, Any], torch_index: int, device_name: str | None, environ: dict[str, str] | None = None
) -> tuple[dict[str, Any] | None, str]:
    """The NVML entry for torch's ``cuda:<torch_index>``, and how it was chosen.

    NVML numbers GPUs in PCI order and ignores CUDA_VISIBLE_DEVICES; torch
    numbers the visible ones. A UUID entry is matched exactly; a numeric entry
    is an NVML index under CUDA_DEVICE_ORDER=PCI_BUS_ID. When the chosen GPU's
    name differs from torch's but exactly one GPU carries torch's name, that
    one is taken.
    """
    env = os.environ if environ is None else environ
    gpus = list(readings.get("gpus") or [])
    if not gpus:
        return None, "NVML reports no GPUs"
    visible = [v.strip() for v in env.get("CUDA_VISIBLE_DEVICES", "").split(",") if v.strip()] if "CUDA_VISIBLE_DEVICES" in env else None
    chosen: dict[str, Any] | None = None
    how = f"NVML index {torch_index} (no CUDA_VISIBLE_DEVICES)"
    if visible is not None:
        if torch_index >= len(visible):
            return None, f"CUDA_VISIBLE_DEVICES={env['CUDA_VISIBLE_DEVICES']} has no entry {torch_index}"
        entry = visible[torch_index]
        if entry.startswith("MIG-"):
            return None, f"CUDA_VISIBLE_DEVICES entry {entry} is a MIG instance; NVML readings are per physical GPU"
        if entry.isdigit():
            chosen = next((g for g in gpus if g["index"] == int(entry)), None)
            how = f"CUDA_VISIBLE_DEVICES entry {torch_index} -> NVML index {entry}"
        else:
            chosen = next((g for g in gpus if (g.get("uuid") or "").startswith(entry)), None)
            how = f"CUDA_VISIBLE_DEVICES entry {torch_index} -> UUID {entry}"
    else:
        chosen = next((g for g in gpus if g["index"] == torch_index), None)
    if device_name and (chosen is None or chosen.get("name") != device_name):
        named = [g for g in gpus if g.get("name") == device_name]
        if len(named) == 1:
            return named[0], f"the only GPU named {device_name!r} (NVML index {named[0]['index']})"
    if chosen is None:
        return None, f"{how}: NVML has no such GPU"
    return chosen, how


def _label(gpu: dict[str, Any]) -> str:
    return f"GPU {gpu.get('index')} ({gpu.get('name') or 'unnamed'})"


def _active(gpu: dict[str, Any]) -> list[str]:
    return list((gpu.get("clock_event_reasons") or {}).get("active") or [])


def is_busy(gpu: dict[str, Any]) -> bool:
    """Whether the GPU was working when read: idle GPUs lower clocks and PCIe generation on purpose."""
    if "gpu_idle" in _active(gpu):
        return False
    util = gpu.get("utilization_gpu_pct")
    return bool(util) if util is not None else gpu.get("clock_event_reasons") is not None


def _ratio(cur: int | None, top: int | None) -> float | None:
    return cur / top if cur is not None and top else None


# ---------------------------------------------------------------- health evaluations


def evaluate_clocks(gpu: dict[str, Any]) -> Verdict:
    clocks = gpu.get("clocks") or {}
    sm, sm_max = clocks.get("sm_mhz"), clocks.get("sm_max_mhz")
    mem, mem_max = clocks.get("mem_mhz"), clocks.get("mem_max_mhz")
    if sm is None and gpu.get("clock_event_reasons") is None:
        return Verdict("skip", f"NVML reports no clock readings for {_label(gpu)}")
    active = _active(gpu)
    sm_ratio, mem_ratio = _ratio(sm, sm_max), _ratio(mem, mem_max)
    details = {"sm_mhz": sm, "sm_max_mhz": sm_max, "mem_mhz": mem, "mem_max_mhz": mem_max, "active_reasons": active, "busy": is_busy(gpu)}
    sm_text = f"SM clock {sm} of {sm_max} MHz ({sm_ratio:.0%})" if sm_ratio is not None else f"SM clock {sm} MHz"
    slowdowns = [SLOWDOWN_REASONS[r] for r in active if r in SLOWDOWN_REASONS]
    temp = gpu.get("temperature_c")
    if slowdowns:
        hot = f", {temp} C" if temp is not None else ""
        return Verdict("fail", f"{_label(gpu)}: {' and '.join(slowdowns)} active, {sm_text}{hot}", details)
    if is_busy(gpu):
        problems = []
        if sm_ratio is not None and sm_ratio < UNDER_LOAD_SM_FRACTION:
            problems.append(f"{sm_text} under load (below {UNDER_LOAD_SM_FRACTION:.0%})")
        if mem_ratio is not None and mem_ratio < UNDER_LOAD_MEM_FRACTION:
            problems.append(f"memory clock {mem} of {mem_max} MHz ({mem_ratio:.0%}) under load")
        if problems:
            reasons = ", ".join(active) or "none reported"
            return Verdict("fail", f"{_label(gpu)}: {'; '.join(problems)} (clock event reasons: {reasons})", details)
        return Verdict("pass", f"{sm_text} under load; no thermal, power-brake or hardware slowdown active", details)
    return Verdict(
        "pass", f"{_label(gpu)} idle ({sm_text}; idle clocks are not judged); no thermal, power-brake or hardware slowdown active", details
    )


def evaluate_ecc(gpu: dict[str, Any]) -> Verdict:
    ecc = gpu.get("ecc") or {}
    rows = gpu.get("remapped_rows")
    pages = gpu.get("retired_pages")
    if ecc.get("mode_enabled") is None and rows is None and pages is None:
        return Verdict("skip", f"{_label(gpu)} does not support ECC, row remapping or page retirement reporting")
    details = {"ecc": ecc, "remapped_rows": rows, "retired_pages": pages}
    problems = []
    notes = []
    volatile = ecc.get("volatile_uncorrected")
    if volatile:
        problems.append(
            f"{volatile} volatile uncorrected ECC error(s) since the driver loaded: results may be corrupt; drain the node and reset the GPU"
        )
    if rows:
        if rows.get("failure"):
            problems.append("row remapping failed (no spare rows left): the GPU needs service")
        if rows.get("pending"):
            problems.append(f"{rows.get('uncorrected')} uncorrectable row(s) remapped, remapping pending until the GPU is reset")
    if pages and pages.get("pending"):
        problems.append("retired pages are pending: reset the GPU (or reboot) to retire them")
    if ecc.get("mode_enabled") is False:
        notes.append("ECC is disabled: uncorrected memory errors would go unnoticed")
    if ecc.get("aggregate_uncorrected"):
        notes.append(f"{ecc['aggregate_uncorrected']} uncorrected ECC error(s) over the GPU's lifetime")
    if problems:
        return Verdict("fail", f"{_label(gpu)}: " + "; ".join(problems), details)
    summary = f"{_label(gpu)}: no volatile uncorrected ECC errors, no pending row remaps or page retirements"
    return Verdict("pass", summary + ("; " + "; ".join(notes) if notes else ""), details)


def evaluate_pcie(gpu: dict[str, Any]) -> Verdict:
    link = gpu.get("pcie") or {}
    gen, max_gen, width, max_width = link.get("gen"), link.get("max_gen"), link.get("width"), link.get("max_width")
    if gen is None and width is None:
        return Verdict("skip", f"NVML reports no PCIe link readings for {_label(gpu)}")
    details = {**link, "busy": is_busy(gpu)}
    problems = []
    notes = []
    if width is not None and max_width and width < max_width:
        problems.append(f"PCIe link width x{width} of x{max_width}: host<->device transfers run at {width / max_width:.0%} bandwidth")
    if gen is not None and max_gen and gen < max_gen:
        if is_busy(gpu):
            problems.append(f"PCIe link gen {gen} of gen {max_gen} under load (the link trained down)")
        else:
            notes.append(f"PCIe gen {gen} of gen {max_gen} while idle (GPUs lower the link generation when idle; not judged)")
    gpu_max = link.get("gpu_max_gen")
    if gpu_max and max_gen and max_gen < gpu_max:
        notes.append(f"the host slot limits the link to gen {max_gen} (the GPU supports gen {gpu_max})")
    if problems:
        return Verdict("fail", f"{_label(gpu)}: " + "; ".join(problems), details)
    summary = f"{_label(gpu)}: PCIe gen {gen} of {max_gen}, x{width} of x{max_width}"
    return Verdict("pass", summary + ("; " + "; ".join(notes) if notes else ""), details)


def evaluate_mig(gpu: dict[str, Any]) -> Verdict:
    mig = gpu.get("mig")
    if mig is None:
        return Verdict("skip", f"{_label(gpu)} does not support MIG")
    if mig["current"]:
        return Verdict(
            "fail",
            f"{_label(gpu)}: MIG mode is enabled, so this job gets a slice of the GPU, not all of it "
            "(if MIG is intended here, lower gpu.mig's score in your --policy)",
            dict(mig),
        )
    pending = "; MIG mode will be enabled at the next GPU reset" if mig["pending"] else ""
    return Verdict("pass", f"{_label(gpu)}: MIG mode disabled (the whole GPU){pending}", dict(mig))


def _major_minor(text: str | None) -> tuple[int, int] | None:
    try:
        major, minor = (text or "").split(".")[:2]
        return int(major), int(minor)
    except ValueError:
        return None


def evaluate_driver(driver_version: str | None, driver_cuda: str | None, torch_cuda: str | None) -> Verdict:
    """Does the driver's CUDA version cover the CUDA runtime torch was built with?"""
    if not torch_cuda:
        return Verdict("skip", "this torch is not a CUDA build: no CUDA runtime to compare the driver with")
    have, want = _major_minor(driver_cuda), _major_minor(torch_cuda)
    details = {"driver_version": driver_version, "driver_cuda": driver_cuda, "torch_cuda_runtime": torch_cuda}
    if have is None or want is None:
        return Verdict("skip", f"cannot compare driver CUDA version {driver_cuda!r} with torch's CUDA runtime {torch_cuda!r}", details)
    driver = f"driver {driver_version or '?'} (CUDA {driver_cuda})"
    if have >= want:
        return Verdict("pass", f"{driver} covers the CUDA {torch_cuda} runtime torch was built with", details)
    if have[0] < want[0]:
        effect = "CUDA cannot initialise (cudaErrorInsufficientDriver)"
    else:
        effect = "it runs only through minor-version compatibility: PTX JIT and newer runtime features fail"
    return Verdict(
        "fail", f"{driver} is older than the CUDA {torch_cuda} runtime torch was built with: {effect}; upgrade the driver", details
    )
