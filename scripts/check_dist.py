#!/usr/bin/env python3
"""Check built distributions: the wheel and sdist hold the package, the probe, schemas, policy and templates."""

from __future__ import annotations

import sys
import tarfile
import zipfile
from pathlib import Path

WHEEL_MUST = (
    "preflight_action/__init__.py",
    "preflight_action/cli_preflight.py",
    "preflight_action/templates/report.md.j2",
    "preflight_action/_data/schemas/preflight_report.schema.json",
    "preflight_action/_data/policy/severity.yaml",
    "preflight_probe/worker.py",
)
SDIST_MUST = ("pyproject.toml", "README.md", "schemas/preflight_report.schema.json", "policy/severity.yaml", "scripts/runtime_preflight.py")


def main(argv: list[str] | None = None) -> int:
    dist = Path((argv or sys.argv[1:] or ["dist"])[0])
    wheels, sdists = sorted(dist.glob("*.whl")), sorted(dist.glob("*.tar.gz"))
    problems = []
    if len(wheels) != 1 or len(sdists) != 1:
        problems.append(f"{dist}: expected one wheel and one sdist, found {[p.name for p in wheels + sdists]}")
    for wheel in wheels:
        names = set(zipfile.ZipFile(wheel).namelist())
        problems += [f"{wheel.name}: missing {m}" for m in WHEEL_MUST if m not in names]
        problems += [f"{wheel.name}: must not ship {n}" for n in names if n.startswith(("tests/", "outputs/"))]
    for sdist in sdists:
        with tarfile.open(sdist) as tar:
            names = {n.split("/", 1)[1] for n in tar.getnames() if "/" in n}
        problems += [f"{sdist.name}: missing {m}" for m in SDIST_MUST if m not in names]
    for problem in problems:
        print(f"check_dist: {problem}", file=sys.stderr)
    if not problems:
        print(f"check_dist: {', '.join(p.name for p in wheels + sdists)} look complete")
    return 1 if problems else 0


if __name__ == "__main__":
    raise SystemExit(main())
