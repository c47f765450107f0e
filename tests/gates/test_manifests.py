"""The shipped deploy files: Kubernetes manifests validate strictly, the NPD ConfigMap is the plugin file, scripts parse."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest
import yaml

from tests.conftest import ROOT

DEPLOY = ROOT / "deploy"
KUBERNETES = DEPLOY / "kubernetes"


@pytest.mark.parametrize("manifest", ["npd-daemonset.yaml", "training-job.yaml"])
def test_manifests_validate_strictly(manifest: str) -> None:
    # kubernetes-validate (the test dependency group) by its module: a layered venv may have no console script
    command = [sys.executable, "-m", "kubernetes_validate", "--strict", str(KUBERNETES / manifest)]
    done = subprocess.run(command, capture_output=True, text=True, timeout=120, check=False)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "passed" in done.stdout
    assert "failed" not in done.stdout.lower()


def test_the_daemonset_config_map_carries_the_plugin_file_and_runs_it() -> None:
    documents = list(yaml.safe_load_all((KUBERNETES / "npd-daemonset.yaml").read_text()))
    config_map = next(d for d in documents if d["kind"] == "ConfigMap")
    assert json.loads(config_map["data"]["preflight-plugin.json"]) == json.loads((KUBERNETES / "preflight-plugin.json").read_text())
    daemon_set = next(d for d in documents if d["kind"] == "DaemonSet")
    container = daemon_set["spec"]["template"]["spec"]["containers"][0]
    assert "--config.custom-plugin-monitor=/config/preflight-plugin.json" in container["command"]


def test_the_plugin_config_follows_the_custom_plugin_monitor_contract() -> None:
    plugin = json.loads((KUBERNETES / "preflight-plugin.json").read_text())
    assert plugin["plugin"] == "custom"
    assert set(plugin["pluginConfig"]) >= {"invoke_interval", "timeout", "max_output_length", "concurrency"}
    condition = plugin["conditions"][0]["type"]
    [rule] = plugin["rules"]
    assert rule["type"] == "permanent"
    assert rule["condition"] == condition
    assert rule["args"][:2] == ["--gate", "npd"]


def test_the_training_job_gates_on_the_init_container() -> None:
    job = yaml.safe_load((KUBERNETES / "training-job.yaml").read_text())
    spec = job["spec"]["template"]["spec"]
    [init] = spec["initContainers"]
    assert init["image"] == spec["containers"][0]["image"]  # the same stack is what gets diagnosed
    assert init["resources"]["limits"]["nvidia.com/gpu"] == spec["containers"][0]["resources"]["limits"]["nvidia.com/gpu"]
    script = init["command"][2]
    assert "--gate npd" in script
    assert 'if [ "$rc" -eq 2 ]; then' in script


@pytest.mark.parametrize(
    "script",
    [
        "slurm/preflight-healthcheck.sh",
        "slurm/preflight-prolog.sh",
        "slurm/preflight-gate-common.sh",
        "slurm/preflight-fleet.sbatch",
        "github-runner/preflight-job-started.sh",
    ],
)
def test_shell_scripts_parse(script: str) -> None:
    done = subprocess.run(["bash", "-n", str(DEPLOY / script)], capture_output=True, text=True, timeout=30, check=False)
    assert done.returncode == 0, done.stderr
