"""The console entry points: the tool's own failure is one line and exit 3, never 1 (a verdict) and never a traceback."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import ROOT

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


def _run(python: Path | str, script: str, *args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(python), str(ROOT / "scripts" / script), *args], capture_output=True, text=True, timeout=120, env=env, check=False
    )


@pytest.mark.parametrize("script", sorted(COMMANDS))
def test_a_missing_dependency_of_the_tool_is_one_line_and_exit_3(script: str, bare_python: Path, tmp_path: Path) -> None:
    """An interpreter with neither torch nor our dependencies (yaml, rich, jsonschema ...)."""
    (tmp_path / "r.json").write_text("{}", encoding="utf-8")  # an input to read: its reading needs our dependencies
    argv = [arg.format(tmp=tmp_path) for arg in COMMANDS[script]]
    done = _run(bare_python, script, *argv)
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
