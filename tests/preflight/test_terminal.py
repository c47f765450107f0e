"""The terminal report as the README describes it: verdict first, passes one line each, skips folded, commands whole."""

from __future__ import annotations

import json
import os
import shlex
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from rich.console import Console

from preflight_action.preflight import terminal
from preflight_action.preflight.report import CheckResult, Report
from tests.conftest import ROOT
from tests.support import broken_runtimes, report_factory

SCRIPT = ROOT / "scripts" / "runtime_preflight.py"
NOX_DEFAULTS = ["--device", "auto", "--check-torchvision", "--check-distributed", "--strict"]  # what nox -s preflight runs


def _preflight(tmp_path: Path, columns: int, *args: str, python: Path | None = None) -> tuple[subprocess.CompletedProcess[str], Report]:
    out = tmp_path / f"r{columns}.json"
    env = {**os.environ, "COLUMNS": str(columns)}
    env.pop("PREFLIGHT_INJECT_FAULT", None)
    argv = [sys.executable, str(SCRIPT), *args, "--output-path", str(out)]
    if python is not None:
        argv += ["--python", str(python)]
    done = subprocess.run(argv, capture_output=True, text=True, timeout=600, env=env, check=False)
    assert out.exists(), done.stderr
    return done, Report.from_dict(json.loads(out.read_text(encoding="utf-8")))


def _lines(report: Report, width: int, verbose: bool = False, exit_code: int = 0) -> list[str]:
    out = Console(width=width, force_terminal=False, highlight=False)
    with out.capture() as captured:
        terminal.show(report, exit_code, out, verbose=verbose)
    return captured.get().splitlines()


@pytest.mark.integration
def test_a_passing_run_at_80_columns_opens_with_the_verdict_and_fits_in_40_lines(tmp_path: Path) -> None:
    """nox -s preflight's run on this CPU box, everything it prints (progress on stderr, the report on stdout)."""
    done, report = _preflight(tmp_path, 80, *NOX_DEFAULTS)
    assert done.returncode == 0, done.stderr
    assert report.verdict == "healthy"
    shown = done.stdout.splitlines()
    assert shown[0].startswith("HEALTHY  ")  # the verdict first
    assert len(shown) + len(done.stderr.splitlines()) < 40, done.stdout + done.stderr
    assert all(len(line) <= 80 for line in shown if not line.startswith("interpreter ")), done.stdout
    skipped = [c.id for c in report.checks if c.status == "skip"]
    folded = " ".join(line.strip() for line in shown if line.startswith(f"{len(skipped)} skipped: ") or line.startswith("  "))
    assert all(check_id in folded for check_id in skipped)
    assert "(-v lists why)" in folded
    for check in report.checks:
        if check.status == "skip":
            assert check.skip_reason not in done.stdout  # folded: one line names them, -v says why
        else:
            assert sum(1 for line in shown if line.split()[1:2] == [check.id]) == 1, check.id  # one line per check
    verbose = _lines(report, 80, verbose=True)
    for check_id in skipped:
        assert any(line.strip().startswith(f"{check_id}: ") for line in verbose), check_id


def _pasted(lines: list[str]) -> list[str]:
    """What bash makes of ``lines`` pasted after ``printf '%s\\n'``: the command's arguments, one each."""
    script = "printf '%s\\n' " + "\n".join(line.strip() if i == 0 else line for i, line in enumerate(lines))
    done = subprocess.run(["bash", "-c", script], capture_output=True, text=True, timeout=60, check=False)
    assert done.returncode == 0, done.stderr
    return done.stdout.splitlines()


def _command_lines(stdout: str, command: str) -> list[str]:
    """The lines the terminal printed for ``command``: from its first word to the line without a continuation."""
    lines = stdout.splitlines()
    after = next(i for i, line in enumerate(lines) if line.strip() == "do this:")
    first, last = command.split(maxsplit=1)[0], command.rsplit(maxsplit=1)[-1]
    for start in (i for i, line in enumerate(lines) if i > after and line.strip().startswith(first)):
        end = start
        while lines[end].endswith("\\"):
            end += 1
        if last in lines[end]:  # the block that ends with this command's last argument (another cause may run the same python)
            return lines[start : end + 1]
    raise AssertionError(f"{command!r} is not printed whole:\n{stdout}")


@pytest.mark.integration
@pytest.mark.parametrize("columns", [80, 160])
def test_a_remedy_command_pastes_as_one_working_command_at_any_width(tmp_path: Path, columns: int) -> None:
    """A real torchvision built for another torch: the fix is a pip command with --index-url and a URL."""
    try:
        runtime = broken_runtimes.torchvision_for_another_build(tmp_path)
    except broken_runtimes.Unavailable as why:
        pytest.skip(str(why))
    done, report = _preflight(tmp_path, columns, "--device", "cpu", "--check-torchvision", python=runtime.python)
    # the runtime lacks pillow too (torchvision needs it: install.record says so); the pairing is the cause with --index-url
    cause = next(group for group in report.triage.causes if group[0].check_id == "torchvision.import")
    remedy = cause[0].remedy
    assert remedy is not None
    assert "--index-url https://download.pytorch.org/whl/" in remedy
    from preflight_action.preflight import remedy_text

    [command] = remedy_text.commands(remedy)
    printed = _command_lines(done.stdout, command)
    # Each line fits, but for one argument longer than the width on a line of its own (an interpreter's long path).
    assert all(len(line) <= columns or len(line.removesuffix(" \\").split()) == 1 for line in printed), printed
    assert _pasted(printed) == shlex.split(command), printed  # the lines paste as the whole command
    assert done.stdout.index("do this:") < done.stdout.index(printed[0]) < done.stdout.index("policy for medium:")


def _interrupted_report() -> Report:
    passed = [CheckResult(c, "pass", 3.0) for c in ("torch.import", "device.resolve", "capabilities.detect")]
    reason = "not run: the run was interrupted by SIGINT"
    stopped = [CheckResult.skipped(c, reason, unfinished="interrupted") for c in ("tensor.smoke", "dtype.support", "deps.consistency")]
    document = report_factory.build(passed + stopped, node="node-a", backend="cpu", finished_at="2026-01-01T00:00:00.000Z")
    document["interrupted_by"] = "SIGINT"
    return Report.from_dict(document)


def test_an_interrupted_report_reads_not_judged_and_says_what_did_not_finish_first() -> None:
    report = _interrupted_report()
    assert (report.status, report.verdict) == ("incomplete", "not_judged")
    lines = _lines(report, 80)
    assert lines[0].startswith("NOT JUDGED  3 not finished, 3 passed")
    assert lines[1] == "interrupted by SIGINT: this report is partial, not a pass"
    text = "\n".join(lines)
    assert "PASS" not in text
    assert "HEALTHY" not in text
    unfinished = next(i for i, line in enumerate(lines) if line.startswith("not finished (3)"))
    first_pass = next(i for i, line in enumerate(lines) if line.lstrip().startswith("pass "))
    assert unfinished < first_pass
    assert "the run was interrupted: tensor.smoke, dtype.support, deps.consistency" in text


def test_one_cause_is_one_block_with_its_own_remedy_before_the_policy(tmp_path: Path) -> None:
    pair = "torchvision 0.29.1 does not pair with torch 2.13.0+cpu; the pair that works is torch 2.13.0+cpu with torchvision 0.28.x"
    fix = '/venv/bin/python -m pip install "torchvision==0.28.*" --index-url https://download.pytorch.org/whl/cpu'
    checks = [
        CheckResult("torch.import", "pass", 3.0),
        CheckResult("torchvision.import", "fail", 4.0, error=f"{pair} (import failed)", remedy=fix),
        CheckResult("deps.consistency", "fail", 2.0, error=pair, remedy=fix),
    ]
    report = Report.from_dict(report_factory.build(checks, node="node-a", backend="cpu", finished_at="2026-01-01T00:00:00.000Z"))
    lines = _lines(report, 80, exit_code=1)
    text = "\n".join(lines)
    assert lines[0].startswith("BLOCKING  2 checks failed (1 cause), 1 passed")
    assert text.count("do this:") == 1
    assert "1. [medium 70] torchvision.import, deps.consistency" in text
    assert text.index("do this:") < text.index(fix.split(maxsplit=1)[0]) < text.index("policy for medium: ")
    assert "top failure" not in text


def _deep(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    tmp = tmp_path_factory.mktemp("deep")
    out, md, html = tmp / "r.json", tmp / "r.md", tmp / "r.html"
    argv = [sys.executable, str(SCRIPT), "--device", "cpu", "--level", "deep", "--budget", "60", "--output-path", str(out)]
    env = {**os.environ, "COLUMNS": "100"}
    env.pop("PREFLIGHT_INJECT_FAULT", None)
    done = subprocess.run(
        [*argv, "--output-md", str(md), "--output-html", str(html)], capture_output=True, text=True, timeout=600, env=env, check=False
    )
    assert out.exists(), done.stderr
    return {"stdout": done.stdout, "report": json.loads(out.read_text()), "md": md.read_text(), "html": html.read_text()}


@pytest.fixture(scope="module")
def deep_run(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """One real deep-level run on this CPU, with its budget: terminal, JSON, Markdown and HTML."""
    return _deep(tmp_path_factory)


@pytest.mark.integration
def test_a_deep_run_shows_its_budget_and_spending_in_every_rendering(deep_run: dict[str, Any]) -> None:
    spent = deep_run["report"]["budget"]["spent_s"]
    said = f"level deep, budget 60 s (spent {spent:.1f} s)"
    for rendering in ("stdout", "md", "html"):
        assert said in deep_run[rendering], rendering


@pytest.mark.integration
def test_each_measuring_check_states_its_pass_rule_with_its_figure(deep_run: dict[str, Any]) -> None:
    checks = {c["id"]: c for c in deep_run["report"]["checks"]}
    rules = {"load.sustained": "passes while the last ", "memory.pattern": "passes when every byte reads back as written: 0 wrong in "}
    for check_id, rule in rules.items():
        if checks[check_id]["status"] != "pass":
            continue  # the budget may leave a loaded CPU no time for it: then it says so instead
        for rendering in ("stdout", "md", "html"):
            assert rule in " ".join(deep_run[rendering].split()), (check_id, rendering)
    assert any(checks[c]["status"] == "pass" for c in rules), "neither stress check ran on this machine"
