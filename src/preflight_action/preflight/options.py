"""What a preflight run is asked to do: one typed record, built from flags, the action, nox or ``run_preflight``."""

from __future__ import annotations

import math
from dataclasses import dataclass

from preflight_action.errors import UsageError
from preflight_action.vocab import BANDS, DEFAULT_DEVICE, DEFAULT_LEVEL, DEVICES, LEVELS, BandName, Device, Level, choice_error

DEFAULT_CHECK_TIMEOUT_S = 120.0
DEFAULT_OUTPUT_PATH = "outputs/runtime_preflight/preflight.json"
MAX_SECONDS = 366 * 24 * 3600.0  # past a year a timeout means nothing (and overflows threading's waits)


@dataclass(frozen=True)
class Options:
    device: Device = DEFAULT_DEVICE
    check_torchvision: bool = False
    check_compile: bool = False
    strict: bool = False
    strict_threshold: BandName | None = None  # None: the policy's strict_threshold
    check_timeout: float = DEFAULT_CHECK_TIMEOUT_S
    python: str | None = None  # None: the interpreter running the orchestrator
    policy_path: str | None = None
    level: Level = DEFAULT_LEVEL
    budget_s: float | None = None  # None: the level's default budget (policy/levels.yaml), if any
    levels_path: str | None = None  # None: $PREFLIGHT_LEVELS_POLICY, else the shipped policy/levels.yaml
    check_distributed: bool = False  # distributed.allreduce: one rank per local device
    expect_gpus: int | None = None  # device.count: fewer visible GPUs than this is critical

    def validated(self) -> Options:
        """This record, or a ``UsageError`` naming the first flag whose value means nothing (argparse checks the CLI's)."""
        if self.device not in DEVICES:
            raise UsageError(choice_error("--device", self.device, DEVICES))
        if self.level not in LEVELS:
            raise UsageError(choice_error("--level", self.level, LEVELS))
        if self.strict_threshold is not None and self.strict_threshold not in BANDS:
            raise UsageError(choice_error("--strict-threshold", self.strict_threshold, BANDS))
        for flag, value in (("--check-timeout", self.check_timeout), ("--budget", self.budget_s)):
            if value is None and flag == "--budget":
                continue
            if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value) or not 0 < value <= MAX_SECONDS:
                raise UsageError(f"{flag} must be a finite number of seconds above 0 and at most a year, got {value!r}")
        if self.expect_gpus is not None and (
            isinstance(self.expect_gpus, bool) or not isinstance(self.expect_gpus, int) or self.expect_gpus < 1
        ):
            raise UsageError(f"--expect-gpus must be a whole number of at least 1, got {self.expect_gpus!r}")
        for flag, path in (("--python", self.python), ("--policy", self.policy_path)):
            if path is not None and (not isinstance(path, str) or not path.strip()):
                raise UsageError(f"{flag} must name a file, got {path!r}")
        return self
