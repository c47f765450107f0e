"""The github-runner gate through the shipped hook, run as the runner runs ACTIONS_RUNNER_HOOK_JOB_STARTED (`bash -e`)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import ROOT
from tests.support.gate_reports import GATE, no_torch_python

HOOK = ROOT / "deploy" / "github-runner" / "preflight-job-started.sh"


@pytest.fixture(scope="module")
def broken_python(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return no_torch_python(tmp_path_factory.mktemp("runner") / "venv")


def run_hook(tmp_path: Path, python: Path | None = None, **settings: str) -> tuple[subprocess.CompletedProcess[str], str]:
    summary = tmp_path / "step_summary.md"
    summary.write_text("")
    env = {
        key: value for key, value in os.environ.items() if not key.startswith(("GITHUB_", "RUNNER_", "PREFLIGHT_"))
    }  # only what a runner sets below
    env.update(
        ACTIONS_RUNNER_HOOK_JOB_STARTED=str(HOOK),
        GITHUB_ACTIONS="true",
        GITHUB_STEP_SUMMARY=str(summary),
        RUNNER_NAME="gpu-runner-7",
        RUNNER_TEMP=str(tmp_path / "runner-temp"),
        PREFLIGHT_GATE=f"{sys.executable} {GATE}",
        PREFLIGHT_ARGS="--device cpu",
    )
    if python:
        env["PREFLIGHT_PYTHON"] = str(python)
    env.update(settings)
    done = subprocess.run(["bash", "-e", str(HOOK)], capture_output=True, text=True, timeout=300, env=env, check=False)
    return done, summary.read_text()


def test_healthy_runner_lets_the_job_run_with_a_summary_section(tmp_path: Path) -> None:
    done, summary = run_hook(tmp_path)
    assert done.returncode == 0, done.stderr
    assert "::notice title=preflight gate on gpu-runner-7::preflight: " in done.stdout
    assert summary.startswith("## Preflight gate on gpu-runner-7: healthy\n")
    assert (tmp_path / "runner-temp" / "preflight" / "preflight.json").exists()


def test_blocking_finding_fails_the_job_and_the_log_says_why(tmp_path: Path, broken_python: Path) -> None:
    done, summary = run_hook(tmp_path, broken_python)
    assert done.returncode == 1
    lines = done.stdout.splitlines()
    assert (
        "::error title=preflight gate on gpu-runner-7::preflight: torch.import critical (score 100): "
        "ModuleNotFoundError: No module named 'torch'"
    ) in lines
    assert lines[-1].startswith("preflight: a blocking finding on runner gpu-runner-7: the job will not run")
    assert summary.startswith("## Preflight gate on gpu-runner-7: blocking\n")
    assert "| torch.import | critical | 100 | yes | ModuleNotFoundError: No module named 'torch' |" in summary


def test_a_gate_that_cannot_run_warns_and_never_fails_the_job(tmp_path: Path) -> None:
    done, summary = run_hook(tmp_path, tmp_path / "no-such-python")
    assert done.returncode == 0
    assert "::warning title=preflight gate on gpu-runner-7::preflight: not judged: --python " in done.stdout
    assert done.stdout.splitlines()[-1] == "preflight: could not run (exit 2): the job runs unjudged on gpu-runner-7"
    assert summary.startswith("## Preflight gate on gpu-runner-7: not judged\n")


def test_a_hostile_report_is_one_warning_naming_it_and_a_not_judged_section(tmp_path: Path) -> None:
    report = tmp_path / "from-a-fork.json"
    report.write_text('{"a":' * 100_000 + "1" + "}" * 100_000, encoding="utf-8")  # used to end in a RecursionError
    summary = tmp_path / "step_summary.md"
    env = {key: value for key, value in os.environ.items() if not key.startswith(("GITHUB_", "RUNNER_", "PREFLIGHT_"))}
    env.update(GITHUB_ACTIONS="true", GITHUB_STEP_SUMMARY=str(summary), RUNNER_NAME="gpu-runner-7")
    done = subprocess.run(
        [sys.executable, str(GATE), "--gate", "github-runner", "--from-report", str(report)],
        capture_output=True,
        text=True,
        timeout=120,
        env=env,
        check=False,
    )
    assert done.returncode == 2
    assert "Traceback" not in done.stderr
    assert done.stdout.splitlines() == [
        f"::warning title=preflight gate on gpu-runner-7::preflight: not judged: {report}: nested more than 64 levels deep; "
        "the node was left as it is"
    ]
    assert summary.read_text(encoding="utf-8").startswith("## Preflight gate on gpu-runner-7: not judged\n")


def test_a_broken_install_warns_and_never_fails_the_job(tmp_path: Path) -> None:
    broken = tmp_path / "site"
    (broken / "preflight_action").mkdir(parents=True)
    (broken / "preflight_action" / "__init__.py").write_text("raise ImportError('half-installed image')\n")
    done, _ = run_hook(tmp_path, PYTHONPATH=str(broken))
    assert done.returncode == 0
    assert (
        "::warning title=preflight gate on gpu-runner-7::preflight: the gate could not run: this tool is broken or misconfigured, "
        "not the runner (exit 3): the job runs unjudged"
    ) in done.stdout.splitlines()
    assert "half-installed image" in done.stderr


def test_a_gate_that_is_not_installed_warns_and_never_fails_the_job(tmp_path: Path) -> None:
    done, _ = run_hook(tmp_path, PREFLIGHT_GATE=str(tmp_path / "no-such-preflight-gate"))
    assert done.returncode == 0
    assert "was not found (set PREFLIGHT_GATE to its absolute path) (exit 127)" in done.stdout
