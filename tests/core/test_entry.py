"""The console entry points: the tool's own failure is one line and exit 3, never 1 (a verdict) and never a traceback."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import tomllib

import preflight_entry
from tests.conftest import ROOT
from tests.support import broken_runtimes

# Each command with arguments that make it do real work (--help of most loads no dependency, and should not).
COMMANDS = {
    "runtime_preflight.py": ["--device", "cpu", "--quiet", "--output-path", "{tmp}/r.json"],
    "gate.py": ["--gate", "npd", "--quiet", "--output-path", "{tmp}/r.json"],
    "gang.py": ["--device", "cpu", "--quiet", "--rdzv-endpoint", "127.0.0.1:9", "--nnodes", "1", "--output-path", "{tmp}/r.json"],
    "summarize.py": ["--input-glob", "{tmp}/*.json", "--output-json", "{tmp}/s.json", "--quiet"],
    "sweep.py": ["validate"],
    "smoke.py": ["--mode", "stub", "--quiet", "--output-root", "{tmp}/smoke"],
    "runtime_matrix.py": ["status", "--input-glob", "{tmp}/*.json"],
    "export.py": ["--from-report", "{tmp}/r.json", "--output-junit", "{tmp}/j.xml"],
    "diff.py": ["{tmp}/r.json", "{tmp}/r.json", "--output-json", "{tmp}/d.json"],
}


def _run(
    python: Path | str, script: str, *args: str, env: dict[str, str] | None = None, root: Path = ROOT, timeout: int = 120
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(python), str(root / "scripts" / script), *args], capture_output=True, text=True, timeout=timeout, env=env, check=False
    )


def _env(**extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", preflight_entry.ORCHESTRATOR_ENV)}
    return {**env, **extra}


@pytest.fixture(scope="session")
def bare_checkout(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A checkout as a fresh clone has it: the scripts and the package, no .venv and no .nox environment."""
    root = tmp_path_factory.mktemp("checkout")
    shutil.copytree(ROOT / "src", root / "src", ignore=shutil.ignore_patterns("__pycache__"))
    shutil.copytree(ROOT / "scripts", root / "scripts", ignore=shutil.ignore_patterns("__pycache__"))
    shutil.copy(ROOT / "pyproject.toml", root / "pyproject.toml")
    for data in ("schemas", "policy"):
        shutil.copytree(ROOT / data, root / data)
    return root


@pytest.fixture(scope="session")
def torch_only_python(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A real venv with a real torch (2.13.0+cpu, its own dependencies) and none of this tool's (no yaml, rich, jsonschema)."""
    try:
        site = broken_runtimes.torch_213_site()
    except broken_runtimes.Unavailable as why:
        pytest.skip(str(why))
    python, _ = broken_runtimes.venv_reaching(tmp_path_factory.mktemp("torch-only") / "venv", site)
    has = subprocess.run(
        [str(python), "-c", "import torch, importlib.util as u; print(u.find_spec('yaml') is None)"],
        capture_output=True,
        text=True,
        timeout=300,
        check=True,
    )
    assert has.stdout.strip() == "True", "the torch-only venv must lack the tool's dependencies"
    return python


@pytest.mark.parametrize("script", sorted(COMMANDS))
def test_a_missing_dependency_of_the_tool_is_one_line_and_exit_3(
    script: str, bare_python: Path, bare_checkout: Path, tmp_path: Path
) -> None:
    """An interpreter with neither torch nor our dependencies (yaml, rich, jsonschema ...), in a checkout with no
    environment that has them either."""
    (tmp_path / "r.json").write_text("{}", encoding="utf-8")  # an input to read: its reading needs our dependencies
    argv = [arg.format(tmp=tmp_path) for arg in COMMANDS[script]]
    done = _run(bare_python, script, *argv, env=_env(), root=bare_checkout)
    assert done.returncode == 3, (done.stdout, done.stderr)
    assert "Traceback" not in done.stderr
    line = done.stderr.strip().splitlines()[-1]
    assert ": cannot run: this tool's own dependency " in line
    assert "is missing from" in line
    assert "pip install" in line


def test_a_broken_install_of_the_tool_never_reads_as_a_verdict(tmp_path: Path) -> None:
    """A preflight_action that fails to import (a bad image) ahead of the real one: the gate says 'cannot run', exit 3."""
    broken = tmp_path / "broken" / "preflight_action"
    broken.mkdir(parents=True)
    (broken / "__init__.py").write_text("raise RuntimeError('half-written install')\n", encoding="utf-8")
    entry = ROOT / "src"
    env = {**os.environ, "PYTHONPATH": f"{broken.parent}{os.pathsep}{entry}"}
    for argv in (["--gate", "npd", "--quiet"], ["--gate", "slurm", "--quiet"]):
        done = subprocess.run(
            [sys.executable, "-c", "import sys, preflight_entry; sys.exit(preflight_entry.gate())", *argv],
            capture_output=True,
            text=True,
            timeout=120,
            env=env,
            check=False,
        )
        assert done.returncode == 3, done.stderr
        assert done.stdout == ""  # NPD reads stdout as the condition message: nothing that looks like a verdict
        last = done.stderr.strip().splitlines()[-1]
        assert last.startswith("preflight-gate: cannot run: loading it failed: RuntimeError: half-written install")
        assert "not a finding about this machine" in last


def test_the_direct_script_under_a_torch_only_venv_diagnoses_it_from_the_checkouts_environment(
    torch_only_python: Path, bare_checkout: Path, tmp_path: Path
) -> None:
    """README's direct command with a venv that has torch but not this tool's dependencies: the checkout's .venv
    (as `python -m venv .venv && .venv/bin/pip install -e .` makes it) runs the orchestrator, this venv is diagnosed."""
    checkout = tmp_path / "checkout"
    shutil.copytree(bare_checkout, checkout, symlinks=True)
    sites = [Path(p) for p in sys.path if p.endswith("site-packages")]  # where this interpreter finds our dependencies
    orchestrator, _ = broken_runtimes.venv_reaching(checkout / ".venv", *sites)
    out = tmp_path / "r.json"
    done = _run(
        torch_only_python, "runtime_preflight.py", "--device", "cpu", "--level", "quick", "--quiet", "--output-path", str(out),
        env=_env(), root=checkout, timeout=600,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    [said] = done.stderr.strip().splitlines()
    assert said.startswith(f"runtime_preflight.py: {torch_only_python} lacks this tool's own dependency ")
    assert f"running the tool under {orchestrator}, diagnosing this one with --python {torch_only_python}" in said
    report = json.loads(out.read_text(encoding="utf-8"))
    assert report["interpreter"]["path"] == str(torch_only_python)
    assert report["verdict"] == "healthy"
    torch_import = next(c for c in report["checks"] if c["id"] == "torch.import")
    assert torch_import["details"]["version"].startswith("2.13.0")  # the torch of the venv under diagnosis


def test_the_orchestrator_interpreter_can_be_named_and_an_explicit_python_is_kept(
    torch_only_python: Path, bare_checkout: Path, bare_python: Path, tmp_path: Path
) -> None:
    out = tmp_path / "r.json"
    env = _env(**{preflight_entry.ORCHESTRATOR_ENV: sys.executable})
    argv = ["--device", "cpu", "--level", "quick", "--quiet", "--output-path", str(out), "--python", str(bare_python)]
    done = _run(torch_only_python, "runtime_preflight.py", *argv, env=env, root=bare_checkout, timeout=600)
    assert done.returncode == 0, done.stderr
    assert done.stderr.strip().endswith(f"running the tool under {sys.executable}")  # --python was given: nothing added
    report = json.loads(out.read_text(encoding="utf-8"))
    assert report["interpreter"]["path"] == str(bare_python)
    torch_import = next(c for c in report["checks"] if c["id"] == "torch.import")
    assert torch_import["status"] == "fail"  # the interpreter named, which has no torch


def test_without_an_interpreter_that_has_the_dependencies_the_direct_script_says_how_to_install(
    torch_only_python: Path, bare_checkout: Path, tmp_path: Path
) -> None:
    done = _run(
        torch_only_python,
        "runtime_preflight.py",
        "--device",
        "cpu",
        "--output-path",
        str(tmp_path / "r.json"),
        env=_env(),
        root=bare_checkout,
    )
    assert done.returncode == 3
    [line] = done.stderr.strip().splitlines()
    assert line.startswith("runtime_preflight.py: cannot run: this tool's own dependency ")
    assert "python -m pip install -e ." in line
    assert preflight_entry.ORCHESTRATOR_ENV in line
    assert not (tmp_path / "r.json").exists()


def test_the_dependency_list_the_entry_checks_is_pyprojects() -> None:
    """preflight_entry (standard library only) names the import of each [project] dependency; a new one must be added there."""
    imports = {
        "jsonschema": "jsonschema",
        "rfc3339-validator": "rfc3339_validator",
        "referencing": "referencing",
        "pyyaml": "yaml",
        "jinja2": "jinja2",
        "rich": "rich",
        "psutil": "psutil",
        "pygithub": "github",
        "requests": "requests",
        "nvidia-ml-py": "pynvml",
        "py-cpuinfo": "cpuinfo",
        "jsonschema-rs": "jsonschema_rs",
        "orjson": "orjson",
        "junitparser": "junitparser",
        "prometheus-client": "prometheus_client",
        "packaging": "packaging",
    }
    import re

    declared = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["project"]["dependencies"]
    names = [re.split(r"[<>=!~;\[ ]", spec, maxsplit=1)[0].lower() for spec in declared]
    assert sorted(names) == sorted(imports), "a dependency without its import name here"
    assert sorted(preflight_entry.DEPENDENCIES) == sorted(imports[name] for name in names)
