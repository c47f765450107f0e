"""The ordered list of checks a preflight runs, where each runs, and what each needs first."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from preflight_action.options import Options
from preflight_action.policy import SeverityPolicy
from preflight_action.report import CheckResult


@dataclass
class Context:
    """What the checks run so far have established; host checks read it."""

    options: Options
    policy: SeverityPolicy
    results: dict[str, CheckResult] = field(default_factory=dict)
    device: str | None = None
    backend: str | None = None

    def passed(self, check_id: str) -> bool:
        result = self.results.get(check_id)
        return result is not None and result.status == "pass"

    def details(self, check_id: str) -> dict[str, Any]:
        result = self.results.get(check_id)
        return dict(result.details) if result else {}


HostFunc = Callable[[Context], CheckResult]
ParamsFunc = Callable[[Context], dict[str, Any]]


def _device_params(ctx: Context) -> dict[str, Any]:
    return {"device": ctx.device}


@dataclass(frozen=True)
class CheckSpec:
    id: str
    needs: tuple[str, ...] = ()
    enabled_by: str | None = None  # Options attribute that turns the check on
    flag: str | None = None  # the CLI flag named in the skip reason
    params: ParamsFunc = lambda ctx: {}
    host: HostFunc | None = None  # run in the orchestrator (pure, torch-free) instead of the probe

    @property
    def source(self) -> str:
        return "host" if self.host else "probe"

    def enabled(self, options: Options) -> bool:
        return self.enabled_by is None or bool(getattr(options, self.enabled_by))


SPECS: list[CheckSpec] = [
    CheckSpec("torch.import"),
    CheckSpec("device.resolve", needs=("torch.import",), params=lambda ctx: {"requested": ctx.options.device}),
    CheckSpec("capabilities.detect", needs=("torch.import",), params=_device_params),
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
    CheckSpec("deps.consistency", params=lambda ctx: {"torch_imported": ctx.passed("torch.import")}),
]


def spec(check_id: str) -> CheckSpec:
    return next(s for s in SPECS if s.id == check_id)
