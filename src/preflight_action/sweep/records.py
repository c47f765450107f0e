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


@dataclass(frozen=True)
class PlannedStep:
    """One adapter invocation of a point: its parameters, the exact argv, its timeout and seed."""

    index: int
    name: str
    adapter: str
    params: dict[str, Scalar]
    argv: tuple[str, ...]
    timeout_s: float
    seed: int
    metrics: tuple[str, ...] = ()

    def to_dict(self) -> dict[str, Any]:
        return {**vars(self), "params": dict(self.params), "argv": list(self.argv), "metrics": list(self.metrics)}

    @classmethod
    def from_dict(cls, document: dict[str, Any]) -> PlannedStep:
        return cls(**{**document, "argv": tuple(document["argv"]), "metrics": tuple(document["metrics"])})


@dataclass(frozen=True)
class PlannedPoint:
    """One sub-run: a combination of axis values, its seed, its shard and its steps."""

    id: str
    index: int
    seed: int
    axes: dict[str, Scalar]
    shard: int
    steps: tuple[PlannedStep, ...]

    def to_dict(self) -> dict[str, Any]:
        return {**vars(self), "axes": dict(self.axes), "steps": [s.to_dict() for s in self.steps]}

    @classmethod
    def from_dict(cls, document: dict[str, Any]) -> PlannedPoint:
        return cls(**{**document, "steps": tuple(PlannedStep.from_dict(s) for s in document["steps"])})


@dataclass(frozen=True)
class FlowRef:
    name: str
    path: str
    sha256: str


@dataclass(frozen=True)
class ProfileRef:
    name: str
    path: str
    priority: int


@dataclass(frozen=True)
class SweepPlan:
    """plan.json as one typed record (schemas/sweep_plan.schema.json); read and written through the schema."""

    run_id: str
    created_utc: str
    flow: FlowRef
    policy: str
    profile: ProfileRef | None
    seed: int
    seed_source: str
    python: str
    device: str
    shard_count: int
    axes: dict[str, tuple[Scalar, ...]]
    axis_names: tuple[str, ...]
    report: dict[str, Any]
    points: tuple[PlannedPoint, ...]
    schema_version: int = 1

    def to_dict(self) -> dict[str, Any]:
        return {
            **vars(self),
            "flow": vars(self.flow).copy(),
            "profile": vars(self.profile).copy() if self.profile else None,
            "axes": {k: list(v) for k, v in self.axes.items()},
            "axis_names": list(self.axis_names),
            "report": dict(self.report),
            "points": [p.to_dict() for p in self.points],
        }

    @classmethod
    def from_dict(cls, document: dict[str, Any]) -> SweepPlan:
        """From a schema-valid document (validate first: this only converts)."""
        return cls(
            **{
                **document,
                "flow": FlowRef(**document["flow"]),
                "profile": ProfileRef(**document["profile"]) if document["profile"] else None,
                "axes": {k: tuple(v) for k, v in document["axes"].items()},
                "axis_names": tuple(document["axis_names"]),
                "points": tuple(PlannedPoint.from_dict(p) for p in document["points"]),
            }
        )

    def shard_points(self, shard: dict[str, int] | None) -> tuple[PlannedPoint, ...]:
        """The points shard ``{"index": i, "count": n}`` runs (all of them without a shard)."""
        return tuple(p for p in self.points if shard is None or p.shard == shard["index"])

    @property
    def step_count(self) -> int:
        return sum(len(p.steps) for p in self.points)
