"""Running sweeps: per-step subprocesses, logs, steps.ldjson, statuses, interruption and --resume."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import psutil
import pytest

from preflight_action import schemas
from preflight_action.paths import repo_root
from preflight_action.sweep.cli import main
from preflight_action.sweep.records import PlannedPoint, PlannedStep

ROOT = repo_root()
assert ROOT is not None
SCRIPT = ROOT / "scripts" / "sweep.py"


def _flow(tmp_path: Path, steps: str, axes: str = "axes: {rep: [0, 1]}", extra: str = "") -> Path:
    path = tmp_path / "flow.yaml"
    path.write_text(f"name: tiny\nseed: 5\n{axes}\n{extra}steps:\n{steps}", encoding="utf-8")
    return path


def _run(tmp_path: Path, flow: Path, *extra: str) -> tuple[int, Path]:
    out = tmp_path / "runs"
    code = main(["--output-root", str(out), "run", "--flow", str(flow), "--no-probe", "--yes", "--plain", *extra])
    (run_dir,) = [p for p in out.iterdir() if p.is_dir()]
    return code, run_dir


def test_a_run_writes_the_documented_schema_valid_directory(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    flow = _flow(tmp_path, "  - {name: first, adapter: noop, params: {tag: a}}\n  - {name: second, adapter: noop}\n")
    code, run = _run(tmp_path, flow)
    out = capsys.readouterr().out
    assert code == 0
    assert "[1/4] p000 first: passed" in out
    assert "[4/4] p001 second: passed" in out
    assert run.name.startswith("sw-")
    assert "-s5-tiny" in run.name
    for name, schema in (("plan.json", "sweep_plan"), ("summary.json", "sweep_summary"), ("sysinfo.json", "sysinfo")):
        schemas.read_json(run / name, schema)
    assert (run / "report.md").is_file()
    assert (run / "report.html").is_file()
    summary = schemas.read_json(run / "summary.json", "sweep_summary")
    assert summary["status"] == "passed"
    assert summary["counts"]["passed"] == 4
    plan = schemas.read_json(run / "plan.json", "sweep_plan")
    for point in ("p000", "p001"):
        sub = run / "subruns" / point
        schemas.read_json(sub / "summary.json", "sweep_subrun_summary")
        lines = (sub / "steps.ldjson").read_text(encoding="utf-8").splitlines()
        records = [json.loads(line) for line in lines]
        for record in records:
            schemas.validate(record, "step_log", "line")
        assert [r["step"] for r in records] == ["first", "second"]
        assert (sub / "stdout" / "00_first.log").read_text(encoding="utf-8").startswith('{"ok": true')
        assert (sub / "stderr" / "01_second.log").is_file()
        seed = next(p for p in plan["points"] if p["id"] == point)["steps"][0]["seed"]
        assert records[0]["metrics"] == {"ok": True, "seed": seed, "tag": "a"}
        assert records[0]["process_s"] <= records[0]["duration_s"]


def test_failures_timeouts_and_skips_are_recorded_and_the_run_fails(tmp_path: Path) -> None:
    steps = (
        "  - {name: boom, adapter: noop, params: {exit_code: 3}}\n"
        "  - {name: hang, adapter: noop, params: {sleep_ms: 5000}, timeout_s: 0.5}\n"
        "  - {name: skipper, adapter: noop, params: {skip: true}}\n"
        "  - {name: fine, adapter: noop}\n"
    )
    start = time.monotonic()
    code, run = _run(tmp_path, _flow(tmp_path, steps, axes="axes: {}"))
    assert time.monotonic() - start < 4, "the hung step must be killed at its timeout"
    assert code == 1
    records = [json.loads(x) for x in (run / "subruns" / "p000" / "steps.ldjson").read_text(encoding="utf-8").splitlines()]
    by_step = {r["step"]: r for r in records}
    assert by_step["boom"]["status"] == "failed"
    assert by_step["boom"]["returncode"] == 3
    assert "exit code 3: noop: exiting with code 3 as asked" in by_step["boom"]["error"]
    assert by_step["hang"]["status"] == "timeout"
    assert "timed out after 0.5 s" in by_step["hang"]["error"]
    assert by_step["skipper"]["status"] == "skipped"
    assert by_step["skipper"]["error"] == "asked to skip"
    assert by_step["fine"]["status"] == "passed"
    summary = schemas.read_json(run / "summary.json", "sweep_summary")
    assert summary["status"] == "failed"
    assert {k: summary["counts"][k] for k in ("passed", "failed", "timeout", "skipped")} == {
        "passed": 1,
        "failed": 1,
        "timeout": 1,
        "skipped": 1,
    }


def test_dry_run_launches_nothing_but_writes_plan_summaries_and_reports(tmp_path: Path) -> None:
    code, run = _run(tmp_path, _flow(tmp_path, "  - {name: a, adapter: noop, params: {exit_code: 9}}\n"), "--dry-run")
    assert code == 0
    summary = schemas.read_json(run / "summary.json", "sweep_summary")
    assert summary["status"] == "dry_run"
    assert summary["counts"]["pending"] == 2
    assert not (run / "subruns" / "p000" / "steps.ldjson").exists()
    assert (run / "report.html").is_file()


def test_secret_values_never_reach_logs_or_records(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SWEEP_TEST_API_TOKEN", "hunter2-very-secret")
    code, run = _run(tmp_path, _flow(tmp_path, "  - {name: a, adapter: noop, params: {tag: hunter2-very-secret}}\n", axes="axes: {}"))
    assert code == 0
    for path in run.rglob("*"):
        if path.is_file():
            assert "hunter2-very-secret" not in path.read_text(encoding="utf-8"), path


def _interrupt(tmp_path: Path, sig: signal.Signals) -> tuple[int, Path]:
    steps = "  - {name: quick, adapter: noop}\n  - {name: slow, adapter: noop, params: {sleep_ms: 1500}}\n  - {name: last, adapter: noop}\n"
    flow = _flow(tmp_path, steps, axes="axes: {rep: [0, 1]}")
    out = tmp_path / "runs"
    proc = subprocess.Popen(
        [sys.executable, str(SCRIPT), "--output-root", str(out), "run", "--flow", str(flow), "--no-probe", "--yes", "--plain"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    assert proc.stdout is not None
    for line in proc.stdout:
        if line.startswith("[1/6]"):
            break
    time.sleep(0.4)  # the slow step is sleeping now
    proc.send_signal(sig)
    _rest, err = proc.communicate(timeout=30)
    assert "interrupted by" in err, err
    (run,) = list(out.iterdir())
    assert f"finish with `sweep.py run --resume {run.name}`" in err, "the hint names the real run id"
    return proc.returncode, run


@pytest.mark.skipif(os.name != "posix", reason="SIGINT/SIGTERM delivery to a child as tested here is POSIX-only")
def test_sigint_marks_the_step_interrupted_and_resume_finishes_without_redoing(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, run = _interrupt(tmp_path, signal.SIGINT)
    assert code == 130
    summary = schemas.read_json(run / "summary.json", "sweep_summary")
    assert summary["status"] == "interrupted"
    assert summary["counts"] == {"passed": 1, "failed": 0, "timeout": 0, "interrupted": 1, "error": 0, "skipped": 0, "pending": 4}
    records = [json.loads(x) for x in (run / "subruns" / "p000" / "steps.ldjson").read_text(encoding="utf-8").splitlines()]
    assert [(r["step"], r["status"]) for r in records] == [("quick", "passed"), ("slow", "interrupted")]
    assert records[1]["error"] == "stopped by SIGINT"
    assert "interrupted" in (run / "report.md").read_text(encoding="utf-8")

    assert main(["--output-root", str(run.parent), "run", "--resume", run.name, "--plain"]) == 0
    out = capsys.readouterr().out
    assert "5 step(s) to run" in out
    lines = [json.loads(x) for x in (run / "subruns" / "p000" / "steps.ldjson").read_text(encoding="utf-8").splitlines()]
    assert [(r["step"], r["status"]) for r in lines] == [
        ("quick", "passed"),
        ("slow", "interrupted"),
        ("slow", "passed"),
        ("last", "passed"),
    ]
    summary = schemas.read_json(run / "summary.json", "sweep_summary")
    assert summary["status"] == "passed"
    assert summary["counts"]["passed"] == 6


@pytest.mark.skipif(os.name != "posix", reason="SIGINT/SIGTERM delivery to a child as tested here is POSIX-only")
def test_sigterm_interrupts_too(tmp_path: Path) -> None:
    code, run = _interrupt(tmp_path, signal.SIGTERM)
    assert code == 130  # interrupted, whichever signal; the line and the summary say which
    summary = schemas.read_json(run / "summary.json", "sweep_summary")
    assert summary["status"] == "interrupted"
    assert summary["points"][0]["status"] == "interrupted"
    assert summary["points"][1]["status"] == "pending"


def test_rerun_last_repeats_the_latest_passed_run_with_its_seed(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, first = _run(tmp_path, _flow(tmp_path, "  - {name: a, adapter: noop}\n", axes="axes: {}"), "--seed", "77")
    assert code == 0
    assert main(["--output-root", str(first.parent), "rerun-last", "--yes", "--no-probe", "--plain"]) == 0
    assert f"repeating {first.name}" in capsys.readouterr().out
    runs = sorted(p.name for p in first.parent.iterdir())
    assert len(runs) == 2
    assert all("-s77-" in r for r in runs)


def test_resume_after_a_crash_mid_write_reruns_only_the_cut_step(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    steps = "  - {name: one, adapter: noop}\n  - {name: two, adapter: noop}\n  - {name: three, adapter: noop}\n"
    code, run = _run(tmp_path, _flow(tmp_path, steps, axes="axes: {}"))
    assert code == 0
    log = run / "subruns" / "p000" / "steps.ldjson"
    lines = log.read_text(encoding="utf-8").splitlines()
    log.write_text(lines[0] + "\n" + lines[1][:40], encoding="utf-8")  # step two's line cut short, step three never written
    capsys.readouterr()
    assert main(["--output-root", str(run.parent), "run", "--resume", run.name, "--plain"]) == 0
    assert "2 step(s) to run" in capsys.readouterr().out
    records = [json.loads(x) for x in log.read_text(encoding="utf-8").splitlines()]
    assert [r["step"] for r in records] == ["one", "two", "three"]
    assert schemas.read_json(run / "summary.json", "sweep_summary")["counts"]["passed"] == 3


def _point(step: PlannedStep) -> PlannedPoint:
    """A one-step point, as the planner makes them."""
    return PlannedPoint("p000", 0, 0, {}, 1, (step,))


def _alive(pid: int) -> bool:
    """Running (a zombie waiting for its reaper counts as dead)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    stat = Path(f"/proc/{pid}/stat")
    return not (stat.is_file() and stat.read_text(encoding="utf-8").rsplit(")", 1)[1].split()[0] == "Z")


@pytest.mark.skipif(os.name != "posix", reason="process groups are POSIX-only")
def test_processes_a_step_leaves_behind_are_killed(tmp_path: Path) -> None:
    from preflight_action.sweep.artifacts import RunDir
    from preflight_action.sweep.runner import Interrupted, run_step

    marker = tmp_path / "orphan.pid"
    # A step whose child outlives it (as inductor compile workers can): the runner kills its process group.
    code = (
        "import subprocess, sys; "
        f"p = subprocess.Popen([sys.executable, '-c', 'import time; time.sleep(60)']); open({str(marker)!r}, 'w').write(str(p.pid)); "
        "print('{\"ok\": true}')"
    )
    step = PlannedStep(0, "leaky", "inline", {}, (sys.executable, "-c", code), 30.0, 0)
    record = run_step(RunDir(tmp_path / "run"), _point(step), step, dict(os.environ), Interrupted(), [])
    assert record["status"] == "passed"
    assert record["metrics"] == {"ok": True}
    pid = int(marker.read_text(encoding="utf-8"))
    deadline = time.monotonic() + 5
    while _alive(pid) and time.monotonic() < deadline:
        time.sleep(0.05)
    if _alive(pid):
        os.kill(pid, signal.SIGKILL)
        pytest.fail("the step's leftover child is still running")


def test_a_timed_out_step_loses_descendants_outside_its_process_group_too(tmp_path: Path) -> None:
    """The timeout kills the whole tree on every OS: also children that left the step's group (Windows has none)."""
    from preflight_action.sweep.artifacts import RunDir
    from preflight_action.sweep.runner import Interrupted, run_step

    marker = tmp_path / "escaped.pid"
    detach = "start_new_session=True" if os.name == "posix" else "creationflags=subprocess.CREATE_NEW_PROCESS_GROUP"
    code = (
        "import subprocess, sys, time; "
        f"p = subprocess.Popen([sys.executable, '-c', 'import time; time.sleep(60)'], {detach}); "
        f"open({str(marker)!r}, 'w').write(str(p.pid)); time.sleep(60)"
    )
    step = PlannedStep(0, "wedged", "inline", {}, (sys.executable, "-c", code), 2.0, 0)
    record = run_step(RunDir(tmp_path / "run"), _point(step), step, dict(os.environ), Interrupted(), [])
    assert record["status"] == "timeout"
    escaped = psutil.Process(int(marker.read_text(encoding="utf-8")))
    deadline = time.monotonic() + 5
    while _running(escaped) and time.monotonic() < deadline:
        time.sleep(0.05)
    if _running(escaped):
        escaped.kill()
        pytest.fail("a child the timed-out step had moved out of its process group is still running")


def _running(process: psutil.Process) -> bool:
    """Running, on any OS (a zombie waiting for its reaper counts as dead)."""
    try:
        return process.status() != psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return False


def test_a_timed_out_step_and_its_descendants_are_killed_without_process_groups_or_sigkill(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Windows' way (forced here): no group to signal after the step, so the timeout's psutil walk must reach every child."""
    from preflight_action.sweep.artifacts import RunDir
    from preflight_action.sweep.runner import Interrupted, run_step
    from tests.support.windows_shaped import make_windows_shaped

    marker = tmp_path / "child.pid"
    code = (
        "import subprocess, sys, time; "
        "p = subprocess.Popen([sys.executable, '-c', 'import time; time.sleep(60)']); "
        f"open({str(marker)!r}, 'w').write(str(p.pid)); time.sleep(60)"
    )
    step = PlannedStep(0, "wedged", "inline", {}, (sys.executable, "-c", code), 2.0, 0)
    make_windows_shaped(monkeypatch)
    record = run_step(RunDir(tmp_path / "run"), _point(step), step, dict(os.environ), Interrupted(), [])
    assert record["status"] == "timeout"
    child = psutil.Process(int(marker.read_text(encoding="utf-8")))
    deadline = time.monotonic() + 5
    while _running(child) and time.monotonic() < deadline:
        time.sleep(0.05)
    if _running(child):
        child.terminate()
        pytest.fail("the timed-out step's child is still running")
