"""run_preflight(): the one typed function every entry point calls; bad values raise, never exit."""

from __future__ import annotations

import math
from pathlib import Path

import pytest

from preflight_action import Report, run_preflight
from preflight_action.errors import UsageError
from preflight_action.preflight.report import Host, RunOptions


def test_a_quick_cpu_run_returns_the_typed_report_and_writes_nothing(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    report = run_preflight(device="cpu", level="quick")
    assert isinstance(report, Report)
    assert isinstance(report.options, RunOptions)
    assert isinstance(report.host, Host)
    assert report.options.level == "quick"
    assert report.budget is not None
    assert report.budget.budget_s == 60  # the quick level's default budget (policy/levels.yaml)
    assert report.status == "pass"
    assert report.verdict == "healthy"
    assert report.ok
    torch_check = report.check("torch.import")
    assert torch_check is not None
    assert torch_check.status == "pass"
    assert list(tmp_path.iterdir()) == [], "rendering and writing are steps after the run, not inside it"


@pytest.mark.parametrize(
    ("kwargs", "flag"),
    [
        ({"device": "gpu"}, "--device"),
        ({"level": "thorough"}, "--level"),
        ({"budget": math.nan}, "--budget"),
        ({"budget": 0}, "--budget"),
        ({"check_timeout": math.inf}, "--check-timeout"),
        ({"expect_gpus": 0}, "--expect-gpus"),
        ({"strict_threshold": "severe"}, "--strict-threshold"),
        ({"python": "/no/such/python"}, "--python"),
    ],
)
def test_a_bad_value_raises_the_typed_usage_error(kwargs: dict[str, object], flag: str) -> None:
    with pytest.raises(UsageError, match=flag):
        run_preflight(**kwargs)  # type: ignore[arg-type]


def test_a_broken_interpreter_is_a_blocking_report_not_an_exception(bare_python: Path) -> None:
    report = run_preflight(device="cpu", level="quick", python=bare_python)
    assert report.verdict == "blocking"
    assert not report.ok
    assert report.triage.blocking_checks[0] == "torch.import"
