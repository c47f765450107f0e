"""Check id -> probe function. New probe checks are added here."""

from __future__ import annotations

from typing import Any, Callable

from preflight_probe import checks_core, checks_stack
from preflight_probe.outcome import Outcome

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
}
