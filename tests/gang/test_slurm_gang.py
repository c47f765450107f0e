"""preflight-gang through srun on a real one-node Slurm cluster: tasks standing for nodes, srun's variables only.

The members learn everything from srun (node rank SLURM_PROCID, the step's tasks, gang id slurm-JOB.STEP, the
step's first node as the endpoint); ``srun -O`` runs more tasks than the node has CPUs. Timing assertions are
bounds: a timeout x 1.1 plus the allowance stated in tests/support/gang_members.py.
"""

from __future__ import annotations

import json
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from preflight_action.gang import launchers
from preflight_action.preflight import report as report_module
from preflight_action.preflight.report import Report
from tests.conftest import ROOT
from tests.support.gang_members import CHECK_ALLOWANCE_S, START_UP_ALLOWANCE_S, assert_ranks_gone
from tests.support.slurm_cluster import SlurmCluster, cluster

pytestmark = pytest.mark.integration

GANG = f"{sys.executable} {ROOT / 'scripts' / 'gang.py'}"
# Each task: its node id and report named after its task (tasks stand for nodes); task ABSENT never starts one.
TASK = """
dir="$1"; shift
if [ "$SLURM_PROCID" = "${ABSENT:-none}" ]; then exit 0; fi
if [ "$SLURM_PROCID" = "${HUNG:-none}" ]; then export PREFLIGHT_INJECT_FAULT=gang.allreduce=hang; fi
PREFLIGHT_NODE_ID="node-$SLURM_PROCID" exec "$@" --device cpu --quiet --output-path "$dir/node-$SLURM_PROCID.json"
"""


@pytest.fixture(scope="module")
def slurm(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SlurmCluster]:
    """One cluster for the module: the gang tests change no node state."""
    with cluster(tmp_path_factory) as running:
        yield running


def srun(
    slurm: SlurmCluster, tasks: int, out: Path, *args: str, timeout: float, **env: str
) -> tuple[subprocess.CompletedProcess[str], float]:
    out.mkdir(parents=True, exist_ok=True)
    argv = ["srun", f"--ntasks={tasks}", "--nodes=1", "--overcommit", "--kill-on-bad-exit=0", "bash", "-c", TASK, "task", str(out)]
    started = time.monotonic()
    done = subprocess.run(
        [*argv, *GANG.split(), *args], capture_output=True, text=True, timeout=timeout, env=slurm.env(**env), check=False, cwd=out
    )
    return done, time.monotonic() - started


def read(out: Path, rank: int) -> Report:
    return report_module.read(out / f"node-{rank}.json")


def test_the_gang_sbatch_runs_its_members_through_srun_and_groups_them_in_the_summary(slurm: SlurmCluster, tmp_path: Path) -> None:
    shared = tmp_path / "gang"
    env = slurm.env(
        PREFLIGHT_GANG_CMD=GANG,
        PREFLIGHT_SUMMARIZE_CMD=f"{sys.executable} {ROOT / 'scripts' / 'summarize.py'}",
        PREFLIGHT_GANG_ARGS="--device cpu --rdzv-conf join_timeout=120 --collective-timeout 30",
    )
    sbatch = ["sbatch", "--wait", "--nodes=1", "--ntasks=2", "--ntasks-per-node=2", "--overcommit", f"--chdir={tmp_path}"]
    done = subprocess.run(
        [*sbatch, str(ROOT / "deploy" / "slurm" / "preflight-gang.sbatch"), str(shared)],
        capture_output=True,
        text=True,
        timeout=120 * 1.1 + 2 * START_UP_ALLOWANCE_S,
        env=env,
        check=False,
    )
    job = done.stdout.split()[-1] if done.stdout.split() else "?"
    log = tmp_path / f"preflight-gang-{job}.out"
    said = (done.stdout, done.stderr, log.read_text() if log.exists() else "", slurm.logs())
    assert done.returncode == 0, said
    reports = [report_module.read(shared / "reports" / f"{slurm.node}-{task}.json") for task in (0, 1)]
    for task, report in enumerate(reports):
        assert report.verdict == "healthy", said
        assert report.gang is not None
        assert (report.gang.id, report.gang.launcher, report.gang.node_rank, report.gang.size) == (f"slurm-{job}.0", "slurm", task, 2)
        assert report.gang.endpoint.startswith(f"{slurm.node}:")  # the step's first node serves the rendezvous
        assert report.gang.busbw_gbs is not None
        assert report.host.node_id == f"{slurm.node}-{task}"
    summary = json.loads((shared / "summary.json").read_text())
    [gang] = summary["gangs"]
    assert (gang["id"], gang["complete"], [m["name"] for m in gang["members"]]) == (
        f"slurm-{job}.0",
        True,
        [f"{slurm.node}-0", f"{slurm.node}-1"],
    )
    assert "2 member reports, summary in" in log.read_text()


def test_srun_a_member_that_never_starts_is_named_within_the_join_timeout_plus_10_percent(slurm: SlurmCluster, tmp_path: Path) -> None:
    join = 20.0
    out = tmp_path / "absent"
    done, wall = srun(slurm, 3, out, "--rdzv-conf", f"join_timeout={join:g}", timeout=join * 1.1 + START_UP_ALLOWANCE_S, ABSENT="2")
    assert done.returncode != 0, done.stderr  # the members who came exit 2: not judged
    assert wall <= join * 1.1 + START_UP_ALLOWANCE_S
    for rank in (0, 1):
        report = read(out, rank)
        check = report.check("gang.allreduce")
        assert check is not None
        assert (report.verdict, check.unfinished) == ("not_judged", "gang_incomplete")
        assert "1 of 3 members never joined the gang" in (check.skip_reason or "")
        assert "within the 20 s join timeout: node rank 2" in (check.skip_reason or "")
        assert check.duration_ms / 1000 <= join * 1.1 + CHECK_ALLOWANCE_S
        assert report.gang is not None
        assert report.gang.id is not None
        assert report.gang.id.startswith("slurm-")
    assert not (out / "node-2.json").exists()


def test_srun_a_hung_member_is_killed_and_no_process_outlives_the_collective_timeout(slurm: SlurmCluster, tmp_path: Path) -> None:
    collective = 10.0
    out = tmp_path / "hung"
    args = ("--rdzv-conf", "join_timeout=120", "--collective-timeout", f"{collective:g}")
    done, wall = srun(slurm, 2, out, *args, timeout=120 * 1.1 + collective * 1.1 + START_UP_ALLOWANCE_S, HUNG="1")
    assert done.returncode != 0, done.stderr
    # srun ends when its last task does: both members started together, so their joining is start-up too
    assert wall <= START_UP_ALLOWANCE_S + collective * 1.1 + 1.0 + CHECK_ALLOWANCE_S
    waiting, hung = read(out, 0), read(out, 1)
    assert waiting.verdict == "not_judged"
    assert hung.verdict == "blocking"
    waiting_check, hung_check = waiting.check("gang.allreduce"), hung.check("gang.allreduce")
    assert waiting_check is not None
    assert hung_check is not None
    assert (waiting_check.skip_reason or "").startswith("node-1 (node rank 1) stopped answering in correctness")
    assert "local rank 0 hung in correctness" in (hung_check.error or "")
    for check in (waiting_check, hung_check):
        joined = float(check.details["joined_after_s"])
        assert check.duration_ms / 1000 <= joined + collective * 1.1 + 1.0 + CHECK_ALLOWANCE_S
        assert_ranks_gone(check)


def test_a_compressed_step_nodelist_is_expanded_by_scontrol(slurm: SlurmCluster, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SLURM_CONF", str(slurm.conf))
    assert launchers.hostnames("gpu[07-09],login1") == ("gpu07", "gpu08", "gpu09", "login1")
    env = {"SLURM_JOB_ID": "5", "SLURM_STEP_ID": "0", "SLURM_PROCID": "0", "SLURM_STEP_NUM_TASKS": "3", "SLURM_STEP_NODELIST": "gpu[07-09]"}
    gang = launchers.resolve(launchers.GangFlags(), env)
    assert (gang.host, gang.names) == ("gpu07", ("gpu07", "gpu08", "gpu09"))
