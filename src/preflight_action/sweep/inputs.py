"""What a plan or run reads before anything runs: the flow, the adapters, the policy, the interpreter, the seed."""

from __future__ import annotations

import argparse
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from preflight_action.errors import UsageError
from preflight_action.sweep import bounds, config, planner
from preflight_action.sweep.adapters import load_adapters
from preflight_action.sweep.records import Adapter, Flow, HardwareProfile, SafetyPolicy, SweepPlan
from preflight_action.vocab import DEVICES

SEED_MAX = 2**32 - 1


def device(text: str) -> str:
    """argparse type for --device: one of the preflight's devices, optionally with an index (cuda:1)."""
    base, _, index = text.partition(":")
    if base not in DEVICES or (index and not index.isdigit()) or (index and base == "auto"):
        raise argparse.ArgumentTypeError(f"{text!r} is not a device: one of {', '.join(DEVICES)} (an index as in cuda:1 picks one)")
    return text


@dataclass(frozen=True)
class Inputs:
    root: Path
    flow: Flow
    adapters: dict[str, Adapter]
    policy: SafetyPolicy
    python: str


def resolve_interpreter(given: str | None) -> str:
    from preflight_action.process.probe_client import resolve_python

    try:
        return resolve_python(given)[0]
    except FileNotFoundError:
        raise UsageError(f"--python: interpreter {given!r} not found") from None


def load(flow: str | None, policy: Path | None, python: str | None, root: Path) -> Inputs:
    """The flow (by name or path), every adapter manifest, the safety policy and the interpreter."""
    if not flow:
        raise UsageError("--flow is required (a name from `list-flows` or a path)")
    loaded = config.load_flow(config.resolve_flow_path(flow, root))
    adapters = load_adapters(config.adapters_dir(root), root)
    safety = config.load_policy(policy or config.policy_file(root))
    return Inputs(root, loaded, adapters, safety, resolve_interpreter(python))


def named_profile(root: Path, name: str) -> HardwareProfile:
    profiles = config.load_profiles(config.profiles_dir(root))
    for profile in profiles:
        if profile.name == name:
            return profile
    raise UsageError(f"--profile: no profile named {name!r} in {config.profiles_dir(root)} (known: {', '.join(p.name for p in profiles)})")


def static_policy(profile: str | None, inputs: Inputs) -> SafetyPolicy:
    """The policy with a profile named by --profile laid over it ('auto' and 'none' apply none here)."""
    if profile and profile not in ("auto", "none"):
        return bounds.apply_profile(inputs.policy, named_profile(inputs.root, profile))
    return inputs.policy


def seed(given: int | None, flow: Flow) -> tuple[int, str]:
    """(seed, where it came from): --seed, the flow's, else chosen and recorded."""
    if given is not None and not 0 <= given <= SEED_MAX:
        raise UsageError(f"--seed: {given} is outside 0..{SEED_MAX}")
    return planner.choose_seed(given, flow)


def checked_plan(inputs: Inputs, policy: SafetyPolicy, device: str, seed_value: int, source: str, **extra: Any) -> SweepPlan:
    """The expanded plan for this flow, refused (exit 2) before anything runs when a value breaks a bound."""
    bounds.enforce_size(policy, inputs.flow)  # before expanding: the axes' sizes alone say it is too many
    plan = planner.build_plan(
        inputs.flow,
        inputs.adapters,
        seed=seed_value,
        seed_source=source,
        python=inputs.python,
        device=device,
        policy_path=str(policy.path),
        profile=bounds.profile_ref(policy),
        **extra,
    )
    bounds.enforce(policy, plan, str(inputs.flow.path))
    return plan
