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


PAIR = "torchvision 0.29.1 does not pair with torch 2.13.0+cpu; the pair that works is torch 2.13.0+cpu with torchvision 0.28.x"
FIX = 'python -m pip install "torchvision==0.28.*" --index-url https://download.pytorch.org/whl/cpu'


def test_checks_failing_for_one_root_cause_are_one_finding():
    pol = policy.load()
    checks = [
        CheckResult("torchvision.import", "fail", error=f"{PAIR} (import failed with RuntimeError)", remedy=FIX),
        CheckResult("deps.consistency", "fail", error=PAIR, remedy=FIX),
        CheckResult("tensor.smoke", "fail", error="wrong numbers"),
    ]
    result = triage.build(triage.score_checks(checks, pol, "cpu"), pol, "cpu", "medium")
    assert [(t.check_id, t.cause) for t in result.top_failed_checks] == [
        ("tensor.smoke", "tensor.smoke"),
        ("torchvision.import", "torchvision.import"),
        ("deps.consistency", "torchvision.import"),
    ]
    assert [[t.check_id for t in group] for group in result.causes] == [["tensor.smoke"], ["torchvision.import", "deps.consistency"]]
    assert result.blocking_checks == ["tensor.smoke", "torchvision.import", "deps.consistency"]  # every check still listed


def test_the_general_words_of_two_checks_are_not_one_cause():
    """Two failures without a diagnosed remedy share nothing but the tool's fallback words: two findings."""
    pol = policy.load()
    checks = [
        CheckResult("gpu.clocks", "fail", error="clocks throttled"),
        CheckResult("gpu.pcie", "fail", error="clocks throttled"),
        CheckResult("new.thing", "fail", error="same words"),
        CheckResult("other.thing", "fail", error="same words"),
    ]
    result = triage.build(triage.score_checks(checks, pol, "cuda"), pol, "cuda", "medium")
    assert len(result.causes) == 4


def test_an_old_report_without_causes_counts_each_row_as_its_own(tmp_path):
    from preflight_action import schemas
    from preflight_action.preflight.report import Report
    from tests.support import report_factory

    checks = [
        CheckResult("torchvision.import", "fail", error=f"{PAIR} (import)", remedy=FIX),
        CheckResult("deps.consistency", "fail", error=PAIR, remedy=FIX),
    ]
    document = report_factory.build(checks, node="n", backend="cpu", finished_at="2026-01-01T00:00:00.000Z")
    assert [row["cause"] for row in document["triage"]["top_failed_checks"]] == ["torchvision.import", "torchvision.import"]
    assert len(Report.from_dict(document).triage.causes) == 1
    for row in document["triage"]["top_failed_checks"]:
        del row["cause"]
    document["schema_version"] = "1.1"
    schemas.validate(document, "preflight_report", "a 1.1 report")
    assert len(Report.from_dict(document).triage.causes) == 2
