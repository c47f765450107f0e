"""The npd gate run the way node-problem-detector runs a custom plugin: the rule's path and args, exit code and stdout."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from preflight_action.gates.run import gate_main
from tests.conftest import ROOT
from tests.support.gate_reports import GATE, no_torch_python

PLUGIN = ROOT / "deploy" / "kubernetes" / "preflight-plugin.json"
INSTALLED_GATE = "/opt/preflight-action/bin/preflight-gate"  # Dockerfile.npd links it there


def _duration_s(text: str) -> float:
    units = {"s": 1, "m": 60, "h": 3600}
    return float(text[:-1]) * units[text[-1]]


def invoke_like_npd(tmp_path: Path, *extra: str) -> tuple[int, str, str, Path]:
    """Run the shipped rule: its path (our checkout's gate in place of the installed one) and args, with its timeout."""
    config = json.loads(PLUGIN.read_text())
    rule = config["rules"][0]
    assert rule["path"] == INSTALLED_GATE
    args = list(rule["args"])
    report = tmp_path / "preflight.json"
    args[args.index("--output-path") + 1] = str(report)
    done = subprocess.run(
        [sys.executable, str(GATE), *args, *extra],
        capture_output=True,
        text=True,
        timeout=_duration_s(rule["timeout"]),
        check=False,
    )
    return done.returncode, done.stdout, done.stderr, report


@pytest.fixture(scope="module")
def broken_python(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return no_torch_python(tmp_path_factory.mktemp("npd") / "venv")


def _one_line(stdout: str) -> str:
    lines = stdout.splitlines()
    assert len(lines) == 1, stdout
    limit = json.loads(PLUGIN.read_text())["pluginConfig"]["max_output_length"]
    assert len(lines[0]) <= limit
    return lines[0]


def test_healthy_node_is_ok(tmp_path: Path) -> None:
    code, stdout, stderr, report = invoke_like_npd(tmp_path)
    assert code == 0, stderr
    assert _one_line(stdout).startswith(("preflight: healthy, ", "preflight: no blocking failure"))
    options = json.loads(report.read_text())["options"]
    assert options["level"] == "watch"  # the DaemonSet's rule reads only: beside training pods it touches no GPU


def test_broken_stack_is_a_problem_naming_the_worst_finding(tmp_path: Path, broken_python: Path) -> None:
    code, stdout, stderr, _ = invoke_like_npd(tmp_path, "--python", str(broken_python))
    assert code == 1, stderr
    assert _one_line(stdout) == "preflight: torch.import critical (score 100): ModuleNotFoundError: No module named 'torch'"


def test_a_preflight_that_cannot_run_is_unknown(tmp_path: Path) -> None:
    missing = tmp_path / "no-such-python"
    code, stdout, _, _ = invoke_like_npd(tmp_path, "--python", str(missing))
    assert code == 2  # NPD: neither 0 nor 1 is Unknown, so the condition is not flipped
    assert _one_line(stdout) == f"preflight: not judged: --python {missing}: no such interpreter; the node was left as it is"


def test_an_internal_error_is_not_judged_and_says_so(capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch) -> None:
    from preflight_action.preflight import run

    def broken_tool(*args: object, **kwargs: object) -> None:
        raise KeyError("triage")

    monkeypatch.setattr(run, "run", broken_tool)
    code = gate_main(["--gate", "npd", "--quiet", "--output-path", os.devnull])
    out = capsys.readouterr().out
    assert code == 2
    assert out == "preflight: not judged: internal error: KeyError: 'triage'; the node was left as it is\n"


def test_from_report_judges_an_existing_report_without_running(tmp_path: Path) -> None:
    report = tmp_path / "old.json"
    report.write_text('{"not": "a report"}')
    done = subprocess.run(
        [sys.executable, str(GATE), "--gate", "npd", "--from-report", str(report)], capture_output=True, text=True, timeout=60, check=False
    )
    assert done.returncode == 2
    assert done.stdout.startswith(f"preflight: not judged: {report}")


def test_runtime_preflight_gate_flag_is_the_same_gate(tmp_path: Path, broken_python: Path) -> None:
    report = tmp_path / "preflight.json"
    done = subprocess.run(
        [
            sys.executable,
            str(ROOT / "scripts" / "runtime_preflight.py"),
            "--gate",
            "npd",
            "--python",
            str(broken_python),
            "--output-path",
            str(report),
        ],
        capture_output=True,
        text=True,
        timeout=180,
        check=False,
    )
    assert done.returncode == 1, done.stderr
    assert _one_line(done.stdout) == "preflight: torch.import critical (score 100): ModuleNotFoundError: No module named 'torch'"
    assert json.loads(report.read_text())["options"]["level"] == "quick"


def test_a_hung_check_is_a_problem_not_ok(tmp_path: Path) -> None:
    """The npd gate at its default quick level (the training Job's init container) with a check that never answers."""
    import os

    env = {**os.environ, "PREFLIGHT_INJECT_FAULT": "tensor.smoke=hang"}
    argv = [sys.executable, str(GATE), "--gate", "npd", "--quiet", "--output-path", str(tmp_path / "preflight.json"), "--budget", "30"]
    done = subprocess.run(argv, capture_output=True, text=True, timeout=120, env=env, check=False)
    assert done.returncode == 1, done.stderr  # NonOK: a hung device is the failure the gate exists to catch
    assert _one_line(done.stdout).startswith("preflight: tensor.smoke critical (score ")
    assert "hung" in done.stdout


def test_a_budget_too_small_to_judge_anything_is_unknown(tmp_path: Path) -> None:
    code, stdout, _, report = invoke_like_npd(tmp_path, "--budget", "0.5")
    assert code == 2  # Unknown: the condition is left as it was
    assert _one_line(stdout).startswith("preflight: not judged: ")
    assert "the --budget of 0.5 s ran out" in stdout
    assert json.loads(report.read_text())["verdict"] == "not_judged"


def test_a_broken_install_of_this_tool_is_unknown_never_non_ok(tmp_path: Path) -> None:
    import os

    broken = tmp_path / "site"
    (broken / "preflight_action").mkdir(parents=True)
    (broken / "preflight_action" / "__init__.py").write_text("raise ImportError('half-installed image')\n")
    env = {**os.environ, "PYTHONPATH": str(broken)}
    done = subprocess.run(
        [sys.executable, str(GATE), "--gate", "npd", "--quiet"], capture_output=True, text=True, timeout=60, env=env, check=False
    )
    assert done.returncode == 3  # NPD reads anything but 0 and 1 as Unknown
    assert done.stdout == ""
    assert done.stderr.splitlines()[-1].startswith("gate.py: cannot run: loading it failed: ImportError: half-installed image")
