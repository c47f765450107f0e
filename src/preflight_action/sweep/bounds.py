"""Safety bounds (policy/safety.yaml plus the selected hardware profile) and profile selection."""

from __future__ import annotations

from dataclasses import replace

from preflight_action.errors import PolicyViolation
from preflight_action.sweep.records import Bound, Flow, Hardware, HardwareProfile, Limits, ProfileRef, SafetyPolicy, Scalar, SweepPlan


def profile_matches(profile: HardwareProfile, hardware: Hardware) -> tuple[bool, str]:
    """(matches, why) for one profile against the detected hardware; every rule given must hold."""
    rules = profile.match
    if "backend" in rules and hardware.backend not in rules["backend"]:
        return False, f"backend {hardware.backend!r} not in {rules['backend']}"
    if "os" in rules and (hardware.os or "").lower() not in [o.lower() for o in rules["os"]]:
        return False, f"os {hardware.os!r} not in {rules['os']}"
    if "device_name_contains" in rules:
        name = (hardware.device_name or "").lower()
        if not any(part.lower() in name for part in rules["device_name_contains"]):
            return False, f"device {hardware.device_name!r} contains none of {rules['device_name_contains']}"
    if "min_memory_mb" in rules and (hardware.memory_mb or 0) < rules["min_memory_mb"]:
        return False, f"memory {hardware.memory_mb} MB < {rules['min_memory_mb']} MB"
    return True, "all match rules hold" if rules else "matches any hardware"


def select_profile(profiles: list[HardwareProfile], hardware: Hardware) -> HardwareProfile | None:
    """The highest-priority matching profile (ties: the file name that sorts first)."""
    matching = [p for p in profiles if profile_matches(p, hardware)[0]]
    if not matching:
        return None
    return sorted(matching, key=lambda p: (-p.priority, str(p.path)))[0]


def apply_profile(policy: SafetyPolicy, profile: HardwareProfile | None) -> SafetyPolicy:
    """The profile's bounds and limits replace the policy's, key by key."""
    if profile is None:
        return policy
    bounds = {**policy.bounds, **profile.bounds}
    sources = dict(policy.sources)
    sources.update({name: str(profile.path) for name in profile.bounds})
    limits = policy.limits
    for name, value in vars(profile.limits).items():
        if value is not None:
            limits = replace(limits, **{name: value})
            sources[name] = str(profile.path)
    return replace(policy, bounds=bounds, limits=limits, sources=sources, profile=profile)


def bound_violation(name: str, value: Scalar, bound: Bound) -> str | None:
    if bound.choices is not None and value not in bound.choices:
        return f"{name}={value!r} is not among the allowed {list(bound.choices)}"
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        if bound.minimum is not None and value < bound.minimum:
            return f"{name}={value!r} is below the minimum {bound.minimum:g}"
        if bound.maximum is not None and value > bound.maximum:
            return f"{name}={value!r} exceeds the maximum {bound.maximum:g}"
    return None


def size_violations(policy: SafetyPolicy, points: int, steps: int) -> list[str]:
    """max_points and max_steps against the counts a flow expands to (``planner.size``), before it is expanded."""
    limits: Limits = policy.limits
    found: list[str] = []
    if limits.max_points is not None and points > limits.max_points:
        found.append(f"{points} points exceed max_points {limits.max_points} ({policy.sources['max_points']} /limits/max_points)")
    if limits.max_steps is not None and steps > limits.max_steps:
        found.append(f"{steps} steps exceed max_steps {limits.max_steps} ({policy.sources['max_steps']} /limits/max_steps)")
    return found


def enforce_size(policy: SafetyPolicy, flow: Flow) -> None:
    """Refuse a flow whose axes multiply past the limits at once, from their sizes: 2,000 x 2,000 values is four
    million points, which expanding first would take minutes and all the memory to count."""
    from preflight_action.sweep import planner

    found = size_violations(policy, *planner.size(flow))
    if found:
        raise PolicyViolation(f"{flow.path}: outside the safety bounds: {'; '.join(found)} (counted from the axes before expanding)")


def violations(policy: SafetyPolicy, plan: SweepPlan) -> list[str]:
    """Every planned value outside the bounds, each naming value, bound and the file that sets it."""
    limits: Limits = policy.limits
    points = plan.points
    found = size_violations(policy, len(points), plan.step_count)
    seen: set[str] = set()
    for point in points:
        for step in point.steps:
            where = f"point {point.id} step {step.name}"
            if limits.max_step_timeout_s is not None and step.timeout_s > limits.max_step_timeout_s:
                message = (
                    f"timeout_s={step.timeout_s:g} exceeds max_step_timeout_s {limits.max_step_timeout_s:g} "
                    f"({policy.sources['max_step_timeout_s']} /limits/max_step_timeout_s)"
                )
                if message not in seen:
                    seen.add(message)
                    found.append(f"{where}: {message}")
            for name, value in step.params.items():
                bound = policy.bounds.get(name)
                problem = bound_violation(name, value, bound) if bound else None
                if problem:
                    message = f"{problem} ({policy.sources[name]} /bounds/{name})"
                    if message not in seen:
                        seen.add(message)
                        found.append(f"{where}: {message}")
    return found


def enforce(policy: SafetyPolicy, plan: SweepPlan, flow_path: str) -> None:
    found = violations(policy, plan)
    if found:
        more = f" (+{len(found) - 3} more)" if len(found) > 3 else ""
        raise PolicyViolation(f"{flow_path}: outside the safety bounds: {'; '.join(found[:3])}{more}")


def profile_ref(policy: SafetyPolicy) -> ProfileRef | None:
    """The selected profile as the plan records it."""
    if policy.profile is None:
        return None
    return ProfileRef(policy.profile.name, str(policy.profile.path), policy.profile.priority)


def describe(policy: SafetyPolicy) -> list[str]:
    """One line per bound and limit in force, each with the file that sets it."""
    lines = []
    for name, bound in sorted(policy.bounds.items()):
        parts = []
        if bound.choices is not None:
            parts.append(f"one of {list(bound.choices)}")
        if bound.minimum is not None:
            parts.append(f">= {bound.minimum:g}")
        if bound.maximum is not None:
            parts.append(f"<= {bound.maximum:g}")
        lines.append(f"    {name}: {', '.join(parts)}  [{policy.sources[name]}]")
    for name, value in vars(policy.limits).items():
        if value is not None:
            lines.append(f"    {name}: {value:g}  [{policy.sources[name]}]")
    return lines


def confirm(policy: SafetyPolicy, hardware_line: str, steps: int, assume_yes: bool, dry_run: bool) -> None:
    """Show the selected profile and its bounds; ask on a terminal, require --yes elsewhere."""
    import sys

    from preflight_action.errors import UsageError

    profile = policy.profile
    print(f"hardware: {hardware_line}")
    if profile is not None:
        print(
            f"profile:  {profile.name} (priority {profile.priority}, {profile.path})"
            + (f": {profile.description.strip()}" if profile.description else "")
        )
    else:
        print(f"profile:  none matched; bounds from {policy.path} only")
    print("bounds in force:")
    print("\n".join(describe(policy)))
    if assume_yes or dry_run:
        return
    if not sys.stdin.isatty():
        raise UsageError(
            f"stdin is not a terminal: pass --yes to accept profile {profile.name if profile else 'none'} and run {steps} step(s)"
        )
    answer = input(f"Run {steps} step(s) under these bounds? [y/N] ").strip().lower()
    if answer not in ("y", "yes"):
        raise UsageError("declined at the profile confirmation; nothing ran")
