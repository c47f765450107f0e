"""Load flows, adapter manifests, the safety policy and hardware profiles (schema-checked YAML)."""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import Any

from preflight_action import policy_files
from preflight_action.errors import InputError
from preflight_action.paths import data_dir, repo_root
from preflight_action.sweep.records import Bound, Flow, HardwareProfile, Limits, SafetyPolicy, StepSpec


def default_root() -> Path:
    """Where flows/ and policy/ are read from: this checkout, else the cwd when it holds flows/, else the flows and
    policy shipped in the package (so an installed ``preflight-sweep`` works from any directory)."""
    checkout = repo_root()
    if checkout is not None:
        return checkout
    here = Path.cwd()
    if flows_dir(here).is_dir():
        return here
    return data_dir("flows").parent


def flows_dir(root: Path) -> Path:
    return root / "flows"


def adapters_dir(root: Path) -> Path:
    return root / "flows" / "adapters"


def policy_file(root: Path) -> Path:
    return root / "policy" / "safety.yaml"


def profiles_dir(root: Path) -> Path:
    return root / "policy" / "profiles"


def flow_files(root: Path) -> list[Path]:
    return sorted(flows_dir(root).glob("*.yaml"))


def resolve_flow_path(flow: str, root: Path) -> Path:
    """A path as given, or a flow name looked up as ``flows/<name>.yaml``."""
    given = Path(flow)
    if given.is_file():
        return given
    if given.is_dir():
        raise InputError(f"--flow {flow}: is a directory, not a flow file (a name from `list-flows` or a path to a .yaml)")
    named = flows_dir(root) / (flow if flow.endswith(".yaml") else f"{flow}.yaml")
    if named.is_file():
        return named
    known = [p.stem for p in flow_files(root)]
    import difflib

    close = difflib.get_close_matches(given.stem, known, n=1)
    hint = f" (did you mean {close[0]!r}?)" if close else f" (known: {', '.join(known) or 'none'})"
    raise InputError(f"{flow}: flow not found{hint}")


def load_flow(path: Path) -> Flow:
    document = policy_files.read_yaml(path, "flow")
    return flow_from_document(document, path)


def flow_from_document(document: dict[str, Any], path: Path) -> Flow:
    steps = tuple(
        StepSpec(
            name=s["name"],
            adapter=s["adapter"],
            params=dict(s.get("params") or {}),
            sweep={k: tuple(v) for k, v in (s.get("sweep") or {}).items()},
            timeout_s=s.get("timeout_s"),
        )
        for s in document["steps"]
    )
    return Flow(
        name=document["name"],
        path=path,
        sha256=hashlib.sha256(path.read_bytes()).hexdigest(),
        axes={k: tuple(v) for k, v in (document.get("axes") or {}).items()},
        steps=steps,
        seed=document.get("seed"),
        timeout_s=document.get("timeout_s"),
        description=document.get("description", ""),
        report=dict(document.get("report") or {}),
    )


def _bounds(document: dict[str, Any]) -> dict[str, Bound]:
    return {
        name: Bound(
            choices=tuple(b["choices"]) if "choices" in b else None,
            minimum=b.get("min"),
            maximum=b.get("max"),
        )
        for name, b in (document.get("bounds") or {}).items()
    }


def _limits(document: dict[str, Any]) -> Limits:
    raw = document.get("limits") or {}
    return Limits(max_step_timeout_s=raw.get("max_step_timeout_s"), max_points=raw.get("max_points"), max_steps=raw.get("max_steps"))


def load_policy(path: Path | None = None) -> SafetyPolicy:
    """The safety bounds: ``path``, else $PREFLIGHT_SAFETY_POLICY, else the shipped policy/safety.yaml (cached)."""
    return policy_files.load(policy_files.SAFETY, _safety_policy, path)


def _safety_policy(document: Any, file: str) -> SafetyPolicy:
    path = Path(file)
    bounds = _bounds(document)
    limits = _limits(document)
    sources = {name: str(path) for name in bounds}
    sources.update({name: str(path) for name, value in vars(limits).items() if value is not None})
    return SafetyPolicy(path=path, bounds=bounds, limits=limits, sources=sources)


def load_profile(path: Path) -> HardwareProfile:
    document = policy_files.read_yaml(path, "hardware_profile")
    return HardwareProfile(
        name=document["name"],
        path=path,
        priority=document["priority"],
        match=dict(document["match"]),
        bounds=_bounds(document),
        limits=_limits(document),
        description=document.get("description", ""),
    )


def load_profiles(directory: Path) -> list[HardwareProfile]:
    return [load_profile(p) for p in sorted(directory.glob("*.yaml"))]


def flow_listing(root: Path) -> list[str]:
    """One line per flow in flows/: points, steps, axes and description (an invalid one says why)."""
    files = flow_files(root)
    if not files:
        return [f"no flows in {flows_dir(root)}"]
    lines = []
    for path in files:
        try:
            flow = load_flow(path)
        except InputError as error:
            lines.append(f"{path.stem:28} INVALID: {error}")
            continue
        points = 1
        for values in flow.axes.values():
            points *= len(values)
        axes = " x ".join(f"{k}({len(v)})" for k, v in flow.axes.items()) or "no axes"
        lines.append(f"{path.stem:28} {points:4d} point(s) · {len(flow.steps)} step spec(s) · {axes} · {flow.description.strip()[:80]}")
    return lines
