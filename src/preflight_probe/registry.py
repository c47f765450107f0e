"""Check id -> probe function. New probe checks are added here.

Each check's module is imported the first time the worker runs one of its checks: the
probe is copied fresh (without bytecode) for every run, so a module a level never
uses (the deep and perf checks at the quick level) is never compiled.
"""

from __future__ import annotations

import importlib
from collections.abc import Iterator, Mapping
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:  # annotations only: the probe also runs on Python 3.8, where dict[...] cannot be evaluated
    from collections.abc import Callable

    from preflight_probe.outcome import Outcome

    CheckFunc = Callable[[dict[str, Any]], Outcome]

# check id -> (module in preflight_probe, function name)
LOCATIONS = {
    "torch.import": ("checks_core", "check_torch_import"),
    "device.resolve": ("checks_core", "check_device_resolve"),
    "capabilities.detect": ("checks_core", "check_capabilities_detect"),
    "tensor.smoke": ("checks_core", "check_tensor_smoke"),
    "dtype.support": ("checks_core", "check_dtype_support"),
    "torchvision.import": ("checks_stack", "check_torchvision_import"),
    "compile.smoke": ("checks_stack", "check_compile_smoke"),
    "deps.consistency": ("checks_stack", "check_deps_consistency"),
    "install.record": ("checks_install", "check_install_record"),
    "loader.libraries": ("checks_install", "check_loader_libraries"),
    "device.placement": ("checks_perf", "check_device_placement"),
    "perf.matmul": ("checks_perf", "check_perf_matmul"),
    "perf.bandwidth": ("checks_perf", "check_perf_bandwidth"),
    # The deep level (policy/levels.yaml): stress checks bounded by their share of the budget.
    "model.smoke": ("checks_deep", "check_model_smoke"),
    "transfer.host": ("checks_deep", "check_transfer_host"),
    "memory.pattern": ("checks_deep", "check_memory_pattern"),
    "load.sustained": ("checks_deep", "check_load_sustained"),
}


class _Checks(Mapping):  # type: ignore[type-arg]
    """A read-only ``{check id: function}`` that imports a check's module on first use."""

    def __getitem__(self, check_id: str) -> CheckFunc:
        module, name = LOCATIONS[check_id]
        func: CheckFunc = getattr(importlib.import_module(f"preflight_probe.{module}"), name)
        return func

    def __iter__(self) -> Iterator[str]:
        return iter(LOCATIONS)

    def __len__(self) -> int:
        return len(LOCATIONS)


CHECKS: Mapping[str, CheckFunc] = _Checks()
