"""The next step for a failure whose check did not name one (host checks, unexpected exceptions).

Probe checks diagnose their cause and carry their own remedy; these words cover
the orchestrator-side checks, keyed by check id, so no failed check is left
without one. The band's action (policy) stays the general rule beside it.
"""

from __future__ import annotations

from preflight_action.preflight.report import CheckResult

BY_CHECK = {
    "torch.import": "run the interpreter with -X faulthandler -c 'import torch' to see the error on its own and the frame it fails in",
    "device.resolve": "pass --device for a backend this machine has, or fix the driver / CUDA_VISIBLE_DEVICES so the device is visible",
    "capabilities.detect": "run python -m torch.utils.collect_env under the same interpreter to see which fact cannot be read",
    "tensor.smoke": "results are wrong on this device: rerun on --device cpu to tell a device fault from a torch fault, and at --level deep",
    "dtype.support": "avoid the failing dtypes on this device (dtype.select picks a safe one), or update the driver and torch",
    "torchvision.import": "install the torchvision release and build that pair with this torch (torch 2.N pairs with torchvision 0.(N+15))",
    "compile.smoke": "run eager until torch.compile works here (allow compile_fallback in policy/severity.yaml), and fix what the error names",
    "deps.consistency": "make one torch, and its companion packages built for it, visible to this interpreter",
    "device.placement": "tensors do not land on the device asked for: check CUDA_VISIBLE_DEVICES and that nothing overrides the default device",
    "perf.matmul": "the device computes slower than its reference: check clocks, power cap and other processes on it (nvidia-smi)",
    "perf.bandwidth": "memory bandwidth is below the reference: check the PCIe link, clocks and other processes on the device",
    "gpu.health": "read the NVML error above; reset the GPU or drain this node until nvidia-smi reports it healthy",
    "gpu.clocks": "clocks are throttled: check temperature, power cap and application clocks (nvidia-smi -q -d CLOCK,PERFORMANCE)",
    "gpu.ecc": "uncorrectable ECC errors: drain this node and have the GPU checked or replaced",
    "gpu.pcie": "the PCIe link runs below its maximum width or generation: reseat the card or check the BIOS/riser",
    "gpu.mig": "MIG mode does not match what the job expects: change it with nvidia-smi -mig and reset the GPU",
    "gpu.driver": "install an NVIDIA driver at least as new as the minimum the error names for this CUDA build (nvidia-smi shows the current one)",
    "device.count": "fewer devices are visible than --expect-gpus: check CUDA_VISIBLE_DEVICES, the container's GPU request and nvidia-smi",
    "gpu.nvlink": "NVLink links are down or peer access is off: check nvidia-smi nvlink --status and topo -m, then reset or drain the node",
    "distributed.allreduce": "collectives fail or are slow: check NCCL_* settings, the interconnect and that every rank sees its own device",
    "gang.allreduce": "this member fails the gang: check its network links (ibstat, ethtool), NCCL_* / GLOO_SOCKET_IFNAME settings, then rerun the gang",
    "transfer.host": "host-device copies are slow: check the PCIe link, pinned memory and NUMA placement of the job",
    "memory.pattern": "device memory returns wrong data: drain this node and have the GPU checked (run the vendor's memory test)",
    "load.sustained": "performance drops under sustained load: check cooling, power cap and clocks while the job runs",
    "model.smoke": "a small model fails on this runtime: read the error, then check the model's dtype and memory against this device",
    "dtype.select": "set a dtype the device supports in the dtype policy, or run this job on a device that has the policy's dtype",
    "kernel.log": "read the kernel log line the error quotes (dmesg -T | grep -e Xid -e AER), then act on the Xid's action class",
    "memory.headroom": "free memory on the device or host (other processes), or lower the model size / batch the memory policy assumes",
    "host.limits": "raise the resource limit the error names (ulimit in the job's shell; the hard limit where it is set)",
    "host.container": "raise the container limit the error names (docker run --shm-size/--pids-limit/--cpus, the pod's resources)",
    "install.record": "reinstall the distribution whose files differ from its RECORD (pip install --force-reinstall --no-deps NAME==VERSION)",
    "loader.libraries": "take the folder the error names off LD_PRELOAD / LD_LIBRARY_PATH for this job, so torch loads the libraries it ships",
    "host.threads": "set OMP_NUM_THREADS to the number of CPUs this process may use (or call torch.set_num_threads)",
}
GENERAL = "read the error above; rerun with the same interpreter to see whether it repeats"


def for_failure(check: CheckResult) -> str:
    """The failure's own remedy, else the words for its check id."""
    return check.remedy or BY_CHECK.get(check.id) or GENERAL


def diagnosed(check: CheckResult) -> bool:
    """Whether the check's remedy names its diagnosed cause (not the general words for its check id)."""
    return bool(check.remedy) and check.remedy not in (BY_CHECK.get(check.id), GENERAL)
