"""The ordered list of checks a preflight runs, where each runs, and what each needs first."""

from __future__ import annotations

import importlib
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from preflight_action.preflight import host_checks, inventory, stress, surroundings
from preflight_action.preflight.context import Context
from preflight_action.preflight.options import Options
from preflight_action.preflight.report import CheckResult
from preflight_action.vocab import CheckSource

HostFunc = Callable[[Context], CheckResult]
ParamsFunc = Callable[[Context], dict[str, Any]]
MonitorFunc = Callable[[Context], Any]  # started around a probe check; its judge(result) folds in what it saw


def _lazy(module: str, name: str) -> HostFunc:
    """A host check whose module loads when the check runs: the quick level never pays for the distributed machinery."""

    def run(ctx: Context) -> CheckResult:
        func: HostFunc = getattr(importlib.import_module(f"preflight_action.preflight.{module}"), name)
        return func(ctx)

    run.__name__ = run.__qualname__ = name
    return run


def _named_damage(ctx: Context) -> list[str]:
    """Damage earlier checks already named from the RECORD (one cause, one failure: install.record need not repeat it)."""
    named: list[str] = []
    for result in ctx.results.values():
        diagnosis = result.details.get("diagnosis")
        if result.status == "fail" and isinstance(diagnosis, dict) and diagnosis.get("cause") in ("install_damaged", "dependency_missing"):
            named.extend(str(e) for e in diagnosis.get("evidence") or [])
    return named


def _device_params(ctx: Context) -> dict[str, Any]:
    return {"device": ctx.device}


def _capabilities_params(ctx: Context) -> dict[str, Any]:
    quick = ctx.options.level == "quick"
    return {**_device_params(ctx), "run_compiler": not quick, "query_cudnn": not (quick and ctx.backend == "cpu")}


@dataclass(frozen=True)
class CheckSpec:
    id: str
    needs: tuple[str, ...] = ()
    enabled_by: str | None = None  # Options attribute that turns the check on
    flag: str | None = None  # the CLI flag named in the skip reason
    params: ParamsFunc = lambda ctx: {}
    host: HostFunc | None = None  # run in the orchestrator (pure, torch-free) instead of the probe
    timed: bool = False  # told its share of the budget (time_limit_s) and policy/levels.yaml's stress sizes
    monitor: MonitorFunc | None = None

    @property
    def source(self) -> CheckSource:
        return "host" if self.host else "probe"

    def enabled(self, options: Options) -> bool:
        return self.enabled_by is None or bool(getattr(options, self.enabled_by))


SPECS: list[CheckSpec] = [
    # The kernel's word (issue 28): first, so reading the log overlaps the worker's torch import; needs nothing,
    # so it runs at every level and on every device (a host with GPUs has a kernel log either way).
    CheckSpec("kernel.log", host=_lazy("kernel_checks", "check_kernel_log")),
    CheckSpec("torch.import"),
    CheckSpec("device.resolve", needs=("torch.import",), params=lambda ctx: {"requested": ctx.options.device}),
    # The quick level starts no compiler (the C++ compiler's path is recorded, its --version is not run)
    # and, on the CPU, does not load libcudnn only to read its version (86 MB and ~5 ms on a CUDA build).
    CheckSpec("capabilities.detect", needs=("torch.import",), params=_capabilities_params),
    # Multi-GPU readiness (issue 17): its own check (not a device.resolve param) so a partial node
    # scores critical on its own while every other check still runs on the devices it has.
    CheckSpec(
        "device.count",
        needs=("capabilities.detect",),
        enabled_by="expect_gpus",
        flag="--expect-gpus",
        host=_lazy("distributed", "check_device_count"),
    ),
    # The gang all-reduce across nodes (issue 28, preflight-gang): right after what it needs, so the members
    # meet as early as they can; its own timeouts bound it (the join timeout, then each step's).
    CheckSpec(
        "gang.allreduce",
        needs=("device.resolve", "capabilities.detect"),
        enabled_by="gang",
        flag="preflight-gang",
        host=_lazy("gang", "check_gang_allreduce"),
    ),
    CheckSpec("tensor.smoke", needs=("device.resolve",), params=_device_params),
    CheckSpec("dtype.support", needs=("device.resolve",), params=_device_params),
    CheckSpec(
        "torchvision.import",
        needs=("device.resolve",),
        enabled_by="check_torchvision",
        flag="--check-torchvision",
        params=_device_params,
    ),
    CheckSpec(
        "compile.smoke",
        needs=("device.resolve",),
        enabled_by="check_compile",
        flag="--check-compile",
        params=_device_params,
    ),
    # The inventory's distribution scan rides along: it reuses the directory listings this check reads.
    CheckSpec(
        "deps.consistency",
        params=lambda ctx: {"torch_imported": ctx.passed("torch.import"), "inventory_limit": inventory.MAX_DISTRIBUTIONS},
    ),
    # Evidence, not inference (issue 24): the stack's files against pip's RECORD (sizes from a child the worker
    # started as torch's import began; hashes where policy/levels.yaml says), and whether the libraries torch
    # ships are the ones this process loaded. Neither needs torch to import: that is when they matter most.
    CheckSpec("install.record", params=lambda ctx: {"level": ctx.options.level, "named": _named_damage(ctx)}, timed=True),
    CheckSpec("loader.libraries", needs=("torch.import",)),
    # GPU truth (issue 8): probe figures compared with policy/gpu_reference.yaml, then NVML health.
    CheckSpec("device.placement", needs=("device.resolve",), params=host_checks.placement_params),
    CheckSpec("perf.matmul", needs=("device.resolve", "capabilities.detect"), params=host_checks.perf_params),
    CheckSpec("perf.bandwidth", needs=("device.resolve", "capabilities.detect"), params=host_checks.perf_params),
    CheckSpec("gpu.health", needs=("device.resolve", "capabilities.detect"), host=host_checks.check_gpu_health),
    CheckSpec("gpu.clocks", needs=("gpu.health",), host=host_checks.check_gpu_clocks),
    CheckSpec("gpu.ecc", needs=("gpu.health",), host=host_checks.check_gpu_ecc),
    CheckSpec("gpu.pcie", needs=("gpu.health",), host=host_checks.check_gpu_pcie),
    CheckSpec("gpu.mig", needs=("gpu.health",), host=host_checks.check_gpu_mig),
    CheckSpec("gpu.driver", needs=("gpu.health",), host=host_checks.check_gpu_driver),
    CheckSpec("gpu.nvlink", needs=("gpu.health",), host=_lazy("distributed", "check_gpu_nvlink")),
    # Needs capabilities.detect too: the GPU count is the world size, the device name picks the reference.
    CheckSpec(
        "distributed.allreduce",
        needs=("device.resolve", "capabilities.detect"),
        enabled_by="check_distributed",
        flag="--check-distributed",
        host=_lazy("distributed", "check_distributed_allreduce"),
    ),
    # Runtime safety library (issue 5): pure host computations over capabilities.detect's details.
    # Both judge the resolved device: without one they would describe a device nobody asked for.
    CheckSpec("dtype.select", needs=("device.resolve", "capabilities.detect"), host=host_checks.check_dtype_select),
    CheckSpec("memory.headroom", needs=("device.resolve", "capabilities.detect"), host=host_checks.check_memory_headroom),
    # The process's surroundings (issue 24): what capabilities.detect read inside the diagnosed process, against
    # policy/surroundings.yaml; a few dict lookups, so every level runs them (imported with this module, while
    # the worker imports torch).
    CheckSpec("host.limits", needs=("capabilities.detect",), host=surroundings.check_limits),
    CheckSpec("host.container", needs=("capabilities.detect",), host=surroundings.check_container),
    CheckSpec("host.threads", needs=("capabilities.detect",), host=surroundings.check_threads),
    # The deep level (issue 14; policy/levels.yaml): a model smoke and stress checks bounded by the budget.
    CheckSpec("model.smoke", needs=("tensor.smoke",), params=stress.device_params),
    CheckSpec("transfer.host", needs=("device.resolve",), params=stress.transfer_params, timed=True),
    CheckSpec("memory.pattern", needs=("tensor.smoke",), params=stress.device_params, timed=True),
    CheckSpec("load.sustained", needs=("tensor.smoke",), params=stress.device_params, timed=True, monitor=stress.load_monitor),
]


def spec(check_id: str) -> CheckSpec:
    return next(s for s in SPECS if s.id == check_id)
