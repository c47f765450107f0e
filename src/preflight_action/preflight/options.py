"""What a preflight run was asked to do (parsed from flags, or built by the action or nox)."""

from __future__ import annotations

from dataclasses import dataclass

DEVICES = ("auto", "cpu", "cuda", "mps", "xpu", "rocm")
DEFAULT_CHECK_TIMEOUT_S = 120.0
DEFAULT_OUTPUT_PATH = "outputs/runtime_preflight/preflight.json"
LEVELS = ("quick", "standard", "deep")  # the checks of each: policy/levels.yaml


@dataclass(frozen=True)
class Options:
    device: str = "auto"
    check_torchvision: bool = False
    check_compile: bool = False
    strict: bool = False
    strict_threshold: str | None = None  # None: the policy's strict_threshold
    check_timeout: float = DEFAULT_CHECK_TIMEOUT_S
    python: str | None = None  # None: the interpreter running the orchestrator
    policy_path: str | None = None
    level: str = "standard"
    budget_s: float | None = None  # None: the level's default budget (policy/levels.yaml), if any
    levels_path: str | None = None  # None: $PREFLIGHT_LEVELS_POLICY, else the shipped policy/levels.yaml
    check_distributed: bool = False  # distributed.allreduce: one rank per local device (issue 17)
    expect_gpus: int | None = None  # device.count: fewer visible GPUs than this is critical
