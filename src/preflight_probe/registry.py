"""Check id -> probe function. New probe checks are added here."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from preflight_probe import checks_core, checks_deep, checks_perf, checks_stack
from preflight_probe.outcome import Outcome

if TYPE_CHECKING:  # annotations only: the probe also runs on Python 3.8, where dict[...] cannot be evaluated
    from collections.abc import Callable

    CheckFunc = Callable[[dict[str, Any]], Outcome]

CHECKS: dict[str, CheckFunc] = {
    "torch.import": checks_core.check_torch_import,
    "device.resolve": checks_core.check_device_resolve,
    "capabilities.detect": checks_core.check_capabilities_detect,
    "tensor.smoke": checks_core.check_tensor_smoke,
    "dtype.support": checks_core.check_dtype_support,
    "torchvision.import": checks_stack.check_torchvision_import,
    "compile.smoke": checks_stack.check_compile_smoke,
    "deps.consistency": checks_stack.check_deps_consistency,
    "device.placement": checks_perf.check_device_placement,
    "perf.matmul": checks_perf.check_perf_matmul,
    "perf.bandwidth": checks_perf.check_perf_bandwidth,
    # The deep level (policy/levels.yaml): stress checks bounded by their share of the budget.
    "model.smoke": checks_deep.check_model_smoke,
    "transfer.host": checks_deep.check_transfer_host,
    "memory.pattern": checks_deep.check_memory_pattern,
    "load.sustained": checks_deep.check_load_sustained,
}
