"""The probe runs under whatever interpreter is diagnosed: Python 3.8 and newer, and says so below that."""

from __future__ import annotations

import ast
import glob
import shutil
from pathlib import Path

import pytest

from tests.conftest import ROOT

PROBE_FILES = sorted((ROOT / "src" / "preflight_probe").glob("*.py"))


def _interpreter(version: str) -> str | None:
    """A real interpreter of that version (pyenv installs first; pyenv's shims only pretend)."""
    pyenv = sorted(glob.glob(str(Path.home() / ".pyenv" / "versions" / f"{version}.*" / "bin" / "python")))
    if pyenv:
        return pyenv[-1]
    found = shutil.which(f"python{version}")
    return found if found and "shims" not in Path(found).parts else None


@pytest.mark.parametrize("path", PROBE_FILES, ids=lambda p: p.name)
def test_probe_sources_parse_as_python_3_8(path):
    ast.parse(path.read_text(encoding="utf-8"), filename=str(path), feature_version=(3, 8))


@pytest.mark.parametrize("version", ["3.8", "3.9"])
def test_probe_starts_under_older_supported_pythons(run_preflight, version):
    python = _interpreter(version)
    if python is None:
        pytest.skip(f"no Python {version} interpreter on this machine")
    run = run_preflight("--python", python, "--device", "cpu")
    torch_import = run.check("torch.import")
    # The worker itself started and answered: a missing torch is a check result, not a crash.
    assert torch_import["error"].startswith("ModuleNotFoundError") or torch_import["status"] == "pass"
    assert run.report["interpreter"]["version"].startswith(version + ".")


@pytest.mark.parametrize("version", ["3.7", "2.7"])
def test_too_old_interpreter_is_named_plainly(run_preflight, version):
    python = _interpreter(version)
    if python is None:
        pytest.skip(f"no Python {version} interpreter on this machine")
    run = run_preflight("--python", python, "--device", "cpu")
    error = run.check("torch.import")["error"]
    assert f"preflight probe: Python {version} is too old to run the probe (needs 3.8+)" in error
