"""Developer entry points: preflight, tests, lint, build, summarize, sweep, smoke, benchmarks."""

from __future__ import annotations

import os
import shutil
import sys
from pathlib import Path

import nox

nox.needs_version = ">=2024.4.15"
nox.options.default_venv_backend = "virtualenv"  # pip sees local wheel caches; uv users: nox -db uv
nox.options.sessions = ["lint", "tests"]

ROOT = Path(__file__).parent
PYPROJECT = nox.project.load_toml("pyproject.toml")
PYTHON = os.environ.get("PREFLIGHT_NOX_PYTHON") or f"{sys.version_info.major}.{sys.version_info.minor}"


def _install(session: nox.Session, *groups: str, torch: bool = True) -> None:
    """Our package (editable), the named dependency groups and, unless told not to, torch."""
    target = ".[torch]" if torch else "."
    session.install("-e", target)
    for group in groups:
        session.install(*nox.project.dependency_groups(PYPROJECT, group))


@nox.session(python=PYTHON)
def preflight(session: nox.Session) -> None:
    """Preflight this machine: JSON, Markdown and HTML report under outputs/runtime_preflight/."""
    diagnosing_other = any(arg == "--python" or arg.startswith("--python=") for arg in session.posargs)
    _install(session, torch=not diagnosing_other)
    out = "outputs/runtime_preflight"
    # --check-distributed: one rank per local device (2 gloo ranks on a laptop, a few seconds).
    # Arguments after -- are appended to these defaults, never replace them: `-- --quiet` keeps --strict, and a
    # flag given again overrides its default (argparse keeps the last value): `-- --device cpu`.
    args = ["--device", "auto", "--check-torchvision", "--check-distributed", "--strict", *session.posargs]
    # The action's level and budget inputs, by the same names: PREFLIGHT_LEVEL=deep PREFLIGHT_BUDGET=90 nox -s preflight
    for variable, flag in (("PREFLIGHT_LEVEL", "--level"), ("PREFLIGHT_BUDGET", "--budget")):
        if os.environ.get(variable, "").strip() and flag not in args:
            args = [*args, flag, os.environ[variable].strip()]
    session.run(
        "python",
        "scripts/runtime_preflight.py",
        "--output-path",
        f"{out}/local.json",
        "--output-md",
        f"{out}/local.md",
        "--output-html",
        f"{out}/local.html",
        *args,
    )


@nox.session(python=PYTHON)
def tests(session: nox.Session) -> None:
    """The CPU test suite (pytest -m "not device"); extra pytest args after --."""
    _install(session, "test")
    session.run("pytest", "-m", "not device", *session.posargs)


@nox.session(python=PYTHON, name="device-tests", default=False)
def device_tests(session: nox.Session) -> None:
    """Tests that need a real accelerator (pytest -m device)."""
    _install(session, "test")
    session.run("pytest", "-m", "device", *session.posargs)


@nox.session(python=PYTHON)
def lint(session: nox.Session) -> None:
    """ruff (lint + format check) and mypy over package, scripts and noxfile."""
    _install(session, "lint", torch=False)
    session.run("ruff", "check", ".")
    session.run("ruff", "format", "--check", ".")
    session.run("mypy")


@nox.session(python=PYTHON)
def build(session: nox.Session) -> None:
    """Build sdist + wheel into dist/, check them (twine, contents) and smoke the installed wheel."""
    shutil.rmtree(ROOT / "dist", ignore_errors=True)
    session.install(*nox.project.dependency_groups(PYPROJECT, "build"))
    session.run("python", "-m", "build", "--outdir", "dist")
    dists = [str(p) for p in sorted((ROOT / "dist").glob("*"))]
    session.run("twine", "check", "--strict", *dists)
    session.run("python", "scripts/check_dist.py", "dist")
    wheel = next(p for p in dists if p.endswith(".whl"))
    session.install(wheel)
    # Installed (not editable): the console script runs and finds its shipped schemas and policy.
    session.run("runtime-preflight", "--version")
    session.run(
        "python",
        "-c",
        "from preflight_action import policy, schemas; policy.load(); assert 'preflight_report' in schemas.names()",
        external=False,
    )


@nox.session(python=PYTHON, default=False)
def summarize(session: nox.Session) -> None:
    """Merge preflight reports into Markdown + JSON (defaults: outputs/runtime_preflight/*.json)."""
    _install(session, torch=False)
    out = "outputs/runtime_preflight"
    args = session.posargs or [
        "--input-glob",
        f"{out}/*.json",
        "--output-md",
        f"{out}/summary.md",
        "--output-json",
        f"{out}/summary.json",
    ]
    session.run("python", "scripts/summarize.py", *args)


@nox.session(python=PYTHON, default=False)
def sweep(session: nox.Session) -> None:
    """Run a sweep (args after -- go to scripts/sweep.py; default: validate, then run the dtype x batch flow)."""
    _install(session)
    if not session.posargs:
        session.run("python", "scripts/sweep.py", "validate")
    args = session.posargs or ["run", "--flow", "dtype_batch_matmul", "--yes"]
    session.run("python", "scripts/sweep.py", *args)


@nox.session(python=PYTHON, default=False)
def smoke(session: nox.Session) -> None:
    """Smoke-run small real models, then print the runtime matrix (args after -- go to scripts/smoke.py)."""
    _install(session)
    session.run("python", "scripts/smoke.py", *(session.posargs or ["--mode", "real", "--device", "auto"]))
    session.run("python", "scripts/runtime_matrix.py", "status", "--html", "outputs/smoke/matrix.html")


@nox.session(python=PYTHON, default=False)
def bench(session: nox.Session) -> None:
    """Speed and memory goals (benchmarks/); pass a benchmark file name to run one."""
    _install(session, "test")
    targets = session.posargs or sorted(str(p) for p in Path("benchmarks").glob("bench_*.py"))
    for target in targets:
        session.run("python", target)
