"""Shared fixtures: run the real preflight CLI with real torch, read what it wrote."""

from __future__ import annotations

import atexit
import json
import os
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parent.parent

# The probe's cached copy (probe_cache.py) goes to a folder of this test session, not the user's cache:
# every run of the suite builds it once, as a first run on a new machine does. Subprocesses inherit it.
_CACHE = tempfile.mkdtemp(prefix="preflight-test-cache-")
os.environ["PREFLIGHT_CACHE_DIR"] = _CACHE
atexit.register(shutil.rmtree, _CACHE, True)


@dataclass
class PreflightRun:
    exit_code: int
    report: dict[str, Any]
    stdout: str
    stderr: str
    path: Path

    def check(self, check_id: str) -> dict[str, Any]:
        return next(c for c in self.report["checks"] if c["id"] == check_id)


@pytest.fixture
def run_preflight(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> Callable[..., PreflightRun]:
    """Call ``cli_preflight.main`` in-process (its checks still run in real worker subprocesses)."""
    from preflight_action import main as cli_preflight

    def run(*args: str) -> PreflightRun:
        out = tmp_path / "report.json"
        argv = ["--output-path", str(out), *args]
        code = cli_preflight.main(argv)
        captured = capsys.readouterr()
        report = json.loads(out.read_text(encoding="utf-8")) if out.exists() else {}
        return PreflightRun(code, report, captured.out, captured.err, out)

    return run


@pytest.fixture(scope="session")
def bare_python(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """An interpreter with no torch: a venv made without pip or system site-packages."""
    venv = tmp_path_factory.mktemp("bare") / "venv"
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(venv)], check=True, timeout=120)
    candidates = [venv / "bin" / "python", venv / "Scripts" / "python.exe"]
    return next(p for p in candidates if p.exists())
