"""Start ``preflight-gang`` members as real processes standing for nodes (node-0, node-1, ... on 127.0.0.1) and read their reports."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import psutil

from preflight_action.preflight import report as report_module
from preflight_action.preflight.report import CheckResult, Report
from tests.conftest import ROOT

GANG = [sys.executable, str(ROOT / "scripts" / "gang.py")]
# What a member spends outside the gang check, bounded generously for a loaded 2-core CI machine: starting the
# interpreter, the probe worker's torch import, the quick level's other checks, writing the report.
START_UP_ALLOWANCE_S = 90.0
# The gang check's own overhead past its timeouts: starting the ranks, killing and reaping them (ranks.py waits 2 s).
CHECK_ALLOWANCE_S = 3.0


@dataclass
class Member:
    node_rank: int
    process: subprocess.Popen[str]
    started: float
    output: Path
    wall_s: float | None = None
    stderr: str = ""

    @property
    def name(self) -> str:
        return f"node-{self.node_rank}"

    @property
    def code(self) -> int | None:
        return self.process.returncode

    @property
    def report(self) -> Report:
        return report_module.read(self.output)  # schema-validated

    @property
    def check(self) -> CheckResult:
        found = self.report.check("gang.allreduce")
        assert found is not None, self.stderr
        return found


def start(
    tmp_path: Path,
    port: int,
    nnodes: int,
    ranks: list[int] | None = None,
    *,
    args: tuple[str, ...] = (),
    faults: dict[int, str] | None = None,
    env: dict[str, str] | None = None,
    given_ranks: bool = True,
) -> list[Member]:
    """One ``scripts/gang.py`` per node rank in ``ranks`` (default: all), each with its own node id and report.

    ``given_ranks=False``: no ``--node-rank``, the members take ranks in order of arrival (``node_rank`` then only names them).
    """
    members = []
    for rank in range(nnodes) if ranks is None else ranks:
        output = tmp_path / f"node-{rank}.json"
        member_env = {**os.environ, **(env or {}), "PREFLIGHT_NODE_ID": f"node-{rank}"}
        member_env.pop("PREFLIGHT_INJECT_FAULT", None)
        if faults and rank in faults:
            member_env["PREFLIGHT_INJECT_FAULT"] = faults[rank]
        argv = [*GANG, "--device", "cpu", "--quiet", "--output-path", str(output)]
        argv += [
            "--rdzv-endpoint",
            f"127.0.0.1:{port}",
            "--nnodes",
            str(nnodes),
            *(["--node-rank", str(rank)] if given_ranks else []),
            *args,
        ]
        process = subprocess.Popen(argv, env=member_env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        members.append(Member(rank, process, time.monotonic(), output))
    return members


def finish(members: list[Member], timeout: float) -> list[Member]:
    """Wait for every member (killing all of them if one outlives ``timeout``, then failing), recording each one's wall time."""
    deadline = time.monotonic() + timeout
    try:
        for member in members:
            _, member.stderr = member.process.communicate(timeout=max(deadline - time.monotonic(), 0.1))
            member.wall_s = time.monotonic() - member.started
    except subprocess.TimeoutExpired:
        for member in members:
            member.process.kill()
            member.process.communicate()
        raise AssertionError(f"a member outlived {timeout:g} s: " + " | ".join(m.stderr for m in members)) from None
    return members


def assert_ranks_gone(check: CheckResult) -> None:
    """Every rank process the member started is gone (reaped), not merely signalled."""
    for rank in check.details["ranks"]:
        pid = rank["pid"]
        assert isinstance(pid, int), check.details["ranks"]
        try:
            cmdline = " ".join(psutil.Process(pid).cmdline())
        except psutil.NoSuchProcess:
            continue
        assert "preflight_probe_boot" not in cmdline, f"rank pid {pid} still running: {cmdline}"


def states(report: Report) -> dict[str, str]:
    assert report.gang is not None
    return {m.name: m.state for m in report.gang.members}


def details(member: Member) -> dict[str, Any]:
    return dict(member.check.details)
