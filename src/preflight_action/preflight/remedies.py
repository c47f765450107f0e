"""The next step for a failure whose check did not name one (host checks, unexpected exceptions).

Probe checks diagnose their cause and carry their own remedy; these words cover
the orchestrator-side checks, keyed by check id, so no failed check is left
without one. The band's action (policy) stays the general rule beside it.
"""

from __future__ import annotations

from preflight_action.preflight.report import CheckResult

BY_CHECK = {
    "torch.import": "run the interpreter with -c 'import torch' to see the error on its own, then reinstall torch with pip",
    "device.resolve": "pass --device for a backend this machine has, or fix the driver / CUDA_VISIBLE_DEVICES so the device is visible",
    "capabilities.detect": "run python -m torch.utils.collect_env under the same interpreter to see which fact cannot be read",
    "device.placement": "tensors do not land on the device asked for: check CUDA_VISIBLE_DEVICES and that nothing overrides the default device",
    "perf.matmul": "the device computes slower than its reference: check clocks, power cap and other processes on it (nvidia-smi)",
    "perf.bandwidth": "memory bandwidth is below the reference: check the PCIe link, clocks and other processes on the device",
    "gpu.health": "read the NVML error above; reset the GPU or drain this node until nvidia-smi reports it healthy",
    "gpu.clocks": "clocks are throttled: check temperature, power cap and application clocks (nvidia-smi -q -d CLOCK,PERFORMANCE)",
    "gpu.ecc": "uncorrectable ECC errors: drain this node and have the GPU checked or replaced",
    "gpu.pcie": "the PCIe link runs below its maximum width or generation: reseat the card or check the BIOS/riser",
    "gpu.mig": "MIG mode does not match what the job expects: change it with nvidia-smi -mig and reset the GPU",
    "gpu.driver": "install an NVIDIA driver at least as new as the minimum the error names for this CUDA build (nvidia-smi shows the current one)",
    "dtype.select": "set a dtype the device supports in the dtype policy, or run this job on a device that has the policy's dtype",
    "memory.headroom": "free memory on the device or host (other processes), or lower the model size / batch the memory policy assumes",
}
GENERAL = "read the error above; rerun with the same interpreter to see whether it repeats"


def for_failure(check: CheckResult) -> str:
    """The failure's own remedy, else the words for its check id."""
    return check.remedy or BY_CHECK.get(check.id) or GENERAL
