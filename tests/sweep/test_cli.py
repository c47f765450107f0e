"""The sweep CLI's one-line answers to bad input: unknown run ids, devices, flags, flow paths, numbers, dates."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest
import time_machine

from preflight_action.sweep.cli import main
from tests.sweep.test_reporting import _flow, _run


def _exit(argv: list[str]) -> int:
    try:
        return main(argv)
    except SystemExit as exited:
        return int(exited.code or 0)


def _err_line(capsys: pytest.CaptureFixture[str]) -> str:
    return capsys.readouterr().err.strip().splitlines()[-1]


def test_an_unknown_run_id_lists_the_real_ones(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "runs"
    assert main(["--output-root", str(out), "report", "--run-id", "nope"]) == 2
    assert _err_line(capsys) == f"preflight-sweep: --run-id nope: no sweep run with that id; {out} holds no runs yet"
    run = _run(out, _flow(tmp_path))
    capsys.readouterr()
    for command in ("report", "export"):
        assert main(["--output-root", str(out), command, "--run-id", run.name[:-3]]) == 2
        line = _err_line(capsys)
        assert line.startswith(f"preflight-sweep: --run-id {run.name[:-3]}: no sweep run with that id under {out}; ")
        assert line.endswith(f"runs: {run.name}")
        assert f"did you mean {run.name!r}?" in line


def test_a_bogus_device_names_the_valid_ones(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert _exit(["--output-root", str(tmp_path), "plan", "--flow", str(_flow(tmp_path)), "--device", "bogus"]) == 2
    assert _err_line(capsys) == (
        "preflight-sweep plan: error: argument --device: 'bogus' is not a device: one of auto, cpu, cuda, mps, xpu, rocm "
        "(an index as in cuda:1 picks one)"
    )
    assert not list(tmp_path.glob("sw-*")), "nothing planned"
    assert main(["--output-root", str(tmp_path / "p"), "plan", "--flow", str(_flow(tmp_path)), "--device", "cuda:1"]) == 0


@pytest.mark.parametrize("argv", [["run", "--bogus"], ["--bogus", "list-flows"], ["clean", "--older-than", "1", "--nope"]])
def test_an_unknown_flag_is_unrecognized(argv: list[str], tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert _exit(["--output-root", str(tmp_path), *argv]) == 2
    assert "error: unrecognized arguments: --" in _err_line(capsys)


def test_a_flow_path_that_is_a_directory_says_so(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["--output-root", str(tmp_path / "runs"), "plan", "--flow", str(tmp_path)]) == 2
    assert _err_line(capsys) == (
        f"preflight-sweep: --flow {tmp_path}: is a directory, not a flow file (a name from `list-flows` or a path to a .yaml)"
    )


@pytest.mark.parametrize(
    ("argv", "why"),
    [
        (
            ["clean", "--older-than", "nan"],
            "preflight-sweep clean: error: argument --older-than: must be a finite number of days, got 'nan'",
        ),
        (["clean", "--older-than", "-1"], "preflight-sweep clean: error: argument --older-than: must be at least 0 days, got -1"),
        (["clean", "--older-than", "1e9"], "preflight-sweep clean: error: argument --older-than: must be at most 36525 days, got 1e9"),
        (["plan", "--flow", "x", "--shards", "0"], "preflight-sweep plan: error: argument --shards: must be at least 1, got 0"),
        (["plan", "--flow", "x", "--seed", "-3"], "preflight-sweep plan: error: argument --seed: must be at least 0, got -3"),
    ],
)
def test_numbers_are_checked_when_parsed(argv: list[str], why: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert _exit(["--output-root", str(tmp_path), *argv]) == 2
    assert _err_line(capsys) == why


def test_an_output_root_that_is_a_file_is_refused(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    (tmp_path / "file").write_text("x")
    assert _exit(["--output-root", str(tmp_path / "file"), "list-flows"]) == 2
    assert _err_line(capsys) == f"preflight-sweep: error: argument --output-root: {tmp_path / 'file'}: exists and is not a directory"


@pytest.mark.parametrize(
    ("command", "phrases"),
    [
        ("export", ("--run-id RUN_ID", "the run's id", "--format {csv}", "output format", "(default: <run dir>/steps.csv)")),
        ("clean", ("--older-than DAYS", "delete runs planned more than DAYS days ago", "0 deletes every run")),
    ],
)
def test_help_says_what_export_and_clean_flags_take(command: str, phrases: tuple[str, ...], capsys: pytest.CaptureFixture[str]) -> None:
    assert _exit([command, "--help"]) == 0
    text = " ".join(capsys.readouterr().out.split())  # argparse wraps help lines
    for phrase in phrases:
        assert phrase in text


def test_clean_judges_age_against_the_clock(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """A run planned now survives --older-than 1 today and is removed two days later (the clock moved, not the run)."""
    run = _run(tmp_path / "runs", _flow(tmp_path))
    assert main(["--output-root", str(run.parent), "clean", "--older-than", "1"]) == 0
    assert run.is_dir()
    with time_machine.travel(datetime.now(timezone.utc) + timedelta(days=2), tick=False):
        assert main(["--output-root", str(run.parent), "clean", "--older-than", "1"]) == 0
    assert not run.exists()
    assert capsys.readouterr().out.strip().endswith("clean: 1 run(s) older than 1 day(s)")


def test_a_python_that_cannot_start_is_a_probe_warning_naming_it(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    not_executable = tmp_path / "python"
    not_executable.write_text("#!/bin/sh\n")
    flow = _flow(tmp_path)
    argv = ["--output-root", str(tmp_path / "runs"), "run", "--flow", str(flow), "--python", str(not_executable), "--yes", "--dry-run"]
    assert main([*argv, "--plain"]) == 0
    assert f"warning: probe: probe worker: cannot start {not_executable} (Permission denied)" in capsys.readouterr().err


def test_the_root_and_output_root_are_accepted_after_the_command_too(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """`preflight-sweep run --flow noop --output-root X` as users type it (it was 'unrecognized arguments')."""
    out = tmp_path / "after"
    assert main(["run", "--flow", "noop", "--no-probe", "--yes", "--output-root", str(out)]) == 0, capsys.readouterr().err
    assert list(out.glob("*/summary.json"))
    before, after = tmp_path / "before", tmp_path / "wins"
    assert main(["--output-root", str(before), "run", "--flow", "noop", "--no-probe", "--yes", "--output-root", str(after)]) == 0
    assert list(after.glob("*/summary.json"))
    assert not before.exists()  # given after the command, it wins


@pytest.mark.parametrize("command", ["list-flows", "validate", "merge"])
def test_every_subcommand_describes_itself(command: str, capsys: pytest.CaptureFixture[str]) -> None:
    assert _exit([command, "--help"]) == 0
    helped = capsys.readouterr().out
    description = helped.split("\n\n")[1]
    assert not description.startswith(("positional arguments", "options")), helped
    assert len(description.split()) >= 8, description
