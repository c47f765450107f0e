"""Deterministic expansion of a flow into points (sub-runs) and steps, seeds, run ids and shards."""

from __future__ import annotations

import difflib
import hashlib
import itertools
import json
import math
import re
import secrets
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from preflight_action import schemas
from preflight_action.errors import InputError, UsageError
from preflight_action.sweep.adapters import build_argv, value_problems
from preflight_action.sweep.records import Adapter, Flow, FlowRef, PlannedPoint, PlannedStep, ProfileRef, Scalar, StepSpec, SweepPlan

REFERENCE = re.compile(r"^\$\{([A-Za-z_][A-Za-z0-9_]*)\}$")
DEFAULT_TIMEOUT_S = 600.0
# Whatever the policy allows, a plan is held in memory: past these the expansion itself would exhaust it.
MAX_POINTS = 100_000
MAX_STEPS = 1_000_000
_UNSAFE = re.compile(r"[^A-Za-z0-9_.=-]+")


class ExpansionError(InputError):
    """Planned values disagree with their adapter manifests; ``problems`` lists each once."""

    def __init__(self, problems: list[str]) -> None:
        self.problems = problems
        more = f" (+{len(problems) - 5} more)" if len(problems) > 5 else ""
        super().__init__("; ".join(problems[:5]) + more)


def derive_seed(global_seed: int, *parts: Any) -> int:
    """A 31-bit seed from the global seed and a point's (or step's) identity, stable across runs."""
    text = json.dumps([global_seed, *parts], sort_keys=True, separators=(",", ":"))
    return int.from_bytes(hashlib.sha256(text.encode()).digest()[:4], "big") & 0x7FFFFFFF


def choose_seed(given: int | None, flow: Flow) -> tuple[int, str]:
    if given is not None:
        return given, "--seed"
    if flow.seed is not None:
        return flow.seed, "flow"
    return secrets.randbelow(2**32), "chosen"


def utc_now() -> datetime:
    return datetime.now(timezone.utc)


def iso(moment: datetime) -> str:
    return moment.isoformat(timespec="milliseconds").replace("+00:00", "Z")


def make_run_id(flow: Flow, seed: int, moment: datetime, suffix: str = "") -> str:
    return f"sw-{moment.strftime('%Y%m%dT%H%M%SZ')}-s{seed}-{flow.name}{suffix}"


def parse_shard(text: str) -> tuple[int, int]:
    match = re.fullmatch(r"(\d+)/(\d+)", text.strip())
    if not match or not 1 <= int(match[1]) <= int(match[2]):
        raise UsageError(f"--shard: {text!r} is not i/n with 1 <= i <= n (e.g. 2/4)")
    return int(match[1]), int(match[2])


def step_file_stem(index: int, name: str) -> str:
    return f"{index:02d}_{_UNSAFE.sub('_', name)[:80]}"


def _substitute(value: Scalar, variables: dict[str, Scalar], where: str) -> Scalar:
    if not isinstance(value, str):
        return value
    match = REFERENCE.match(value)
    if not match:
        return value
    name = match[1]
    if name not in variables:
        close = difflib.get_close_matches(name, list(variables), n=1)
        hint = f" (did you mean {close[0]!r}?)" if close else f" (known: {', '.join(sorted(variables))})"
        raise InputError(f"{where}: ${{{name}}} names no axis or built-in variable{hint}")
    return variables[name]


def _step_variants(spec: StepSpec) -> list[tuple[str, dict[str, Scalar]]]:
    if not spec.sweep:
        return [(spec.name, {})]
    keys = sorted(spec.sweep)
    out = []
    for combo in itertools.product(*(spec.sweep[k] for k in keys)):
        values = dict(zip(keys, combo, strict=False))
        out.append((f"{spec.name}[{','.join(f'{k}={v}' for k, v in values.items())}]", values))
    return out


def size(flow: Flow) -> tuple[int, int]:
    """(points, steps) the flow expands to, from the axis and sweep sizes alone (nothing expanded): an upper bound on
    the steps, which a value its manifest refuses removes."""
    points = math.prod(len(values) for values in flow.axes.values())
    variants = sum(math.prod(len(values) for values in spec.sweep.values()) for spec in flow.steps)
    return points, points * variants


def expand_points(flow: Flow) -> list[dict[str, Scalar]]:
    """The cartesian product of the axes, in the flow's axis order, last axis fastest."""
    names = list(flow.axes)
    return [dict(zip(names, combo, strict=False)) for combo in itertools.product(*(flow.axes[n] for n in names))]


def resolve_adapter(adapters: dict[str, Adapter], name: str, where: str) -> Adapter:
    if name in adapters:
        return adapters[name]
    close = difflib.get_close_matches(name, list(adapters), n=1)
    hint = f" (did you mean {close[0]!r}?)" if close else f" (known: {', '.join(sorted(adapters)) or 'none'})"
    raise InputError(f"{where}: unknown adapter {name!r}{hint}")


def build_plan(
    flow: Flow,
    adapters: dict[str, Adapter],
    *,
    seed: int,
    seed_source: str,
    python: str,
    device: str,
    policy_path: str,
    profile: ProfileRef | None,
    shard_count: int = 1,
    moment: datetime | None = None,
    run_id: str | None = None,
) -> SweepPlan:
    """The whole expansion as a schema-checked plan; every value checked against its manifest."""
    moment = moment or utc_now()
    planned = size(flow)
    if planned[0] > MAX_POINTS or planned[1] > MAX_STEPS:
        raise InputError(
            f"{flow.path}: {planned[0]:,} points and {planned[1]:,} steps, more than the {MAX_POINTS:,} points or "
            f"{MAX_STEPS:,} steps the planner expands (the product of the axes' and sweeps' sizes): split the flow"
        )
    points = []
    problems: dict[str, str] = {}
    for index, axes in enumerate(expand_points(flow)):
        point_seed = derive_seed(seed, axes)
        steps: list[PlannedStep] = []
        for position, spec in enumerate(flow.steps):
            where = f"{flow.path}: /steps/{position}"
            adapter = resolve_adapter(adapters, spec.adapter, f"{where}/adapter")
            for name, extra in _step_variants(spec):
                step_seed = derive_seed(seed, axes, name)
                variables: dict[str, Scalar] = {**axes, "device": device, "seed": step_seed}
                params: dict[str, Scalar] = {n: p.default for n, p in adapter.parameters.items() if p.default is not None}
                if "seed" in adapter.parameters:
                    params["seed"] = step_seed
                for key, value in {**spec.params, **extra}.items():
                    params[key] = _substitute(value, variables, f"{where}/params/{key}")
                found = value_problems(adapter, params)
                if found:
                    for problem in found:
                        problems.setdefault(f"{where}/params: {problem}", f"p{index:03d}")
                    continue
                timeout = spec.timeout_s or flow.timeout_s or adapter.timeout_s or DEFAULT_TIMEOUT_S
                argv = tuple(build_argv(adapter, params, python))
                steps.append(PlannedStep(len(steps), name, adapter.name, params, argv, float(timeout), step_seed, tuple(adapter.metrics)))
        points.append(PlannedPoint(f"p{index:03d}", index, point_seed, axes, index % shard_count + 1, tuple(steps)))
    if problems:
        raise ExpansionError([f"{message} (first at point {point})" for message, point in problems.items()])
    plan = SweepPlan(
        run_id=run_id or make_run_id(flow, seed, moment),
        created_utc=iso(moment),
        flow=FlowRef(flow.name, str(flow.path), flow.sha256),
        policy=policy_path,
        profile=profile,
        seed=seed,
        seed_source=seed_source,
        python=python,
        device=device,
        shard_count=shard_count,
        axes=dict(flow.axes),
        axis_names=tuple(flow.axes),
        report=dict(flow.report),
        points=tuple(points),
    )
    schemas.validate(plan.to_dict(), "sweep_plan", "plan")
    return plan


def matrix(plan: SweepPlan, flow_arg: str) -> dict[str, Any]:
    """``strategy.matrix`` for GitHub Actions: one entry per shard that has points."""
    count = plan.shard_count
    include = []
    for index in range(1, count + 1):
        points = [p.id for p in plan.points if p.shard == index]
        if points:
            include.append({"shard": f"{index}/{count}", "seed": plan.seed, "flow": flow_arg, "points": len(points)})
    return {"include": include}


def write_plan(path: Path, plan: SweepPlan) -> None:
    """Schema-checked, with secret values scrubbed (a step given a secret value resumes with ``<redacted>``)."""
    from preflight_action import atomic, redact

    document = plan.to_dict()
    schemas.validate(document, "sweep_plan", str(path))
    atomic.write_json(path, redact.scrub(document, redact.secret_values()))


def read_plan(path: Path) -> SweepPlan:
    """plan.json, validated against its schema, as the typed record."""
    return SweepPlan.from_dict(schemas.read_json(path, "sweep_plan"))


def describe_plan(plan: SweepPlan) -> list[str]:
    """Human-readable expansion lines (what ``plan`` prints)."""
    lines = [
        f"flow {plan.flow.name} ({plan.flow.path}) seed {plan.seed} ({plan.seed_source}) run id {plan.run_id}",
        f"{len(plan.points)} point(s), {plan.step_count} step(s), {plan.shard_count} shard(s)",
    ]
    for point in plan.points:
        axes = ", ".join(f"{k}={v}" for k, v in point.axes.items()) or "(no axes)"
        lines.append(f"  {point.id} [shard {point.shard}] seed {point.seed}: {axes}")
        for step in point.steps:
            params = " ".join(f"{k}={v}" for k, v in step.params.items())
            lines.append(f"      {step.index:02d} {step.name} ({step.adapter}, timeout {step.timeout_s:g}s) {params}")
    return lines
