"""Triage ranks failures by score and decides blocking by the strict threshold."""

from __future__ import annotations

from preflight_action.preflight import severity as policy
from preflight_action.preflight import triage
from preflight_action.preflight.report import CheckResult


def test_ranking_grouping_and_blocking():
    pol = policy.load()
    checks = [
        CheckResult("torchvision.import", "fail", error="tv broke"),
        CheckResult("tensor.smoke", "fail", error="wrong numbers"),
        CheckResult("compile.smoke", "fail", error="no compiler"),
        CheckResult("dtype.support", "pass"),
        CheckResult("new.thing", "fail", error="low"),
    ]
    scored = triage.score_checks(checks, pol, "mps")
    result = triage.build(scored, pol, "mps", "medium")
    order = [(t.check_id, t.band, t.score) for t in result.top_failed_checks]
    assert order == [
        ("tensor.smoke", "critical", 95),
        ("torchvision.import", "medium", 70),
        ("compile.smoke", "low", 55),
        ("new.thing", "low", 50),
    ]
    assert result.by_backend == {"mps": ["tensor.smoke", "torchvision.import", "compile.smoke", "new.thing"]}
    assert result.highest_band == "critical"
    assert result.blocking_checks == ["tensor.smoke", "torchvision.import"]
    assert scored[3].severity is None


def test_no_failures_no_band():
    pol = policy.load()
    result = triage.build([CheckResult("tensor.smoke", "pass")], pol, "cpu", "medium")
    assert (result.top_failed_checks, result.highest_band, result.blocking) == ([], None, False)
