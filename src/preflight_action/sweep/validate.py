"""``sweep.py validate``: every flow, adapter manifest, the policy and the profiles, all problems at once."""

from __future__ import annotations

import sys
from pathlib import Path

from preflight_action.errors import InputError, SchemaError
from preflight_action.sweep import bounds, config, planner
from preflight_action.sweep.adapters import load_manifest
from preflight_action.sweep.records import Adapter, SafetyPolicy


def _problems_of(error: InputError) -> list[str]:
    if isinstance(error, SchemaError):
        return [f"{error.source}: {p}" for p in error.problems]
    if isinstance(error, planner.ExpansionError):
        return list(error.problems)
    return [str(error)]


def check_tree(root: Path) -> tuple[list[str], dict[str, int]]:
    """(every problem, how many flows/adapters/profiles were valid) under ``root``; a flow is also planned and bounded."""
    problems: list[str] = []
    counts = {"flows": 0, "adapters": 0, "profiles": 0}
    adapters: dict[str, Adapter] = {}
    for path in sorted(config.adapters_dir(root).glob("*.yaml")):
        try:
            adapter = load_manifest(path, root)
            adapters[adapter.name] = adapter
            counts["adapters"] += 1
        except InputError as error:
            problems.extend(_problems_of(error))
    policy: SafetyPolicy | None = None
    try:
        policy = config.load_policy(config.policy_file(root))
    except InputError as error:
        problems.extend(_problems_of(error))
    for path in sorted(config.profiles_dir(root).glob("*.yaml")):
        try:
            config.load_profile(path)
            counts["profiles"] += 1
        except InputError as error:
            problems.extend(_problems_of(error))
    for path in config.flow_files(root):
        try:
            flow = config.load_flow(path)
            too_many = bounds.size_violations(policy, *planner.size(flow)) if policy is not None else []
            if too_many:  # refused from the axes' sizes, never expanded
                problems.extend(f"{path}: {v}" for v in too_many)
                continue
            plan = planner.build_plan(
                flow, adapters, seed=0, seed_source="chosen", python=sys.executable, device="auto", policy_path="", profile=None
            )
            counts["flows"] += 1
            if policy is not None:
                problems.extend(f"{path}: {v}" for v in bounds.violations(policy, plan))
        except InputError as error:
            problems.extend(_problems_of(error))
    return problems, counts


def report(root: Path) -> int:
    """Print every problem (stdout) and a count line; 2 when there is any problem, else 0."""
    problems, counts = check_tree(root)
    for problem in problems:
        print(problem)
    summary = f"{counts['flows']} flow(s), {counts['adapters']} adapter(s), {counts['profiles']} profile(s) valid"
    if problems:
        print(f"validate: {len(problems)} problem(s); {summary}", file=sys.stderr)
        return 2
    print(f"validate: ok: {summary}, policy {config.policy_file(root)}")
    return 0
