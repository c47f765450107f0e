#!/usr/bin/env python3
"""Check built distributions against this checkout: every file the wheel and the sdist must hold, and nothing stray.

The wheel: every source file of the packages pyproject names (each subsystem, the probe, the
templates), the schemas and policy it force-includes under ``preflight_action/_data``, and a
console script per ``[project.scripts]`` entry; the version agrees with ``preflight_action.__version__``.
The sdist: every file under each path of pyproject's sdist ``include``. The files expected are the
ones git tracks or would track (``.gitignore`` applies, as it does for hatchling).
"""

from __future__ import annotations

import configparser
import email.parser
import importlib
import re
import subprocess
import sys
import tarfile
import zipfile
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
# Named so a broken file listing cannot pass: these must be there whatever else is expected (the console
# scripts' modules are checked from pyproject, every other file from the checkout).
WHEEL_FLOOR = (
    "preflight_action/__init__.py",
    "preflight_action/templates/report.md.j2",
    "preflight_action/_data/schemas/preflight_report.schema.json",
    "preflight_action/_data/policy/severity.yaml",
    "preflight_action/_data/policy/levels.yaml",
    "preflight_probe/worker.py",
)
SDIST_ALWAYS = ("pyproject.toml", "PKG-INFO")
NEVER = re.compile(r"(^|/)(__pycache__/|outputs/|\.nox/|\.venv/|dist/)|\.py[cod]$")


def pyproject(root: Path = ROOT) -> dict[str, Any]:
    """pyproject.toml, read with tomllib (3.11+) or the tomli that the build group brings on 3.10."""
    toml = importlib.import_module("tomllib" if sys.version_info >= (3, 11) else "tomli")
    document: dict[str, Any] = toml.loads((root / "pyproject.toml").read_text(encoding="utf-8"))
    return document


def source_files(root: Path, paths: list[str]) -> list[str]:
    """Files under ``paths`` (relative to ``root``) that a build takes: git's tracked and not-ignored files, else a walk."""
    try:
        listed = subprocess.run(
            ["git", "-C", str(root), "ls-files", "-z", "--cached", "--others", "--exclude-standard", "--", *paths],
            capture_output=True,
            check=True,
            timeout=60,
        ).stdout.decode()
        names = [name for name in listed.split("\0") if name]
    except (OSError, subprocess.SubprocessError):  # not a git checkout (an unpacked sdist): everything on disk
        names = [str(p.relative_to(root).as_posix()) for path in paths for p in sorted((root / path).rglob("*"))]
        names += [path for path in paths if (root / path).is_file()]
    # A symlinked folder is one entry to git; the builds hold files. Deleted-but-tracked files are not built either.
    return sorted({name for name in names if (root / name).is_file() and not NEVER.search(name)})


def expected_wheel(root: Path, project: dict[str, Any]) -> dict[str, str]:
    """Wheel path -> checkout path, for the packages and the force-included folders."""
    wheel = project["tool"]["hatch"]["build"]["targets"]["wheel"]
    expected: dict[str, str] = {}
    for package in wheel["packages"]:  # "src/preflight_action" ships as "preflight_action/"
        parent = Path(package).parent
        for name in source_files(root, [package]):
            expected[Path(name).relative_to(parent).as_posix()] = name
    for source, target in wheel.get("force-include", {}).items():
        for name in source_files(root, [source]):
            expected[f"{target}/{Path(name).relative_to(source).as_posix()}"] = name
    return expected


def check_wheel(path: Path, root: Path, project: dict[str, Any]) -> list[str]:
    """One line per problem with the wheel at ``path``."""
    with zipfile.ZipFile(path) as wheel:
        names = {name for name in wheel.namelist() if not name.endswith("/")}
        info = next((n for n in names if n.endswith(".dist-info/METADATA")), None)
        metadata = email.parser.Parser().parsestr(wheel.read(info).decode()) if info else None
        entry_points = next((n for n in names if n.endswith(".dist-info/entry_points.txt")), None)
        scripts = configparser.ConfigParser(delimiters=("=",))
        if entry_points:
            scripts.read_string(wheel.read(entry_points).decode())
        init = wheel.read("preflight_action/__init__.py").decode() if "preflight_action/__init__.py" in names else ""
    expected = expected_wheel(root, project)
    problems = [f"{path.name}: missing {name}" for name in sorted({*WHEEL_FLOOR, *expected} - names)]
    stray = sorted(n for n in names - expected.keys() if ".dist-info/" not in n)
    problems += [f"{path.name}: ships {name}, which is not in the checkout's packages or data" for name in stray]
    version = project["project"]["version"]
    if metadata is None or metadata["Version"] != version:
        problems.append(f"{path.name}: METADATA version {metadata and metadata['Version']!r} is not pyproject's {version!r}")
    if f'__version__ = "{version}"' not in init:
        problems.append(f"{path.name}: preflight_action/__init__.py does not set __version__ = {version!r} (pyproject's version)")
    declared = project["project"].get("scripts", {})
    shipped = dict(scripts["console_scripts"]) if scripts.has_section("console_scripts") else {}
    for command, target in declared.items():
        module = target.split(":")[0].replace(".", "/")
        if shipped.get(command) != target:
            problems.append(f"{path.name}: console script {command} is {shipped.get(command)!r}, pyproject says {target!r}")
        if f"{module}.py" not in names and f"{module}/__init__.py" not in names:
            problems.append(f"{path.name}: console script {command}'s module {module} is not in the wheel")
    return problems


def check_sdist(path: Path, root: Path, project: dict[str, Any]) -> list[str]:
    """One line per problem with the sdist at ``path``."""
    with tarfile.open(path) as tar:
        names = {member.name.split("/", 1)[1] for member in tar.getmembers() if member.isfile() and "/" in member.name}
    include = project["tool"]["hatch"]["build"]["targets"]["sdist"]["include"]
    expected = {*source_files(root, include), *SDIST_ALWAYS}
    problems = [f"{path.name}: missing {name} (pyproject's sdist include)" for name in sorted(expected - names)]
    problems += [f"{path.name}: ships {name}, a build or cache output" for name in sorted(names) if NEVER.search(name)]
    return problems


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    dist = Path(args[0] if args else "dist")
    wheels, sdists = sorted(dist.glob("*.whl")), sorted(dist.glob("*.tar.gz"))
    problems = []
    if len(wheels) != 1 or len(sdists) != 1:
        problems.append(f"{dist}: expected one wheel and one sdist, found {[p.name for p in wheels + sdists]}")
    project = pyproject()
    for wheel in wheels:
        problems += check_wheel(wheel, ROOT, project)
    for sdist in sdists:
        problems += check_sdist(sdist, ROOT, project)
    for problem in problems:
        print(f"check_dist: {problem}", file=sys.stderr)
    if not problems:
        print(f"check_dist: {', '.join(p.name for p in wheels + sdists)} hold every file they must, and nothing stray")
    return 1 if problems else 0


if __name__ == "__main__":
    raise SystemExit(main())
