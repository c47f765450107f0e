"""The shipped deploy files: Kubernetes manifests validate strictly, the NPD ConfigMap is the plugin file, scripts parse."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

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
    assert "--level" not in script  # the quick level: it owns these GPUs until the trainer starts


def _init_script() -> list[str]:
    job = yaml.safe_load((KUBERNETES / "training-job.yaml").read_text())
    return list(job["spec"]["template"]["spec"]["initContainers"][0]["command"])


def _installed_gate(tmp_path: Path) -> Path:
    """A bin directory whose preflight-gate runs this checkout's gate, as the training image's PATH would."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    gate = bin_dir / "preflight-gate"
    gate.write_text(f'#!/bin/sh\nexec {sys.executable} {ROOT / "scripts" / "gate.py"} "$@"\n')
    gate.chmod(0o755)
    return bin_dir


@pytest.mark.parametrize(
    ("case", "code", "said"),
    [
        ("blocking", 1, ""),
        ("not-judged", 0, "not judged (exit 2"),
        ("broken-install", 0, "not judged (exit 3"),
        ("not-installed", 0, "(exit 127"),
    ],
)
def test_the_init_container_fails_the_pod_only_on_a_blocking_finding(tmp_path: Path, case: str, code: int, said: str) -> None:
    import venv

    command = _init_script()
    env = {"PATH": f"{_installed_gate(tmp_path)}:/usr/bin:/bin", "HOME": str(tmp_path)}
    flags = ["--device", "cpu", "--output-path", str(tmp_path / "preflight.json")]
    if case == "blocking":
        venv.EnvBuilder(with_pip=False).create(tmp_path / "no-torch")
        flags += ["--python", str(tmp_path / "no-torch" / "bin" / "python")]
    elif case == "not-judged":
        flags += ["--budget", "0.5"]
    elif case == "broken-install":
        (tmp_path / "site" / "preflight_action").mkdir(parents=True)
        (tmp_path / "site" / "preflight_action" / "__init__.py").write_text("raise ImportError('half-installed')\n")
        env["PYTHONPATH"] = str(tmp_path / "site")
    else:
        env["PATH"] = "/usr/bin:/bin"
    script = command[2].replace("/reports/preflight.json", str(tmp_path / "preflight.json"))
    done = subprocess.run(["/bin/sh", "-c", script, command[3], *flags], capture_output=True, text=True, timeout=300, env=env, check=False)
    assert done.returncode == code, done.stderr
    assert said in done.stderr


def test_the_daemonset_only_reads_the_gpus_and_its_gate_path_is_made_by_the_image() -> None:
    plugin = json.loads((KUBERNETES / "preflight-plugin.json").read_text())
    [rule] = plugin["rules"]
    args = rule["args"]
    assert args[args.index("--level") + 1] == "watch"  # read-only: no CUDA context, no allocation beside training pods
    dockerfile = (KUBERNETES / "Dockerfile.npd").read_text()
    assert 'ln -sf "$(python -c' in dockerfile
    assert f'/preflight-gate" {rule["path"]}' in dockerfile  # the image makes the plugin's path true
    assert f"&& {rule['path']} --version" in dockerfile  # and proves it at build time
    assert not rule["path"].startswith("/usr/local/bin/")


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
