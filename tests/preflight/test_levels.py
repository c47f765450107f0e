"""Levels (policy/levels.yaml) and the run budget: which checks run, and a budget that holds whatever the device does."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest
import yaml

from preflight_action.errors import InputError
from preflight_action.preflight import checks, cli, levels
from preflight_action.preflight.budget import Budget
from preflight_action.preflight.cli import parse_args

ROOT = Path(__file__).resolve().parents[2]
DEEP_ONLY = {"model.smoke", "transfer.host", "memory.pattern", "load.sustained"}
QUICK = [
    "kernel.log",
    "torch.import",
    "device.resolve",
    "capabilities.detect",
    "tensor.smoke",
    "deps.consistency",
    "install.record",
    "loader.libraries",
    "host.limits",
    "host.container",
    "host.threads",
]


def _ids(specs: list[checks.CheckSpec]) -> list[str]:
    return [s.id for s in specs]


def test_quick_runs_the_issue_checks_the_surroundings_and_the_nvml_host_checks_only() -> None:
    policy = levels.load()
    planned = levels.plan(policy, "quick", checks.SPECS)
    run_always = [s.id for s in planned if s.enabled_by is None]
    assert [c for c in run_always if not c.startswith("gpu.")] == QUICK
    assert all(checks.spec(c).host is not None for c in run_always if c.startswith("gpu."))
    for slow in ("compile.smoke", "perf.matmul", "perf.bandwidth", "dtype.support", "memory.pattern", "load.sustained"):
        assert slow not in run_always


def test_standard_is_todays_preflight_and_deep_adds_compile_model_and_stress() -> None:
    policy = levels.load()
    standard = levels.plan(policy, "standard", checks.SPECS)
    assert _ids(standard) == [s.id for s in checks.SPECS if s.id not in DEEP_ONLY]
    assert next(s for s in standard if s.id == "compile.smoke").enabled_by == "check_compile"  # still behind its flag
    deep = levels.plan(policy, "deep", checks.SPECS)
    deep_run = {s.id for s in deep if s.enabled_by is None}
    assert {s.id for s in standard if s.enabled_by is None} | DEEP_ONLY | {"compile.smoke"} <= deep_run
    assert "torchvision.import" not in deep_run  # still only with --check-torchvision
    assert levels.budget_for(policy, "deep", None) == 600
    assert levels.budget_for(policy, "standard", None) is None
    assert levels.budget_for(policy, "quick", 7.5) == 7.5


def _policy_file(tmp_path: Path, edit: Any) -> Path:
    document = yaml.safe_load((ROOT / "policy" / "levels.yaml").read_text(encoding="utf-8"))
    edit(document)
    path = tmp_path / "levels.yaml"
    path.write_text(yaml.safe_dump(document), encoding="utf-8")
    return path


def test_an_unknown_check_in_a_level_names_the_file_the_pointer_and_a_near_match(tmp_path: Path) -> None:
    path = _policy_file(tmp_path, lambda d: d["levels"]["quick"]["checks"].append("tensor.smok"))
    policy = levels.load(path)
    with pytest.raises(
        InputError, match=r"levels\.yaml: /levels/quick/checks/\d+: no check named 'tensor.smok' \(did you mean 'tensor.smoke'\?\)"
    ):
        levels.plan(policy, "quick", checks.SPECS)


def test_shares_over_the_limit_and_bad_budgets_are_rejected(tmp_path: Path) -> None:
    path = _policy_file(tmp_path, lambda d: d["shares"]["checks"].update({"torch.import": 0.95}))
    with pytest.raises(InputError, match=r"/shares: the \w+ level's checks are guaranteed"):
        levels.load(path)
    path = _policy_file(tmp_path, lambda d: d["levels"]["deep"].update(budget_s=-5))
    with pytest.raises(InputError, match=r"/levels/deep/budget_s"):
        levels.load(path)


@pytest.mark.parametrize("bad", ["nan", "inf", "-3", "0", "soon"])
def test_budget_must_be_finite_and_positive(bad: str, capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as caught:
        parse_args(["--budget", bad])
    assert caught.value.code == 2
    err = capsys.readouterr().err
    assert "--budget" in err
    assert "Traceback" not in err


def test_help_states_each_levels_default_budget(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit):
        parse_args(["--help"])
    out = " ".join(capsys.readouterr().out.split())
    policy = levels.load()
    listed = {name: len(levels.plan(policy, name, checks.SPECS)) for name in ("quick", "deep")}  # what a run lists
    assert re.search(rf"deep burn-in [^;]*;[^;]*; default budget 600 s; {listed['deep']} checks listed", out), out
    assert re.search(rf"quick readiness gate [^;]*;[^;]*; default budget 60 s; {listed['quick']} checks listed", out), out


class FakeClock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_a_check_may_use_what_the_later_checks_are_not_guaranteed() -> None:
    clock = FakeClock()
    shares = {"a": 0.2, "b": 0.1, "c": 0.1}
    budget = Budget(100.0, 120.0, shares.__getitem__, clock=clock)
    first = budget.allot("a", ["b", "c"])
    assert first is not None
    assert first.limit_s == pytest.approx(80.0)  # 100 - (10 + 10) kept for b and c
    assert first.by_budget
    clock.now += 85.0  # a overran into b's share (it was killed at 80 s in a real run)
    second = budget.allot("b", ["c"])
    assert second is not None
    assert second.limit_s == pytest.approx(5.0)
    clock.now += 14.9
    assert budget.allot("c", []) is None  # 0.1 s left: not worth starting a check
    assert "ran out before this check could start" in budget.ran_out_reason("c")
    assert budget.record().cut_short == ["c"]


def test_a_budget_cut_says_figures_that_add_up() -> None:
    """Its allotment, what the check ran of it and what went before it started: never "stopped after 2.8 s, at the end
    of its 3.2 s allotment" with the missing 0.4 s unexplained."""
    clock = FakeClock()
    budget = Budget(20.0, 120.0, lambda _c: 0.16, clock=clock)
    allotment = budget.allot("load.sustained", [])
    assert allotment is not None
    clock.now += 0.4  # restarting the worker before the check
    reason = budget.cut_reason("load.sustained", allotment, 19.6, 20.0, before="restarting the worker after tensor.smoke took 0.4 s")
    assert reason == (
        "cut short by the --budget of 20 s: its 20.0 s allotment (guaranteed share 3.2 s) ran out after 19.6 s of running; "
        "the worker was killed; 0.4 s of the allotment went before the check started (restarting the worker after "
        "tensor.smoke took 0.4 s)"
    )
    host = budget.cut_reason("memory.headroom", allotment, 17.5, 18.0, stopped_early=True)
    assert host == (
        "cut short by the --budget of 20 s: stopped after 17.5 s, 2.0 s before the end of its 20.0 s allotment "
        "(guaranteed share 3.2 s), to stop what it had started; 0.5 s of the allotment went before the check started"
    )
    assert budget.record().cut_short == ["load.sustained", "memory.headroom"]


def test_without_a_budget_every_check_keeps_its_own_timeout() -> None:
    budget = Budget(None, 42.0, lambda _c: 0.5)
    allotment = budget.allot("a", ["b"])
    assert allotment is not None
    assert allotment.limit_s == 42.0
    assert not allotment.by_budget
    assert budget.record().budget_s is None


@pytest.mark.integration
def test_quick_level_report_records_level_and_budget(run_preflight: Any) -> None:
    run = run_preflight("--device", "cpu", "--level", "quick", "--quiet")
    assert run.exit_code == 0
    assert run.report["options"]["level"] == "quick"
    assert run.report["options"]["budget_s"] == 60
    assert run.report["budget"]["budget_s"] == 60
    assert run.report["budget"]["cut_short"] == []
    ran = {c["id"] for c in run.report["checks"]}
    assert set(QUICK) <= ran
    assert not ran & {"dtype.support", "perf.matmul", "device.placement", "dtype.select", *DEEP_ONLY}
    for check_id in QUICK:
        assert run.check(check_id)["status"] == "pass", run.check(check_id)
    helped = cli.parser().format_help()
    listed = re.search(r"quick readiness gate [^;]*;[^;]*; default budget [^;]*; (\d+) checks listed", " ".join(helped.split()))
    assert listed, helped
    assert int(listed.group(1)) == len(run.report["checks"])  # --help counts the checks as a run lists them
    caps = run.check("capabilities.detect")["details"]
    if caps["cxx_compiler"]:  # found on PATH, but not run: the quick level starts no compiler
        assert caps["cxx_compiler_version"] is None
        assert caps["sources"]["cxx_compiler_version"] == "not run: the quick level starts no compiler"


def _quick_run_with_fault(tmp_path: Path, fault: str, budget: float, *flags: str, levels: Path | None = None) -> dict[str, Any]:
    """The real CLI at the quick level with ``fault`` planted; it must exit 0 within the budget plus 10%: its report."""
    out = tmp_path / "report.json"
    env = {**os.environ, "PREFLIGHT_INJECT_FAULT": fault}
    if levels is not None:
        env["PREFLIGHT_LEVELS_POLICY"] = str(levels)
    argv = [sys.executable, str(ROOT / "scripts" / "runtime_preflight.py"), "--device", "cpu", "--level", "quick", *flags]
    started = time.monotonic()
    done = subprocess.run(
        [*argv, "--budget", str(budget), "--quiet", "--output-path", str(out)],
        check=False,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    wall = time.monotonic() - started
    assert done.returncode == 0, done.stderr
    assert wall <= budget * 1.1, f"the run took {wall:.1f} s with a {budget:g} s budget"  # a bound, not a speed goal
    report: dict[str, Any] = json.loads(out.read_text(encoding="utf-8"))
    return report


@pytest.mark.integration
def test_a_device_that_hangs_mid_budget_ends_the_run_within_the_budget(tmp_path: Path) -> None:
    """tensor.smoke hangs: the budget stops it at its allotment and, past hang_after_s, fails it as hung (a budget cut
    is never kinder than --check-timeout); the checks after it skip saying the budget ran out."""
    budget = 30.0
    report = _quick_run_with_fault(tmp_path, "tensor.smoke=hang", budget)
    by_id = {c["id"]: c for c in report["checks"]}
    smoke = by_id["tensor.smoke"]
    assert smoke["status"] == "fail", smoke
    assert "hung" in smoke["error"]
    assert "cut short by the --budget of 30 s" in smoke["error"]
    assert smoke["details"]["budget_cut"] is True
    assert smoke["details"]["hung"] is True
    assert smoke["severity"]["band"] == "critical"
    assert report["verdict"] == "blocking"
    assert report["status"] == "fail"
    # deps.consistency is guaranteed its own share: it runs in it when the hung check left that much (a fast
    # machine), else it skips saying the budget ran out; either way it never runs past the budget.
    deps = by_id["deps.consistency"]
    assert deps["status"] in ("pass", "skip")
    if deps["status"] == "skip":
        assert "budget" in deps["skip_reason"]
    assert "tensor.smoke" in report["budget"]["cut_short"]
    assert report["budget"]["spent_s"] <= budget * 1.1


@pytest.mark.integration
def test_a_host_check_that_hangs_is_cut_by_the_budget_not_failed(tmp_path: Path) -> None:
    """distributed.allreduce (a host check driving its own rank processes) hangs: the budget stops it and says so."""
    report = _quick_run_with_fault(tmp_path, "distributed.allreduce=hang", 30.0, "--check-distributed")
    check = next(c for c in report["checks"] if c["id"] == "distributed.allreduce")
    assert check["status"] == "skip", check
    assert "cut short by the --budget of 30 s" in check["skip_reason"]
    assert "before the end of its" in check["skip_reason"]
    assert "to stop what it had started" in check["skip_reason"]
    assert check["details"]["error_when_cut"]
    assert report["budget"]["cut_short"] == ["distributed.allreduce"]


def test_flags_still_add_their_checks_at_any_level() -> None:
    from preflight_action.preflight.options import Options

    policy = levels.load()
    for level in levels.LEVELS:
        planned = {s.id: s for s in levels.plan(policy, level, checks.SPECS)}
        for check_id, flag in (("torchvision.import", "check_torchvision"), ("compile.smoke", "check_compile")):
            assert planned[check_id].enabled(Options(**{flag: True})), (level, check_id)
        assert planned["compile.smoke"].enabled(Options()) is (level == "deep")  # deep runs it unasked


def test_the_session_refuses_an_unknown_level_before_any_check() -> None:
    from preflight_action.errors import UsageError
    from preflight_action.preflight.options import Options
    from preflight_action.preflight.session import Session

    with pytest.raises(UsageError, match=r"--level 'thorough' is not one of watch, quick, standard, deep"):
        Session(Options(device="cpu", level="thorough"))


@pytest.mark.integration
def test_a_check_the_budget_stops_before_it_could_hang_is_not_judged(tmp_path: Path) -> None:
    """Stopped before hang_after_s, the check is not judged and neither is the run: never a pass, never a finding."""
    shipped = yaml.safe_load((ROOT / "policy" / "levels.yaml").read_text(encoding="utf-8"))
    shipped["hang_after_s"]["checks"]["tensor.smoke"] = 3600
    levels = tmp_path / "levels.yaml"
    levels.write_text(yaml.safe_dump(shipped), encoding="utf-8")
    report = _quick_run_with_fault(tmp_path, "tensor.smoke=hang", 20.0, levels=levels)
    smoke = next(c for c in report["checks"] if c["id"] == "tensor.smoke")
    assert smoke["status"] == "skip"
    assert smoke["unfinished"] == "budget_cut"
    assert report["status"] == "incomplete"
    assert report["verdict"] == "not_judged"
    assert report["triage"]["blocking"] is False


def test_the_watch_level_runs_nothing_that_touches_a_gpu() -> None:
    """The DaemonSet's level: beside training pods, no check may create a CUDA context or allocate (read NVML only)."""
    planned = levels.plan(levels.load(), "watch", checks.SPECS)
    run = [s for s in planned if s.enabled_by is None]
    # the worker imports torch and reads files (metadata, pip's RECORD, its own /proc/self/maps)
    assert [s.id for s in run if s.host is None] == ["torch.import", "deps.consistency", "install.record", "loader.libraries"]
    assert {s.id for s in run if s.host is not None} == {
        "kernel.log",
        "gpu.health",
        "gpu.clocks",
        "gpu.ecc",
        "gpu.pcie",
        "gpu.mig",
        "gpu.driver",
        "gpu.nvlink",
    }  # fmt: skip  (kernel.log reads the kernel's log, NVML reads the driver)
    health = next(s for s in run if s.id == "gpu.health")
    assert health.needs == ()  # not device.resolve, which allocates on the device


@pytest.mark.integration
def test_a_watch_run_is_healthy_without_a_device_check(tmp_path: Path) -> None:
    report_path = tmp_path / "watch.json"
    done = subprocess.run(
        [sys.executable, str(ROOT / "scripts" / "runtime_preflight.py"), "--level", "watch", "--quiet", "--output-path", str(report_path)],
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    report = json.loads(report_path.read_text())
    ran = {c["id"] for c in report["checks"] if c["status"] != "skip"}
    assert ran >= {"torch.import", "deps.consistency"}
    assert not ran & {"device.resolve", "capabilities.detect", "tensor.smoke"}
    assert report["options"]["level"] == "watch"
    assert report["verdict"] == "healthy"
