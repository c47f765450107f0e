"""``preflight-gate --from-report`` judges a report only when it is this node's, recent, complete and valid: each refusal is one line."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import pytest

from preflight_action.gates import from_report
from preflight_action.matrix import model as matrix
from preflight_action.preflight.report import CheckResult, Report
from tests.support import report_factory
from tests.support.gate_reports import GATE


def _report(node: str = "gpu-07", age: timedelta = timedelta(minutes=5), unfinished: bool = False, failing: bool = False) -> dict[str, Any]:
    checks = [CheckResult(check_id, "pass", duration_ms=3.0) for check_id in report_factory.CHECK_IDS[:4]]
    if failing:
        checks[0] = CheckResult("torch.import", "fail", duration_ms=3.0, error="ModuleNotFoundError: No module named 'torch'")
    if unfinished:
        checks[3] = CheckResult.skipped("tensor.smoke", "not run: the run was interrupted by SIGINT", unfinished="interrupted")
    finished = matrix.iso(datetime.now(timezone.utc) - age)
    return report_factory.build(checks, node=node, backend="cpu", finished_at=finished)


def _gate(tmp_path: Path, document: dict[str, Any], *flags: str, node: str = "gpu-07") -> subprocess.CompletedProcess[str]:
    path = tmp_path / "report.json"
    path.write_text(json.dumps(document))
    env = {"PATH": "/usr/bin:/bin", "PREFLIGHT_NODE_ID": node}
    # the same clock as the test's (under `faketime -f +400d` the reports are dated by the faked one)
    env.update({k: v for k, v in os.environ.items() if k.startswith("FAKETIME") or k in ("LD_PRELOAD", "DONT_FAKE_MONOTONIC")})
    argv = [sys.executable, str(GATE), "--gate", "npd", "--from-report", str(path), *flags]
    return subprocess.run(argv, capture_output=True, text=True, timeout=60, env=env, check=False)


def test_this_nodes_fresh_complete_report_is_judged(tmp_path: Path) -> None:
    done = _gate(tmp_path, _report())
    assert done.returncode == 0, done.stderr
    assert done.stdout == "preflight: healthy, 4 checks passed\n"
    done = _gate(tmp_path, _report(failing=True))
    assert done.returncode == 1
    assert done.stdout.startswith("preflight: torch.import critical")


def test_a_report_from_another_node_is_refused_unless_named(tmp_path: Path) -> None:
    done = _gate(tmp_path, _report(node="gpu-node-17", failing=True))
    assert done.returncode == 2  # NPD: Unknown; never "blocking" for another node's finding
    assert done.stdout == (
        "preflight: not judged: --from-report report.json is from node gpu-node-17, not gpu-07 "
        "(--report-node gpu-node-17 judges it anyway); the node was left as it is\n"
    )
    assert _gate(tmp_path, _report(node="gpu-node-17", failing=True), "--report-node", "gpu-node-17").returncode == 1
    # the short name and case of a fully qualified hostname still match
    assert _gate(tmp_path, _report(node="GPU-07.cluster.example"), node="gpu-07").returncode == 0


def test_an_old_report_is_refused_by_the_policy_age_or_the_flag(tmp_path: Path) -> None:
    done = _gate(tmp_path, _report(age=timedelta(days=40)))
    assert done.returncode == 2
    assert done.stdout == (
        "preflight: not judged: --from-report report.json finished 40 days ago, older than the 6 h accepted "
        "(gates.yaml from_report.max_age_s); the node was left as it is\n"
    )
    assert len(done.stdout.splitlines()) == 1
    assert _gate(tmp_path, _report(age=timedelta(minutes=30)), "--max-report-age", "600").returncode == 2
    assert _gate(tmp_path, _report(age=timedelta(days=40)), "--max-report-age", str(41 * 86400)).returncode == 0


def test_a_report_from_the_future_is_refused(tmp_path: Path) -> None:
    done = _gate(tmp_path, _report(age=-timedelta(hours=2)))
    assert done.returncode == 2
    assert "--from-report report.json finished 2 h in the future: the clock here" in done.stdout


def test_an_interrupted_report_is_not_judged_even_when_fresh_and_ours(tmp_path: Path) -> None:
    done = _gate(tmp_path, _report(unfinished=True))
    assert done.returncode == 2
    assert done.stdout.startswith("preflight: not judged: 1 required check did not finish (tensor.smoke): the run")


def test_a_report_that_fails_its_schema_is_not_judged(tmp_path: Path) -> None:
    document = _report()
    document["checks"][0]["status"] = "passed"
    done = _gate(tmp_path, document)
    assert done.returncode == 2
    assert done.stdout.startswith(f"preflight: not judged: {tmp_path / 'report.json'}: ")
    assert "/checks/0/status" in done.stdout


def test_report_only_flags_without_from_report_are_not_judged(tmp_path: Path) -> None:
    env = {"PATH": "/usr/bin:/bin"}
    argv = [sys.executable, str(GATE), "--gate", "npd", "--max-report-age", "60", "--output-path", str(tmp_path / "r.json")]
    done = subprocess.run(argv, capture_output=True, text=True, timeout=60, env=env, check=False)
    assert done.returncode == 2
    assert done.stdout == "preflight: not judged: --max-report-age applies to --from-report only; the node was left as it is\n"


@pytest.mark.parametrize(
    ("age_s", "expected"),
    [(30, None), (7 * 3600, "7 h ago"), (-600, "10 min in the future"), (-60, None)],
)
def test_refusal_words(age_s: float, expected: str | None) -> None:
    now = datetime(2026, 3, 1, 12, 0, tzinfo=timezone.utc)
    document = _report()
    document["finished_at"] = matrix.iso(now - timedelta(seconds=age_s))
    report = Report.from_dict(document)
    found = from_report.refusal(report, "r.json", "gpu-07", 21600, 300, now, "gates.yaml from_report.max_age_s")
    assert (found is None) if expected is None else (expected in (found or ""))


def test_max_drained_on_another_gate_is_not_judged(tmp_path: Path) -> None:
    argv = [sys.executable, str(GATE), "--gate", "npd", "--max-drained", "3", "--output-path", str(tmp_path / "r.json")]
    done = subprocess.run(argv, capture_output=True, text=True, timeout=60, env={"PATH": "/usr/bin:/bin"}, check=False)
    assert done.returncode == 2
    assert done.stdout == "preflight: not judged: --max-drained applies to --gate slurm only, not --gate npd; the node was left as it is\n"
