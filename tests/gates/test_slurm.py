"""The slurm gate on a real one-node Slurm cluster: drain with our reason, resume only what we drained, the fleet sbatch.

slurmd itself runs the deploy/slurm prolog for each job; the health-check script
is run the way slurmd runs HealthCheckProgram (as root, SLURMD_NODENAME set).
The broken runtime is a real interpreter without torch (a fresh venv).
"""

from __future__ import annotations

import json
import os
import shlex
import subprocess
import sys
import time
import venv
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.conftest import ROOT
from tests.support.slurm_cluster import SlurmCluster, cluster, missing

pytestmark = pytest.mark.integration

DEPLOY = ROOT / "deploy" / "slurm"
GATE = f"{sys.executable} {ROOT / 'scripts' / 'gate.py'}"


@pytest.fixture(scope="module")
def broken_python(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A real interpreter that cannot import torch: what a node with a broken stack looks like."""
    env_dir = tmp_path_factory.mktemp("no-torch") / "venv"
    venv.EnvBuilder(with_pip=False).create(env_dir)
    return env_dir / "bin" / "python"


@pytest.fixture
def slurm(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SlurmCluster]:
    """A fresh cluster per test (it starts in seconds): no test sees another's node state or jobs."""
    hooks = tmp_path_factory.mktemp("hooks")
    hooks.chmod(0o755)
    # slurmd runs the prolog with its own environment: the wrapper points the deploy script at the test's settings.
    wrapper = hooks / "prolog.sh"
    # slurmd builds the prolog's environment itself; carry PYTHONPATH so it imports the package under test.
    carried = f"export PYTHONPATH={shlex.quote(os.environ['PYTHONPATH'])}\n" if os.environ.get("PYTHONPATH") else ""
    wrapper.write_text(f"#!/bin/bash\n{carried}export PREFLIGHT_GATE_CONFIG={hooks / 'gate.conf'}\nexec {DEPLOY / 'preflight-prolog.sh'}\n")
    wrapper.chmod(0o755)
    with cluster(tmp_path_factory, f"Prolog={wrapper}\nPrologFlags=Alloc") as running:
        running.hooks = hooks
        yield running


def _hooks(slurm: SlurmCluster) -> Path:
    assert slurm.hooks is not None
    return slurm.hooks


def configure(slurm: SlurmCluster, python: Path | None = None, extra: str = "") -> Path:
    """Write the /etc/default/preflight-gate equivalent both deploy scripts read; returns the report path."""
    reports = slurm.root / "gate-reports"
    lines = [f'PREFLIGHT_GATE="{GATE}"', f"PREFLIGHT_REPORT_DIR={reports}", f'PREFLIGHT_ARGS="--check-timeout 60 {extra}"']
    if python:
        lines.append(f"PREFLIGHT_PYTHON={python}")
    (_hooks(slurm) / "gate.conf").write_text("\n".join(lines) + "\n")
    return reports / "preflight.json"


def healthcheck(slurm: SlurmCluster) -> subprocess.CompletedProcess[str]:
    """Run the HealthCheckProgram as slurmd does: root, SLURMD_NODENAME, nothing else of ours."""
    env = slurm.env(SLURMD_NODENAME=slurm.node, PREFLIGHT_GATE_CONFIG=str(_hooks(slurm) / "gate.conf"))
    return subprocess.run([str(DEPLOY / "preflight-healthcheck.sh")], capture_output=True, text=True, timeout=180, env=env, check=False)


def test_broken_runtime_drains_the_node_and_a_healthy_run_resumes_it(slurm: SlurmCluster, broken_python: Path) -> None:
    configure(slurm, broken_python)
    done = healthcheck(slurm)
    assert done.returncode == 0, done.stderr  # slurmd ignores it; the gate changed the node itself
    assert "drained: preflight: torch.import critical" in done.stderr
    assert slurm.state() == "drained"
    assert slurm.reason().startswith("preflight: torch.import critical: ModuleNotFoundError")
    listed = slurm.run("sinfo", "-R").stdout
    assert "preflight: torch.imp" in listed  # sinfo -R shows the first 20 characters: ours say what failed

    configure(slurm)  # the stack is fixed
    done = healthcheck(slurm)
    assert done.returncode == 0, done.stderr
    assert "healthy: resumed" in done.stderr
    assert slurm.state().rstrip("*") == "idle"
    assert slurm.reason() == "none"


def test_a_node_drained_by_someone_else_is_left_alone(slurm: SlurmCluster, broken_python: Path) -> None:
    report = configure(slurm)
    slurm.run("scontrol", "update", f"NodeName={slurm.node}", "State=DRAIN", "Reason=DIMM swap ticket 4711")
    done = healthcheck(slurm)
    assert "drained by someone else ('DIMM swap ticket 4711'): left drained" in done.stderr
    assert (slurm.state(), slurm.reason()) == ("drained", "DIMM swap ticket 4711")
    assert json.loads(report.read_text())["triage"]["blocking"] is False

    configure(slurm, broken_python)  # a blocking finding does not overwrite the admin's reason either
    done = healthcheck(slurm)
    assert "already" in done.stderr
    assert "by someone else" in done.stderr
    assert (slurm.state(), slurm.reason()) == ("drained", "DIMM swap ticket 4711")


def test_could_not_run_neither_drains_nor_resumes(slurm: SlurmCluster, tmp_path: Path) -> None:
    configure(slurm, tmp_path / "no-such-python")
    done = healthcheck(slurm)
    assert "could not run" in done.stderr
    assert "node left as it is" in done.stderr
    assert slurm.state().rstrip("*") == "idle"

    slurm.run("scontrol", "update", f"NodeName={slurm.node}", "State=DRAIN", "Reason=preflight: gpu.ecc critical: earlier run")
    env = slurm.env(SLURMD_NODENAME=slurm.node)
    gate = [sys.executable, str(ROOT / "scripts" / "gate.py"), "--gate", "slurm", "--from-report", str(tmp_path / "missing.json")]
    done = subprocess.run(gate, capture_output=True, text=True, timeout=60, env=env, check=False)
    assert done.returncode == 2
    assert "could not run" in done.stderr
    assert (slurm.state(), slurm.reason()) == ("drained", "preflight: gpu.ecc critical: earlier run")


def _wait_for(predicate: object, timeout: float = 120.0) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():  # type: ignore[operator]
            return True
        time.sleep(0.5)
    return False


def test_fleet_sbatch_preflights_every_node_into_a_matrix(slurm: SlurmCluster, tmp_path: Path) -> None:
    configure(slurm)  # the prolog runs before the fleet job too: a healthy node lets it start
    shared = tmp_path / "fleet"
    env = slurm.env(
        PREFLIGHT_CMD=f"{sys.executable} {ROOT / 'scripts' / 'runtime_preflight.py'}",
        PREFLIGHT_MATRIX_CMD=f"{sys.executable} {ROOT / 'scripts' / 'runtime_matrix.py'}",
        PREFLIGHT_ARGS="--device cpu",
    )
    done = subprocess.run(
        ["sbatch", "--wait", "--nodes=1", f"--chdir={tmp_path}", str(DEPLOY / "preflight-fleet.sbatch"), str(shared)],
        capture_output=True,
        text=True,
        timeout=300,
        env=env,
        check=False,
    )
    job = done.stdout.split()[-1] if done.stdout.split() else "?"
    log = tmp_path / f"preflight-fleet-{job}.out"
    assert done.returncode == 0, (done.stdout, done.stderr, log.read_text() if log.exists() else "", slurm.logs())
    report = json.loads((shared / "reports" / f"{slurm.node}.json").read_text())
    assert report["host"]["node_id"] == slurm.node
    matrix = json.loads((shared / "matrix.json").read_text())
    nodes = json.dumps(matrix)
    assert slurm.node in nodes
    assert "cpu" in nodes
    assert (shared / "matrix.html").exists()
    assert "1 reports, matrix in" in log.read_text()


def test_prolog_on_a_bad_node_holds_the_job_and_drains_the_node(slurm: SlurmCluster, broken_python: Path) -> None:
    configure(slurm, broken_python)
    job = slurm.run("sbatch", "--parsable", f"--chdir={slurm.root}", "--wrap", "true").stdout.strip().split(";")[0]
    try:
        assert _wait_for(lambda: slurm.state() == "drained"), slurm.logs()
        assert slurm.reason().startswith("preflight: torch.import critical")
        assert _wait_for(lambda: slurm.run("squeue", "-h", "-j", job, "-o", "%T").stdout.strip() == "PENDING")
        held = slurm.run("squeue", "-h", "-j", job, "-o", "%r").stdout.strip()
        assert "held" in held  # requeued and held: the job never ran on the bad node
    finally:
        slurm.run("scancel", job, check=False)


@pytest.fixture
def slurm_health_checked(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SlurmCluster]:
    """A cluster whose slurmd itself runs deploy/slurm/preflight-healthcheck.sh every few seconds."""
    why = missing()
    if why:
        pytest.skip(why)
    hooks = tmp_path_factory.mktemp("hooks")
    hooks.chmod(0o755)
    root = Path(tmp_path_factory.mktemp("slurm-conf"))
    # slurmd gives a health check only SLURMD_NODENAME: the wrapper adds what /etc/slurm and /etc/default give a real node.
    carried = f"export PYTHONPATH={shlex.quote(os.environ['PYTHONPATH'])}\n" if os.environ.get("PYTHONPATH") else ""
    wrapper = hooks / "healthcheck.sh"
    wrapper.write_text(
        f"#!/bin/bash\n{carried}export SLURM_CONF={root / 'slurm.conf'}\nexport PREFLIGHT_GATE_CONFIG={hooks / 'gate.conf'}\n"
        f"exec {DEPLOY / 'preflight-healthcheck.sh'}\n"
    )
    wrapper.chmod(0o755)
    running = SlurmCluster(root, hooks=hooks)
    configure(running)  # healthy while the node registers
    root.chmod(0o755)
    running.start(f"HealthCheckProgram={wrapper}\nHealthCheckInterval=5\nHealthCheckNodeState=ANY")
    try:
        yield running
    finally:
        running.stop()


def test_slurmd_runs_the_health_check_which_drains_then_resumes(slurm_health_checked: SlurmCluster, broken_python: Path) -> None:
    slurm = slurm_health_checked
    configure(slurm, broken_python)
    assert _wait_for(lambda: slurm.state() == "drained", timeout=180), slurm.logs()
    assert slurm.reason().startswith("preflight: torch.import critical")
    configure(slurm)
    assert _wait_for(lambda: slurm.state() == "idle", timeout=180), slurm.logs()
    assert slurm.reason() == "none"
