"""An output flag that names a file the command reads is refused: one line naming both flags, exit 2, the file untouched.

Every command is run for real (its ``main``) on real files; each refused file's bytes are compared before and after.
The cases that must still work (a rerun whose glob matches its own earlier summary or snapshot) are here too.
"""

from __future__ import annotations

import json
import os
import shutil
import sys
from collections.abc import Callable
from pathlib import Path

import pytest

from preflight_action import cli_args
from preflight_action import main as preflight_main
from preflight_action.diff import cli as diff_cli
from preflight_action.errors import UsageError
from preflight_action.matrix import cli as matrix_cli
from preflight_action.summary import cli as summary_cli
from preflight_action.sweep import cli as sweep_cli
from tests.conftest import ROOT
from tests.summary.test_summary import report_doc, write_reports


def _one_error_line(err: str, *phrases: str) -> None:
    lines = err.strip().splitlines()
    assert len(lines) == 1, err
    assert "Traceback" not in err
    for phrase in phrases:
        assert phrase in lines[0], lines[0]


@pytest.fixture
def reports(tmp_path: Path) -> list[Path]:
    return write_reports(tmp_path / "in", [report_doc("node-a"), report_doc("node-b", "cpu")])


@pytest.fixture
def history(tmp_path: Path, reports: list[Path], capsys: pytest.CaptureFixture[str]) -> Path:
    """A real run history, written by summarize --history."""
    path = tmp_path / "h.jsonl"
    code = summary_cli.main(["--input-glob", str(reports[0].parent / "*.json"), "--history", str(path), "--quiet"])
    assert code == 0
    capsys.readouterr()
    assert path.stat().st_size > 0
    return path


def _copy_policy(tmp_path: Path, name: str) -> Path:
    target = tmp_path / f"my-{name}"
    shutil.copy(ROOT / "policy" / name, target)
    return target


# -- the helper ----------------------------------------------------------------------------------------------------------


def test_the_helper_compares_real_paths_and_inodes_and_ignores_streams(tmp_path: Path) -> None:
    real = tmp_path / "data.json"
    real.write_text("{}")
    (tmp_path / "link.json").symlink_to(real)
    os.link(real, tmp_path / "hard.json")
    for alias in ("link.json", "hard.json", "./data.json"):
        with pytest.raises(UsageError, match=r"^--output-json .* is the same file as --history .*data\.json: it would be overwritten$"):
            cli_args.refuse_outputs_over_inputs([("--output-json", str(tmp_path / alias))], [("--history", str(real))])
    # not there yet, but where it would be written is the input's path
    with pytest.raises(UsageError):
        cli_args.refuse_outputs_over_inputs(
            [("--output-md", str(tmp_path / "sub" / ".." / "new.md"))], [("--policy", str(tmp_path / "new.md"))]
        )
    for stream in ("-", os.devnull, "/dev/stdout", "/dev/stderr"):
        cli_args.refuse_outputs_over_inputs([("--output-md", stream)], [("--policy", stream)])
    cli_args.refuse_outputs_over_inputs(
        [("--output-json", str(tmp_path / "other.json")), ("--output-md", None)], [("--history", str(real))]
    )


# -- preflight-summarize -------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("flag", ["--output-json", "--output-md"])
def test_summarize_refuses_to_write_over_its_history(
    flag: str, history: Path, reports: list[Path], capsys: pytest.CaptureFixture[str]
) -> None:
    before = history.read_bytes()
    code = summary_cli.main(["--input-glob", str(reports[0].parent / "*.json"), "--history", str(history), flag, str(history)])
    assert code == 2
    assert history.read_bytes() == before
    _one_error_line(capsys.readouterr().err, f"{flag} {history} is the same file as --history {history}", "overwritten")


@pytest.mark.parametrize(("flag", "policy"), [("--policy", "severity.yaml"), ("--history-policy", "history.yaml")])
def test_summarize_refuses_to_write_over_a_policy(
    flag: str, policy: str, tmp_path: Path, reports: list[Path], capsys: pytest.CaptureFixture[str]
) -> None:
    path = _copy_policy(tmp_path, policy)
    before = path.read_bytes()
    code = summary_cli.main(["--input-glob", str(reports[0].parent / "*.json"), flag, str(path), "--output-md", str(path)])
    assert code == 2
    assert path.read_bytes() == before
    _one_error_line(capsys.readouterr().err, f"--output-md {path} is the same file as {flag} {path}")


def test_summarize_refuses_a_hard_link_to_its_policy(tmp_path: Path, reports: list[Path], capsys: pytest.CaptureFixture[str]) -> None:
    path = _copy_policy(tmp_path, "severity.yaml")
    alias = tmp_path / "alias.md"
    os.link(path, alias)
    before = path.read_bytes()
    assert summary_cli.main(["--input-glob", str(reports[0].parent / "*.json"), "--policy", str(path), "--output-md", str(alias)]) == 2
    assert path.read_bytes() == before
    _one_error_line(capsys.readouterr().err, f"--output-md {alias} is the same file as --policy {path}")


def test_summarize_refuses_to_write_over_a_local_baseline(tmp_path: Path, reports: list[Path], capsys: pytest.CaptureFixture[str]) -> None:
    glob = str(reports[0].parent / "*.json")
    baseline = tmp_path / "base.json"
    assert summary_cli.main(["--input-glob", glob, "--output-json", str(baseline), "--quiet"]) == 0
    before = baseline.read_bytes()
    capsys.readouterr()
    assert summary_cli.main(["--input-glob", glob, "--baseline", str(baseline), "--output-json", str(baseline)]) == 2
    assert baseline.read_bytes() == before
    _one_error_line(capsys.readouterr().err, f"--output-json {baseline} is the same file as --baseline {baseline}")


def test_summarize_refuses_an_output_that_is_one_of_the_reports_it_reads(reports: list[Path], capsys: pytest.CaptureFixture[str]) -> None:
    for glob in (str(reports[0]), str(reports[0].parent / "*.json")):  # the only match, or one of several
        before = reports[0].read_bytes()
        assert summary_cli.main(["--input-glob", glob, "--output-json", str(reports[0])]) == 2
        assert reports[0].read_bytes() == before
        err = capsys.readouterr().err
        _one_error_line(err, f"--output-json {reports[0]} is the same file as {reports[0]}, which --input-glob {glob} matches")
        assert "no file matches" not in err


def test_summarize_rerun_over_its_own_earlier_outputs_still_works(
    tmp_path: Path, reports: list[Path], capsys: pytest.CaptureFixture[str]
) -> None:
    folder = reports[0].parent
    argv = ["--input-glob", str(folder / "*"), "--output-json", str(folder / "summary.json"), "--output-md", str(folder / "summary.md")]
    assert summary_cli.main([*argv, "--quiet"]) == 0
    assert summary_cli.main([*argv, "--quiet"]) == 0  # its glob now matches its own summary and Markdown: skipped, replaced
    assert json.loads((folder / "summary.json").read_text(encoding="utf-8"))["counts"]["reports"] == 2
    assert capsys.readouterr().err == ""


def test_summarize_says_when_only_its_own_output_matches(tmp_path: Path, reports: list[Path], capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "s.json"
    assert summary_cli.main(["--input-glob", str(reports[0].parent / "*.json"), "--output-json", str(out), "--quiet"]) == 0
    capsys.readouterr()
    assert summary_cli.main(["--input-glob", str(out), "--output-json", str(out)]) == 2
    _one_error_line(capsys.readouterr().err, "no file matches but --output-json", "own earlier output")


# -- preflight-diff ------------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("flag", ["--output-json", "--output-md"])
def test_diff_refuses_to_write_over_a_report(flag: str, reports: list[Path], capsys: pytest.CaptureFixture[str]) -> None:
    a, b = reports
    before = b.read_bytes()
    assert diff_cli.main([str(a), str(b), flag, str(b)]) == 2
    assert b.read_bytes() == before
    _one_error_line(capsys.readouterr().err, f"preflight-diff: error: {flag} {b} is the same file as B.json {b}: it would be overwritten")


def test_diff_refuses_to_write_over_its_policy(tmp_path: Path, reports: list[Path], capsys: pytest.CaptureFixture[str]) -> None:
    policy = _copy_policy(tmp_path, "diff.yaml")
    before = policy.read_bytes()
    assert diff_cli.main([str(reports[0]), str(reports[1]), "--policy", str(policy), "--output-md", str(policy)]) == 2
    assert policy.read_bytes() == before
    _one_error_line(capsys.readouterr().err, f"--output-md {policy} is the same file as --policy {policy}")


def test_diff_refuses_the_policy_named_by_its_variable(
    tmp_path: Path, reports: list[Path], capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    policy = _copy_policy(tmp_path, "diff.yaml")
    monkeypatch.setenv("PREFLIGHT_DIFF_POLICY", str(policy))
    before = policy.read_bytes()
    assert diff_cli.main([str(reports[0]), str(reports[1]), "--output-json", str(policy)]) == 2
    assert policy.read_bytes() == before
    _one_error_line(capsys.readouterr().err, "is the same file as $PREFLIGHT_DIFF_POLICY")


# -- preflight-matrix status ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize("flag", ["--output-json", "--html"])
def test_matrix_refuses_to_write_over_an_artifact_it_reads(flag: str, reports: list[Path], capsys: pytest.CaptureFixture[str]) -> None:
    report = reports[0]
    before = report.read_bytes()
    assert matrix_cli.main(["status", "--input-glob", str(report), flag, str(report)]) == 2
    assert report.read_bytes() == before
    _one_error_line(capsys.readouterr().err, f"{flag} {report} is the same file as {report}, which --input-glob {report} matches")


@pytest.mark.parametrize("flag", ["--output-json", "--html"])
def test_matrix_refuses_to_write_over_the_history(
    flag: str, history: Path, reports: list[Path], capsys: pytest.CaptureFixture[str]
) -> None:
    before = history.read_bytes()
    argv = [
        "status",
        "--input-glob",
        str(reports[0].parent / "*.json"),
        "--history",
        str(history),
        "--html",
        str(history.with_suffix(".html")),
    ]
    if flag == "--html":
        argv[-1] = str(history)
    else:
        argv += [flag, str(history)]
    assert matrix_cli.main(argv) == 2
    assert history.read_bytes() == before
    assert not history.with_suffix(".html").exists()  # refused before anything was written
    _one_error_line(capsys.readouterr().err, f"{flag} {history} is the same file as --history {history}")


def test_matrix_rerun_over_its_own_earlier_snapshot_still_works(reports: list[Path], capsys: pytest.CaptureFixture[str]) -> None:
    folder = reports[0].parent
    argv = ["status", "--input-glob", str(folder / "*.json"), "--output-json", str(folder / "snap.json"), "--html", str(folder / "m.html")]
    assert matrix_cli.main(argv) == 0
    assert matrix_cli.main(argv) == 0  # its glob now matches its earlier snapshot: ignored (not an artifact), replaced
    inputs = json.loads((folder / "snap.json").read_text(encoding="utf-8"))["inputs"]
    assert (inputs["read"]["preflight"], inputs["ignored"]) == (2, [str(folder / "snap.json")])
    capsys.readouterr()


# -- runtime-preflight ---------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("flag", ["--output-md", "--output-path", "--output-html", "--output-junit"])
def test_preflight_refuses_to_write_over_its_policy(flag: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    policy = _copy_policy(tmp_path, "severity.yaml")
    before = policy.read_bytes()
    argv = ["--device", "cpu", "--policy", str(policy), "--output-path", str(tmp_path / "r.json"), flag, str(policy)]
    assert preflight_main.main(argv) == 2
    assert policy.read_bytes() == before
    assert not (tmp_path / "r.json").exists()
    _one_error_line(capsys.readouterr().err, f"{flag} {policy} is the same file as --policy {policy}")


def test_preflight_refuses_an_output_that_is_the_interpreter_through_a_link(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    # An interpreter atomic.destination cannot tell from a document (no ELF header, no #!): only the comparison stops it.
    interpreter = tmp_path / "python-wrapper"
    interpreter.write_text("not recognised as a program\n")
    link = tmp_path / "bin" / "python"
    link.parent.mkdir()
    link.symlink_to(interpreter)
    before = interpreter.read_bytes()
    assert preflight_main.main(["--device", "cpu", "--python", str(link), "--output-path", str(interpreter)]) == 2
    assert interpreter.read_bytes() == before
    _one_error_line(capsys.readouterr().err, f"--output-path {interpreter} is the same file as --python {link}")


def test_preflight_output_over_a_real_interpreter_is_refused_too(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    link = tmp_path / "python"
    link.symlink_to(os.path.realpath(sys.executable))
    before = Path(os.path.realpath(sys.executable)).stat().st_mtime_ns
    with pytest.raises(SystemExit) as exited:  # argparse's output type says it is a program
        preflight_main.main(["--device", "cpu", "--python", str(link), "--output-md", str(link)])
    assert exited.value.code == 2
    assert Path(os.path.realpath(sys.executable)).stat().st_mtime_ns == before
    _one_error_line(capsys.readouterr().err, "--output-md", "program")


# -- preflight-sweep export ----------------------------------------------------------------------------------------------

FLOW = """name: tiny
seed: 3
axes:
  mode: [a, b]
steps:
  - name: work
    adapter: noop
    params: {tag: "${mode}"}
"""


@pytest.fixture
def sweep_run(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> Path:
    flow = tmp_path / "tiny.yaml"
    flow.write_text(FLOW, encoding="utf-8")
    out = tmp_path / "runs"
    assert sweep_cli.main(["--output-root", str(out), "run", "--flow", str(flow), "--no-probe", "--yes", "--plain"]) == 0
    capsys.readouterr()
    (run,) = out.iterdir()
    return run


def _tree(run: Path) -> dict[str, bytes]:
    return {str(p.relative_to(run)): p.read_bytes() for p in sorted(run.rglob("*")) if p.is_file()}


@pytest.mark.parametrize("own", ["summary.json", "plan.json", "report.md", "subruns/p000/summary.json", "subruns/p000/new.csv"])
def test_sweep_export_refuses_an_output_over_the_runs_own_files(own: str, sweep_run: Path, capsys: pytest.CaptureFixture[str]) -> None:
    before = _tree(sweep_run)
    code = sweep_cli.main(["--output-root", str(sweep_run.parent), "export", "--run-id", sweep_run.name, "--output", str(sweep_run / own)])
    assert code == 2
    assert _tree(sweep_run) == before
    _one_error_line(capsys.readouterr().err, f"--output {sweep_run / own}")


def test_sweep_export_refuses_a_hard_link_to_the_runs_summary(tmp_path: Path, sweep_run: Path, capsys: pytest.CaptureFixture[str]) -> None:
    alias = tmp_path / "export.csv"
    os.link(sweep_run / "summary.json", alias)
    before = _tree(sweep_run)
    assert sweep_cli.main(["--output-root", str(sweep_run.parent), "export", "--run-id", sweep_run.name, "--output", str(alias)]) == 2
    assert _tree(sweep_run) == before
    _one_error_line(capsys.readouterr().err, f"--output {alias} is the same file as --run-id {sweep_run.name}'s summary.json")


def test_sweep_export_to_its_own_file_or_elsewhere_still_works(tmp_path: Path, sweep_run: Path, capsys: pytest.CaptureFixture[str]) -> None:
    base = ["--output-root", str(sweep_run.parent), "export", "--run-id", sweep_run.name]
    assert sweep_cli.main(base) == 0
    assert sweep_cli.main([*base, "--output", str(sweep_run / "steps.csv")]) == 0
    assert sweep_cli.main([*base, "--output", str(tmp_path / "elsewhere.csv")]) == 0
    assert (tmp_path / "elsewhere.csv").read_text(encoding="utf-8").startswith("run_id,point_id,")
    capsys.readouterr()


@pytest.mark.parametrize(
    ("main", "argv"),
    [
        (summary_cli.main, ["--input-glob", "{in}/*.json", "--output-json", "{out}", "--output-md", "{out}"]),
        (matrix_cli.main, ["status", "--input-glob", "{in}/*.json", "--output-json", "{out}", "--html", "{out}"]),
        (diff_cli.main, ["{in}/report-000.json", "{in}/report-001.json", "--output-json", "{out}", "--output-md", "{out}"]),
    ],
)
def test_two_outputs_on_one_file_are_refused_before_either_is_written(
    main: Callable[[list[str]], int], argv: list[str], tmp_path: Path, reports: list[Path], capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "both.out"
    out.write_text("kept\n")
    filled = [arg.replace("{in}", str(reports[0].parent)).replace("{out}", str(out)) for arg in argv]
    assert main(filled) == 2
    assert out.read_text() == "kept\n"
    _one_error_line(capsys.readouterr().err, f"{out} is the same file as --output-json {out}")
