"""kernel.log in the real preflight and the real quick gate, reading saved kernel logs (PREFLIGHT_KERNEL_LOG)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from preflight_action.preflight import checks, levels, triage
from preflight_action.preflight import severity as severity_policy
from preflight_action.preflight.kernel_checks import band_score
from preflight_action.preflight.report import CheckResult
from tests.conftest import ROOT

DATA = ROOT / "tests" / "data" / "kernel_log"
GATE = ROOT / "scripts" / "gate.py"


@pytest.fixture
def evidence(tmp_path: Path) -> dict[str, str]:
    """The environment of a run that reads saved evidence only, with its own cache folder."""
    (tmp_path / "sys").mkdir()
    return {**os.environ, "PREFLIGHT_CACHE_DIR": str(tmp_path / "cache"), "PREFLIGHT_SYSFS_ROOT": str(tmp_path / "sys")}


def gate(env: dict[str, str], log: str, tmp_path: Path, *extra: str) -> tuple[int, str, dict[str, Any]]:
    """``preflight-gate --gate npd`` (the quick level) as node-problem-detector runs it, on the saved ``log``."""
    report = tmp_path / "preflight.json"
    done = subprocess.run(
        [sys.executable, str(GATE), "--gate", "npd", "--quiet", "--output-path", str(report), "--device", "cpu", *extra],
        env={**env, "PREFLIGHT_KERNEL_LOG": str(DATA / log)},
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    return done.returncode, done.stdout.strip(), json.loads(report.read_text(encoding="utf-8"))


def kernel_check(report: dict[str, Any]) -> dict[str, Any]:
    return next(c for c in report["checks"] if c["id"] == "kernel.log")


def test_kernel_log_runs_first_at_every_level_and_needs_nothing() -> None:
    assert checks.SPECS[0].id == "kernel.log"
    assert checks.spec("kernel.log").needs == ()
    assert checks.spec("kernel.log").source == "host"
    policy = levels.load()
    for level in levels.LEVELS:
        assert levels.plan(policy, level, checks.SPECS)[0].id == "kernel.log"


def test_a_finding_scores_the_middle_of_its_band_and_only_its_band_blocks() -> None:
    policy = severity_policy.load()
    assert {band: band_score(policy, band) for band in ("critical", "high", "medium", "low")} == {
        "critical": 95,
        "high": 82,
        "medium": 67,
        "low": 29,
    }
    failed = [
        CheckResult("kernel.log", "fail", details={"score": 29}, error="Xid 13 ...", source="host"),
        CheckResult("gpu.ecc", "fail", details={"score": 29}, error="...", source="host"),  # not scored by itself
    ]
    scored = triage.score_checks(failed, policy, "cpu")
    assert [(c.id, c.severity.score if c.severity else None) for c in scored] == [("kernel.log", 29), ("gpu.ecc", 95)]
    built = triage.build(scored, policy, "cpu", "medium")
    assert built.blocking_checks == ["gpu.ecc"]
    unscored = triage.score_checks([CheckResult("kernel.log", "fail", error="PREFLIGHT_KERNEL_LOG=x: cannot read it")], policy, "cpu")
    assert unscored[0].severity is not None
    assert unscored[0].severity.score == 60


def test_xid_79_makes_the_quick_gate_blocking_naming_xid_meaning_and_action(tmp_path: Path, evidence: dict[str, str]) -> None:
    code, line, report = gate(evidence, "journalctl_r535_xid79.log", tmp_path)
    assert code == 1  # NPD: the condition turns True, the node is drained
    assert line.startswith(
        "preflight: kernel.log critical (score 95): Xid 79 (GPU has fallen off the bus) on 0000:c6:00: reboot_node; 1 event"
    )
    assert len(line) <= 200
    check = kernel_check(report)
    assert check["remedy"].startswith("drain the node and reboot it")
    assert report["options"]["level"] == "quick"
    assert report["triage"]["blocking_checks"] == ["kernel.log"]


@pytest.mark.parametrize("log", ["dmesg_T_r550_xid13.log", "journalctl_iso_r470_xid31.log"])
def test_xid_13_or_31_alone_drains_nothing(tmp_path: Path, evidence: dict[str, str], log: str) -> None:
    code, line, report = gate(evidence, log, tmp_path)
    assert code == 0, line
    assert line == "preflight: healthy, no blocking failure; 1 below the threshold, worst kernel.log low"
    assert kernel_check(report)["severity"] == {"band": "low", "score": 29}
    code, line, report = gate(evidence, log, tmp_path)  # the healthy run recorded it: now history
    assert code == 0
    assert kernel_check(report)["status"] == "pass"
    assert kernel_check(report)["details"]["history"][0]["action"] == "application_or_driver"


def test_a_log_without_such_lines_passes(tmp_path: Path, evidence: dict[str, str]) -> None:
    code, line, report = gate(evidence, "dmesg_clean.log", tmp_path)
    assert code == 0, line
    check = kernel_check(report)
    assert check["status"] == "pass"
    assert check["details"]["summary"].startswith("no Xid, SXid, PCIe AER or fallen-off-the-bus line in 29 lines of PREFLIGHT_KERNEL_LOG=")


def test_the_preflight_cli_runs_it_on_the_cpu_and_strict_fails_on_a_dbe(
    run_preflight: Any, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv("PREFLIGHT_CACHE_DIR", str(tmp_path / "cache"))
    monkeypatch.setenv("PREFLIGHT_SYSFS_ROOT", str(tmp_path))
    monkeypatch.setenv("PREFLIGHT_KERNEL_LOG", str(DATA / "dmesg_iso_mixed.log"))
    run = run_preflight("--device", "cpu", "--level", "quick", "--quiet", "--strict")
    assert run.exit_code == 1
    check = run.check("kernel.log")
    assert check["severity"] == {"band": "high", "score": 82}
    assert check["error"].splitlines()[0].startswith("Xid 48 (Double Bit ECC Error) on 0000:2a:00: reset_gpu;")
    assert len(check["details"]["findings"]) == 6


def test_an_unreadable_saved_log_is_not_judged_never_a_finding(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """PREFLIGHT_KERNEL_LOG names a file that is not there: the tool's input is broken, the node is not to blame."""
    from preflight_action import run_preflight

    monkeypatch.setenv("PREFLIGHT_KERNEL_LOG", str(tmp_path / "no-such-dmesg.txt"))
    report = run_preflight(device="cpu", level="quick", handle_signals=False)
    check = report.check("kernel.log")
    assert check is not None
    assert check.status == "skip"
    assert check.unfinished == "tool_error"
    assert "no-such-dmesg.txt" in (check.skip_reason or "")
    assert report.verdict == "not_judged"
    assert not report.triage.blocking
