"""The data the console scripts need (schemas, policy, flows, templates) ships in the wheel and is found from any directory."""

from __future__ import annotations

import importlib.util
import os
import subprocess
import sys
from pathlib import Path

import pytest

from preflight_action import paths
from preflight_action.sweep import config
from tests.conftest import ROOT


@pytest.fixture(scope="module")
def installed(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The wheel built from this checkout and installed (its console scripts in bin/) into a folder of its own."""
    tmp = tmp_path_factory.mktemp("installed")
    offline = ["--no-build-isolation"] if importlib.util.find_spec("hatchling") else []  # else pip fetches hatchling to build
    built = subprocess.run(
        [sys.executable, "-m", "pip", "wheel", str(ROOT), "--no-deps", *offline, "-w", str(tmp / "wheel"), "-q"],
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )
    if built.returncode != 0:
        pytest.skip(f"the wheel cannot be built here: {(built.stderr or built.stdout).strip().splitlines()[-1:]}")
    [wheel] = (tmp / "wheel").glob("*.whl")
    target = tmp / "site"
    subprocess.run(
        [sys.executable, "-m", "pip", "install", "--no-deps", "--target", str(target), str(wheel), "-q"], check=True, timeout=600
    )
    return target


def _run(installed: Path, command: str, *argv: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    # The installed package first on the path: the checkout's src/ is nowhere on it, its dependencies are this interpreter's.
    env = {**os.environ, "PYTHONPATH": str(installed)}
    return subprocess.run(
        [str(installed / "bin" / command), *argv], capture_output=True, text=True, timeout=600, cwd=cwd, env=env, check=False
    )


@pytest.mark.integration
def test_an_installed_sweep_lists_and_runs_the_shipped_flows_from_any_directory(installed: Path, tmp_path: Path) -> None:
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    listed = _run(installed, "preflight-sweep", "list-flows", cwd=elsewhere)
    assert listed.returncode == 0, listed.stderr
    shipped = sorted(p.stem for p in (ROOT / "flows").glob("*.yaml"))
    assert shipped
    assert all(name in listed.stdout for name in shipped), listed.stdout
    assert "no flows in" not in listed.stdout
    ran = _run(
        installed, "preflight-sweep", "run", "--flow", "noop", "--no-probe", "--yes", "--output-root", str(tmp_path / "runs"), cwd=elsewhere
    )
    assert ran.returncode == 0, ran.stderr
    assert list((tmp_path / "runs").glob("*/summary.json"))
    validated = _run(installed, "preflight-sweep", "validate", cwd=elsewhere)
    assert validated.returncode == 0, validated.stdout + validated.stderr


def test_a_checkout_reads_its_own_flows_and_a_folder_with_flows_is_used_as_it_is(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    assert config.default_root() == ROOT  # this checkout
    monkeypatch.setattr(config, "repo_root", lambda: None)  # as installed
    monkeypatch.chdir(tmp_path)
    assert config.default_root() == paths.data_dir("flows").parent
    (tmp_path / "flows").mkdir()
    assert config.default_root() == tmp_path  # the user's own flows/ where they run it
