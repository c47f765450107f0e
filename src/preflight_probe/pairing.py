"""Which torch and torchvision are installed, what each really is, and whether they pair.

Versions come from each distribution's metadata; builds from the files (torch's
``version.py``, the CUDA runtime torchvision's extension links against), because
a ``+tag`` is often missing (PyPI wheels) or wrong (a renamed wheel).
"""

from __future__ import annotations

import os
import re
from typing import Any

from preflight_probe import distributions, remedies

_VERSION = re.compile(r"^(\d+)\.(\d+)(?:\.(\d+))?")


def parse_version(text: str | None) -> tuple[int, int, int] | None:
    match = _VERSION.match(text or "")
    if not match:
        return None
    return int(match.group(1)), int(match.group(2)), int(match.group(3) or 0)


def local_tag(text: str | None) -> str | None:
    """The ``+cu121`` part of a version, which names the accelerator build."""
    return text.split("+", 1)[1] if text and "+" in text else None


def expected_torchvision(torch_version: str) -> str | None:
    """torchvision 0.(N+15) pairs with torch 2.N (0.15 with 2.0, ..., 0.29 with 2.14)."""
    parsed = parse_version(torch_version)
    if parsed is None or parsed[0] != 2:
        return None
    return f"0.{parsed[1] + 15}"


def minor(text: str | None) -> str | None:
    parsed = parse_version(text)
    return f"{parsed[0]}.{parsed[1]}" if parsed else None


def torch_build(torch: Any = None, package_dir: str | None = None) -> dict[str, Any]:
    """``{"build": "cpu" | "cuda 13" | "rocm", "cuda": "13.0", "hip": ...}`` from the imported torch, else its files."""
    if torch is not None and getattr(torch, "version", None) is not None:
        cuda, hip = getattr(torch.version, "cuda", None), getattr(torch.version, "hip", None)
        build = f"cuda {str(cuda).split('.')[0]}" if cuda else ("rocm" if hip else "cpu")
        return {"build": build, "cuda": cuda, "hip": hip, "source": "torch.version (imported)"}
    return distributions.torch_build_from_files(package_dir)


def describe_build(build: dict[str, Any]) -> str:
    name = build.get("build")
    if name is None:
        return "unknown build"
    if name == "cpu":
        return "CPU build"
    if name.startswith("cuda"):
        detail = build.get("cuda") or (name.split()[-1] if " " in name else "")
        links = f", links {build['links']}" if build.get("links") else ""
        return f"CUDA {detail} build{links}".replace("  ", " ")
    return f"ROCm{' ' + build['hip'] if build.get('hip') else ''} build"


def _same_build(a: str | None, b: str | None) -> bool | None:
    """None when either build is unknown; a build known only as "cuda" matches any "cuda N"."""
    if a is None or b is None:
        return None
    if a == b:
        return True
    return a.split()[0] == b.split()[0] and (a in ("cuda", "rocm") or b in ("cuda", "rocm"))


def stack(torch: Any = None) -> dict[str, Any]:
    """Every torch and torchvision distribution visible, the imported torch's location and both builds."""
    torch_dists = distributions.find("torch")
    vision_dists = distributions.find("torchvision")
    first_torch = torch_dists[0] if torch_dists else None
    first_vision = vision_dists[0] if vision_dists else None
    imported_at = distributions.import_location("torch", torch)
    package_dir = first_torch["package_dir"] if first_torch else imported_at
    return {
        "torch": torch_dists,
        "torchvision": vision_dists,
        "torch_imported_from": imported_at,
        "torch_build": torch_build(torch, package_dir),
        "torchvision_build": distributions.extension_build(first_vision["package_dir"]) if first_vision else None,
    }


def pair_problem(
    torch_version: str, torch_b: dict[str, Any], vision_version: str, vision_b: dict[str, Any] | None
) -> tuple[str, str] | None:
    """(problem, remedy) when this torchvision is not the build of this torch; None when they pair."""
    want = expected_torchvision(torch_version)
    reasons = []
    if want and minor(vision_version) != want:
        reasons.append(f"it is a release for another torch (torch {torch_version} pairs with torchvision {want}.x)")
    same = _same_build(torch_b.get("build"), (vision_b or {}).get("build"))
    tag_t, tag_v = local_tag(torch_version), local_tag(vision_version)
    if same is False:
        reasons.append(f"its extension is a {describe_build(vision_b or {})} but torch is a {describe_build(torch_b)}")
    elif same is None and tag_t and tag_v and tag_t != tag_v:
        reasons.append(f"it is a {tag_v} build but torch is a {tag_t} build")
    if not reasons:
        return None
    tag = remedies.wheel_tag(torch_b.get("build"), torch_b.get("cuda"), torch_b.get("hip")) or tag_t
    spec = f"torchvision=={want}.*" if want else "torchvision"
    problem = (
        f"torchvision {vision_version} ({describe_build(vision_b or {})}) does not pair with torch {torch_version} "
        f"({describe_build(torch_b)}): {'; '.join(reasons)}; the pair that works is torch {torch_version} with "
        f"torchvision {want or '?'}.x{' from the ' + tag + ' index' if tag else ''}"
    )
    return problem, remedies.pip_install(spec, tag)


def _listing(dists: list[dict[str, Any]]) -> str:
    return "; ".join(f"{d['version']} at {d['location']} (from {d['added_by']})" for d in dists)


def duplicate_problems(found: dict[str, Any], torch: Any = None) -> tuple[list[str], list[str]]:
    """(problems, remedies) for more than one torch/torchvision visible, or a torch imported from elsewhere."""
    problems: list[str] = []
    fixes: list[str] = []
    for name in ("torch", "torchvision"):
        for stale in (d for d in found[name] if d.get("stale")):
            problems.append(
                f"{name} {stale['version']}'s metadata ({stale['metadata']}) sits beside {name} {stale['live_version']}'s in "
                f"{stale['location']}, but the files there are {stale['live_version']}'s: a leftover of an install over another "
                "(pip and importlib.metadata may report the wrong version)"
            )
            fixes.append(
                f"delete the leftover folder {stale['metadata']} (not pip uninstall: that would delete the files {name} "
                f"{stale['live_version']} runs from)"
            )
        dists = [d for d in found[name] if not d.get("stale")]
        if len(dists) > 1:
            problems.append(f"{len(dists)} {name} installs are visible to this interpreter (import takes the first): {_listing(dists)}")
            added = [d for d in dists if d["added_by"] != "site-packages"] or dists[1:]
            fixes.append(f"keep one {name}: " + ", or ".join(_removal(d) for d in added))
    first = next((d for d in found["torch"] if not d.get("stale")), None)
    where = found["torch_imported_from"]
    # Only for an imported torch: one that failed to import (a shadow, a crash) is torch.import's one failure.
    if (
        torch is not None
        and first
        and where
        and first.get("package_dir")
        and os.path.realpath(where) != os.path.realpath(first["package_dir"])
    ):
        problems.append(
            f"the torch imported comes from {where}, which is not the first installed torch "
            f"({first['version']} at {first['location']}): something earlier on sys.path shadows it"
        )
        fixes.append(
            f"remove or rename {where} (or take its directory off PYTHONPATH) so the installed torch {first['version']} is imported"
        )
    version = getattr(torch, "__version__", None) if torch is not None else None
    if first and isinstance(version, str) and first["version"] and version.split("+")[0] != first["version"].split("+")[0]:
        problems.append(
            f"the imported torch is {version} from {where}, but the first installed torch is {first['version']}: "
            "two torch installs are visible to this interpreter"
        )
    return problems, fixes


def _removal(dist: dict[str, Any]) -> str:
    origin, drops = dist["added_by"], f"drops {dist['name']} {dist['version']}"
    if origin == "PYTHONPATH":
        return f"take {dist['location']} off PYTHONPATH ({drops})"
    if origin.endswith(".pth"):
        return f"delete {origin} ({drops} at {dist['location']})"
    return f"{remedies._python()} -m pip uninstall -y {dist['name']} ({drops} at {dist['location']})"
