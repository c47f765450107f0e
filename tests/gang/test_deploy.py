"""The gang's deploy files, offline: the Indexed Job validates strictly and its command is a gang preflight-gang accepts."""

from __future__ import annotations

import socket
import subprocess
import sys

import pytest
import yaml

from preflight_action.gang import cli
from tests.conftest import ROOT

DEPLOY = ROOT / "deploy"
MANIFEST = DEPLOY / "kubernetes" / "preflight-gang.yaml"


def test_the_indexed_job_manifest_validates_strictly() -> None:
    """kubernetes-validate (the test dependency group) run as a module of this interpreter: no PATH needed."""
    argv = [sys.executable, "-m", "kubernetes_validate", "--strict", str(MANIFEST)]
    done = subprocess.run(argv, capture_output=True, text=True, timeout=120, check=False)
    assert done.returncode == 0, done.stdout + done.stderr
    assert done.stdout.count("passed") == 3  # the headless Service, the reports claim, the Job
    assert "failed" not in done.stdout.lower()


def test_the_job_runs_every_member_at_once_and_its_command_is_a_gang_preflight_gang_accepts(monkeypatch: pytest.MonkeyPatch) -> None:
    service, _, job = yaml.safe_load_all(MANIFEST.read_text())
    spec, pod = job["spec"], job["spec"]["template"]["spec"]
    [container] = pod["containers"]
    assert spec["completionMode"] == "Indexed"
    assert spec["completions"] == spec["parallelism"]  # a gang is all its members together
    assert pod["subdomain"] == service["metadata"]["name"]
    assert service["spec"]["clusterIP"] == "None"
    env = {"GANG_ID": "8d2c-uid", "PREFLIGHT_NODE_ID": "gpu-node-3"}
    argv = [
        arg.replace("$(GANG_ID)", env["GANG_ID"]).replace("$(PREFLIGHT_NODE_ID)", env["PREFLIGHT_NODE_ID"])
        for arg in container["command"][1:]
    ]
    assert container["command"][0] == "preflight-gang"
    monkeypatch.setattr(socket, "gethostname", lambda: f"{job['metadata']['name']}-2")
    line = cli.command_line(cli.parser().parse_args(argv), {"JOB_COMPLETION_INDEX": "2"})
    gang = line.options.gang
    assert gang is not None
    assert (gang.launcher, gang.node_rank, gang.nnodes, gang.rdzv_id) == ("kubernetes", 2, spec["completions"], "8d2c-uid")
    assert (gang.host, gang.port) == (f"{job['metadata']['name']}-0.{service['metadata']['name']}", service["spec"]["ports"][0]["port"])
    assert gang.join_timeout_s == 600.0
    assert line.outputs.report == "/reports/gang/gpu-node-3.json"
    rule = spec["podFailurePolicy"]["rules"][0]
    assert (rule["action"], rule["onExitCodes"]["values"]) == ("FailIndex", [1, 2, 3])  # one member's verdict stops no other


def test_the_gang_sbatch_parses() -> None:
    done = subprocess.run(
        ["bash", "-n", str(DEPLOY / "slurm" / "preflight-gang.sbatch")], capture_output=True, text=True, timeout=30, check=False
    )
    assert done.returncode == 0, done.stderr
