"""Frozen records the sweep modules hand each other."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeAlias

Scalar: TypeAlias = str | int | float | bool

STEP_FINAL = ("passed", "failed", "timeout", "error", "skipped")
"""Step outcomes that ``--resume`` keeps; ``interrupted`` steps (and missing ones) run again."""
STEP_STATUSES = (*STEP_FINAL, "interrupted")


@dataclass(frozen=True)
class Parameter:
    name: str
    type: str
    flag: str
    choices: tuple[Scalar, ...] | None = None
    minimum: float | None = None
    maximum: float | None = None
    default: Scalar | None = None
    required: bool = False


@dataclass(frozen=True)
class Adapter:
    name: str
    path: Path
    executable: Path
    interpreter: str
    prelude: tuple[str, ...]
    parameters: dict[str, Parameter]
    timeout_s: float | None = None
    description: str = ""
    metrics: tuple[str, ...] = ()


@dataclass(frozen=True)
class StepSpec:
    name: str
    adapter: str
    params: dict[str, Scalar]
    sweep: dict[str, tuple[Scalar, ...]]
    timeout_s: float | None


@dataclass(frozen=True)
class Flow:
    name: str
    path: Path
    sha256: str
    axes: dict[str, tuple[Scalar, ...]]
    steps: tuple[StepSpec, ...]
    seed: int | None = None
    timeout_s: float | None = None
    description: str = ""
    report: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class Bound:
    choices: tuple[Scalar, ...] | None = None
    minimum: float | None = None
    maximum: float | None = None


@dataclass(frozen=True)
class Limits:
    max_step_timeout_s: float | None = None
    max_points: int | None = None
    max_steps: int | None = None


@dataclass(frozen=True)
class HardwareProfile:
    name: str
    path: Path
    priority: int
    match: dict[str, Any]
    bounds: dict[str, Bound]
    limits: Limits
    description: str = ""


@dataclass(frozen=True)
class SafetyPolicy:
    """Bounds in force: ``policy/safety.yaml``, with a profile's bounds laid over it."""

    path: Path
    bounds: dict[str, Bound]
    limits: Limits
    sources: dict[str, str]
    """bound or limit name -> the file it came from (named in violation messages)."""
    profile: HardwareProfile | None = None


@dataclass(frozen=True)
class Hardware:
    """What profile matching looks at (from sysinfo.json)."""

    backend: str | None
    device_name: str | None
    memory_mb: int | None
    os: str | None
