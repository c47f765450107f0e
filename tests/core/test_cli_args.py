"""One argument type for every CLI: bad numbers and unwritable output paths are one line, exit 2, before any work.

The unwritable paths are ones that fail for root too (the suite runs as root in CI
containers, where chmod stops nothing): a path under /proc, a path whose parent is a
regular file, and an existing directory given as a file.
"""

from __future__ import annotations

import argparse
import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from preflight_action import cli_args
from tests.summary.test_summary import report_doc, write_reports

PROC = Path("/proc/preflight-no-such-dir")
needs_proc = pytest.mark.skipif(not Path("/proc/self").is_dir(), reason="uses /proc as a place no one can create files (Linux)")


@pytest.mark.parametrize(
    ("parse", "text", "why"),
    [
        (cli_args.positive_seconds, "nan", "must be a finite number of seconds, got 'nan'"),
        (cli_args.positive_seconds, "inf", "must be a finite number of seconds, got 'inf'"),
        (cli_args.positive_seconds, "-inf", "must be a finite number of seconds, got '-inf'"),
        (cli_args.positive_seconds, "0", "must be above 0 s, got 0"),
        (cli_args.positive_seconds, "1e300", "must be at most 3.16224e+07 s, got 1e300"),
        (cli_args.positive_seconds, "ten", "'ten' is not a number of seconds"),
        (cli_args.non_negative_seconds, "-0.5", "must be at least 0 s, got -0.5"),
        (cli_args.non_negative_days, "1e7", "must be at most 36525 days, got 1e7"),
        (cli_args.positive_int, "0", "must be at least 1, got 0"),
        (cli_args.positive_int, "2.5", "'2.5' is not a whole number"),
        (cli_args.positive_int, str(2**40), f"must be at most {2**31 - 1}, got {2**40}"),
        (cli_args.non_negative_int, "-1", "must be at least 0, got -1"),
    ],
)
def test_numbers_that_mean_nothing_are_refused_with_the_reason(parse: Callable[[str], object], text: str, why: str) -> None:
    with pytest.raises(argparse.ArgumentTypeError) as refused:
        parse(text)
    assert str(refused.value) == why


def test_numbers_in_range_come_back_as_numbers() -> None:
    assert cli_args.positive_seconds("1.5") == 1.5
    assert cli_args.non_negative_seconds("0") == 0.0
    assert cli_args.positive_int(" 7 ") == 7
    assert cli_args.finite_float(1.0, 2.0)("2") == 2.0


@needs_proc
def test_file_problems_name_the_reason(tmp_path: Path) -> None:
    (tmp_path / "plain").write_text("x")
    assert cli_args.file_problem(tmp_path) == "is a directory"
    assert cli_args.file_problem(tmp_path / "plain" / "r.json") == f"{tmp_path / 'plain'} is not a directory"
    assert cli_args.file_problem(tmp_path / "plain" / "a" / "r.json") == (
        f"{tmp_path / 'plain'} is not a directory, so {tmp_path / 'plain' / 'a'} cannot be created"
    )
    assert "no file can be created in /proc" in str(cli_args.file_problem(PROC / "r.json"))
    assert cli_args.file_problem(tmp_path / "new" / "deeper" / "r.json") is None
    assert not (tmp_path / "new").exists(), "the check creates nothing"
    assert list(tmp_path.iterdir()) == [tmp_path / "plain"], "the probe file is removed"
    assert cli_args.dir_problem(tmp_path / "plain") == "exists and is not a directory"
    assert cli_args.dir_problem(tmp_path / "out") is None
    assert cli_args.append_problem(tmp_path) == "is a directory"


def _exit_of(main: Callable[[list[str]], int], argv: list[str]) -> int:
    try:
        return main(argv)
    except SystemExit as exited:
        return int(exited.code or 0)


def _last_line(capsys: pytest.CaptureFixture[str]) -> str:
    return capsys.readouterr().err.strip().splitlines()[-1]


@needs_proc
@pytest.mark.parametrize("flag", ["--output-path", "--output-md", "--output-html"])
def test_preflight_refuses_an_unwritable_output_before_any_check(flag: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from preflight_action import main as cli

    report = tmp_path / "r.json"
    for target in (PROC / "x", tmp_path):  # /proc, and an existing directory given as a file
        argv = ["--device", "cpu", "--quiet", "--output-path", str(report), flag, str(target)]
        assert _exit_of(cli.main, argv) == 2
        line = _last_line(capsys)
        assert line.startswith(f"runtime-preflight: error: argument {flag}: {target}: ")
    assert not report.exists(), "refused before the run, not after it"


@pytest.mark.parametrize(
    ("argv", "why"),
    [
        (["--check-timeout", "inf"], "argument --check-timeout: must be a finite number of seconds, got 'inf'"),
        (["--check-timeout", "nan"], "argument --check-timeout: must be a finite number of seconds, got 'nan'"),
        (["--check-timeout", "0"], "argument --check-timeout: must be at least 1 s, got 0"),
        (["--check-timeout", "1e-300"], "argument --check-timeout: must be at least 1 s, got 1e-300"),
        (["--budget", "-5"], "argument --budget: must be above 0 s, got -5"),
        (["--expect-gpus", "nan"], "argument --expect-gpus: 'nan' is not a whole number"),
    ],
)
def test_preflight_numbers(argv: list[str], why: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from preflight_action import main as cli

    assert _exit_of(cli.main, ["--output-path", str(tmp_path / "r.json"), *argv]) == 2
    assert _last_line(capsys) == f"runtime-preflight: error: {why}"


def test_a_preflight_output_that_fails_at_write_time_leaves_the_others_and_exits_2(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """The Markdown path passes the check, then becomes a directory before the write: the JSON and HTML still land."""
    from preflight_action import main as cli
    from preflight_action.preflight import session

    md = tmp_path / "r.md"
    real_run = session.Session.run

    def run_then_block(self: session.Session, *args: Any, **kwargs: Any) -> Any:
        report = real_run(self, *args, **kwargs)
        md.mkdir(exist_ok=True)  # what a full disk or a racing job would do to the write
        return report

    monkeypatch.setattr(session.Session, "run", run_then_block)
    argv = ["--device", "cpu", "--quiet", "--output-path", str(tmp_path / "r.json"), "--output-md", str(md)]
    argv += ["--output-html", str(tmp_path / "r.html")]
    assert cli.main(argv) == 2
    assert _last_line(capsys).startswith(f"runtime-preflight: error: --output-md {md}: cannot write it (")
    assert json.loads((tmp_path / "r.json").read_text())["checks"]
    assert (tmp_path / "r.html").read_text().startswith("<!")


@needs_proc
@pytest.mark.parametrize("flag", ["--output-md", "--output-json"])
def test_summarize_refuses_an_unwritable_output(flag: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from preflight_action.summary import cli

    write_reports(tmp_path / "in", [report_doc("ok", "cpu")])
    argv = ["--input-glob", str(tmp_path / "in" / "*.json"), flag, str(PROC / "s")]
    assert _exit_of(cli.main, argv) == 2
    assert _last_line(capsys).startswith(f"preflight-summarize: error: argument {flag}: {PROC / 's'}: ")


@needs_proc
@pytest.mark.parametrize("where", ["proc", "directory"])
def test_summarize_refuses_an_unwritable_step_summary_and_writes_nothing(
    where: str, tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    from preflight_action.summary import cli

    target = PROC / "step_summary" if where == "proc" else tmp_path
    monkeypatch.setenv("GITHUB_STEP_SUMMARY", str(target))
    write_reports(tmp_path / "in", [report_doc("ok", "cpu")])
    out = tmp_path / "s.json"
    argv = ["--input-glob", str(tmp_path / "in" / "*.json"), "--output-json", str(out), "--step-summary", "--quiet"]
    assert cli.main(argv) == 2
    assert _last_line(capsys).startswith(f"preflight-summarize: error: --step-summary: $GITHUB_STEP_SUMMARY {target}: ")
    assert not out.exists()


def test_summarize_without_any_output_prints_the_markdown(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from preflight_action.summary import cli

    write_reports(tmp_path, [report_doc("ok", "cpu")])
    assert cli.main(["--input-glob", str(tmp_path / "*.json"), "--quiet"]) == 0
    out = capsys.readouterr().out
    assert out.startswith("<!-- ") or out.lstrip().startswith("#")
    assert "ok" in out


def test_summarize_with_annotations_only_warns_that_nothing_was_written(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from preflight_action.summary import cli

    write_reports(tmp_path, [report_doc("ok", "cpu")])
    assert cli.main(["--input-glob", str(tmp_path / "*.json"), "--quiet", "--annotations"]) == 0
    captured = capsys.readouterr()
    assert captured.out == ""
    assert "no summary written" in captured.err


@needs_proc
def test_matrix_status_refuses_an_unwritable_html(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from preflight_action.matrix import cli

    assert _exit_of(cli.main, ["status", "--input-glob", str(tmp_path / "*.json"), "--html", str(tmp_path)]) == 2
    assert _last_line(capsys) == f"preflight-matrix status: error: argument --html: {tmp_path}: is a directory"


def test_matrix_status_with_a_glob_that_matches_nothing_exits_2(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from preflight_action.matrix import cli

    pattern = str(tmp_path / "*.json")
    assert cli.main(["status", "--input-glob", pattern]) == 2
    assert _last_line(capsys) == f"preflight-matrix: error: --input-glob {pattern}: no file matches (did the artifacts download?)"


@needs_proc
def test_smoke_refuses_an_unwritable_output_root(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    from preflight_action.smoke import cli

    (tmp_path / "plain").write_text("x")
    assert _exit_of(cli.main, ["--mode", "stub", "--output-root", str(tmp_path / "plain")]) == 2
    assert _last_line(capsys) == f"preflight-smoke: error: argument --output-root: {tmp_path / 'plain'}: exists and is not a directory"
    monkeypatch.setenv("PREFLIGHT_SMOKE_ROOT", str(PROC / "smoke"))
    assert cli.main(["--mode", "stub", "--quiet"]) == 2
    assert _last_line(capsys).startswith(f"preflight-smoke: error: PREFLIGHT_SMOKE_ROOT {PROC / 'smoke'}: cannot be created: ")


def test_an_environment_number_that_is_nan_is_refused(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    from preflight_action.smoke import cli

    monkeypatch.setenv("PREFLIGHT_SMOKE_TIMEOUT_SECS", "nan")
    assert cli.main(["--mode", "stub", "--quiet", "--output-root", str(tmp_path)]) == 2
    assert _last_line(capsys) == "preflight-smoke: error: PREFLIGHT_SMOKE_TIMEOUT_SECS='nan': must be a finite number of seconds, got 'nan'"
    monkeypatch.delenv("PREFLIGHT_SMOKE_TIMEOUT_SECS")
    monkeypatch.setenv("PREFLIGHT_SMOKE_MEM_FACTOR", "nan")
    assert cli.main(["--mode", "stub", "--quiet", "--output-root", str(tmp_path)]) == 2
    assert _last_line(capsys) == "preflight-smoke: error: PREFLIGHT_SMOKE_MEM_FACTOR='nan': must be a finite number, not negative"
    assert list(tmp_path.iterdir()) == [], "refused before a run directory was made"


def test_write_outputs_writes_the_others_when_one_fails(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    good = tmp_path / "good.txt"

    def fail() -> None:
        raise IsADirectoryError(21, "Is a directory")

    outputs = [("--bad", str(tmp_path), fail), ("--good", str(good), lambda: good.write_text("kept"))]
    assert cli_args.write_outputs("tool", outputs) == 2
    assert good.read_text() == "kept"
    assert capsys.readouterr().err == f"tool: error: --bad {tmp_path}: cannot write it (Is a directory)\n"
    assert cli_args.write_outputs("tool", []) == 0


def test_matrix_status_help_is_plain_text(capsys: pytest.CaptureFixture[str]) -> None:
    from preflight_action.matrix import cli

    assert _exit_of(cli.main, ["status", "--help"]) == 0
    text = capsys.readouterr().out
    assert "``" not in text, "no raw reStructuredText"
    assert "exit codes:" in text
    assert "  2  bad usage, no file matches the globs" in text


@needs_proc
def test_export_refuses_an_unwritable_output_before_reading_the_report(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from preflight_action.exports import cli

    argv = ["--from-report", str(tmp_path / "absent.json"), "--output-junit", str(PROC / "junit.xml")]
    assert _exit_of(cli.main, argv) == 2
    assert _last_line(capsys).startswith(f"preflight-export: error: argument --output-junit: {PROC / 'junit.xml'}: ")


def test_summarize_names_a_report_from_a_newer_major_plainly(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from preflight_action.summary import cli

    future = report_doc("next", "cpu")
    future["schema_version"] = "2.0"
    (tmp_path / "in").mkdir()
    (tmp_path / "in" / "next.json").write_text(json.dumps(future))
    assert cli.main(["--input-glob", str(tmp_path / "in" / "*.json"), "--output-json", str(tmp_path / "s.json"), "--quiet"]) == 2
    assert _last_line(capsys) == (
        f"summarize: invalid input {tmp_path / 'in' / 'next.json'}: report schema 2.0 is newer than this tool (1.x): "
        "upgrade preflight-action"
    )
    assert (tmp_path / "s.json").is_file(), "the summary is still written"


def _launcher(tmp_path: Path, command: str, entry: str) -> Path:
    """A console script as pip writes it into a venv's bin/: ``command`` on PATH calls ``preflight_entry.<entry>``."""
    import sys

    script = tmp_path / "bin" / command
    script.parent.mkdir(exist_ok=True)
    script.write_text(f"#!{sys.executable}\nimport sys\nfrom preflight_entry import {entry}\nsys.exit({entry}())\n", encoding="utf-8")
    script.chmod(0o755)
    return script


@needs_proc
@pytest.mark.parametrize(
    ("command", "entry", "argv"),
    [
        ("preflight-summarize", "summarize", ["--input-glob", "x.json", "--output-md", str(PROC / "s.md")]),
        ("preflight-smoke", "smoke", ["--mode", "stub", "--output-root", str(PROC / "smoke")]),
        ("preflight-matrix", "matrix", ["status", "--html", str(PROC / "m.html")]),
        ("preflight-sweep", "sweep", ["clean", "--older-than", "nan"]),
        ("preflight-export", "export", ["--from-report", "r.json", "--output-junit", str(PROC / "j.xml")]),
        ("runtime-preflight", "runtime_preflight", ["--device", "cpu", "--output-md", str(PROC / "r.md")]),
        ("preflight-gate", "gate", ["--gate", "npd", "--bogus-flag"]),
    ],
)
def test_a_usage_error_is_one_line_naming_the_command_typed(command: str, entry: str, argv: list[str], tmp_path: Path) -> None:
    """No 14-line usage dump before the error, and the name the user typed, not a file's (summarize, runtime_matrix)."""
    import subprocess

    done = subprocess.run(
        [str(_launcher(tmp_path, command, entry)), *argv], capture_output=True, text=True, timeout=120, cwd=tmp_path, check=False
    )
    assert done.returncode == 2, done.stderr
    lines = done.stderr.strip().splitlines()
    assert not any(line.startswith("usage:") for line in lines), done.stderr
    if command == "preflight-gate":  # the gate adds the engine's "not judged" line after the error
        assert lines[0].startswith("preflight-gate: error: unrecognized arguments: --bogus-flag"), lines
    else:
        [line] = lines
        sub = " " + argv[0] if command in ("preflight-matrix", "preflight-sweep") else ""
        assert line.startswith(f"{command}{sub}: error: argument "), line


def test_the_scripts_name_themselves_as_typed() -> None:
    import subprocess
    import sys

    from tests.conftest import ROOT

    done = subprocess.run(
        [sys.executable, str(ROOT / "scripts" / "sweep.py"), "clean", "--older-than", "nan"],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.stderr.startswith("sweep.py clean: error: argument --older-than: ")


def test_a_pattern_the_shell_expanded_gets_a_hint(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from preflight_action.summary import cli as cli_summarize

    paths = write_reports(tmp_path, [report_doc("gpu-1"), report_doc("gpu-2")])
    with pytest.raises(SystemExit) as refused:  # what `--input-glob reports/*.json` unquoted becomes
        cli_summarize.main(["--input-glob", *map(str, paths)])
    assert refused.value.code == 2
    line = _last_line(capsys)
    assert line.startswith(f"preflight-summarize: error: unrecognized arguments: {paths[1]}")
    assert line.endswith("(files: did the shell expand a pattern? quote it, e.g. --input-glob 'outputs/*.json')")
