"""The merged summary model and the summarize CLI, on real schema-valid report files."""

from __future__ import annotations

import copy
import json
import subprocess
import sys
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import pytest

from preflight_action import schemas
from preflight_action.errors import SchemaError
from preflight_action.matrix import model as matrix
from preflight_action.preflight import severity as policy_module
from preflight_action.preflight.report import CheckResult, Report
from preflight_action.summary import cli as cli_summarize
from preflight_action.summary import load as summary_load
from preflight_action.summary import model as summary
from preflight_action.summary import serialise as summary_json
from tests.support import report_factory

ROOT = Path(__file__).resolve().parents[2]
# "Now" is the real clock (whole seconds), and every fixture timestamp is relative to it: the CLIs judge
# freshness against the real clock, so a fixed date would rot the suite a day after it was written.
NOW = datetime.now(timezone.utc).replace(microsecond=0)
CHECK_IDS = (
    "torch.import",
    "device.resolve",
    "capabilities.detect",
    "tensor.smoke",
    "dtype.support",
    "torchvision.import",
    "compile.smoke",
    "deps.consistency",
)


def ago(**delta: float) -> str:
    """The ISO timestamp `delta` (timedelta keywords) before NOW."""
    return matrix.iso(NOW - timedelta(**delta))


def report_doc(
    node: str = "node-a",
    backend: str = "cuda",
    failures: dict[str, str] | None = None,
    finished_at: str | None = None,
    simulated: bool = False,
    os_name: str = "Linux",
    python: str = "3.12.4",
) -> dict[str, Any]:
    """A schema-valid report built by the real triage code (scores from the shipped policy)."""
    failures = failures or {}
    finished_at = finished_at or ago(hours=1)
    checks = []
    for check_id in CHECK_IDS:
        if check_id in failures:
            checks.append(CheckResult(check_id, "fail", duration_ms=5.0, error=failures[check_id]))
        elif check_id == "compile.smoke":
            checks.append(CheckResult.skipped(check_id, "not requested (pass --check-compile to run it)"))
        else:
            checks.append(CheckResult(check_id, "pass", duration_ms=3.0))
    checks += [CheckResult(c, "fail", duration_ms=1.0, error=e) for c, e in failures.items() if c not in CHECK_IDS]
    return report_factory.build(
        checks,
        node=node,
        backend=backend,
        finished_at=finished_at,
        simulated=simulated,
        os_name=os_name,
        python=python,
        check_torchvision=True,
    )


def write_reports(directory: Path, documents: list[dict[str, Any]]) -> list[Path]:
    directory.mkdir(parents=True, exist_ok=True)
    paths = []
    for index, document in enumerate(documents):
        path = directory / f"report-{index:03d}.json"
        path.write_text(json.dumps(document), encoding="utf-8")
        paths.append(path)
    return paths


def matrix_docs() -> list[dict[str, Any]]:
    return [
        report_doc("gpu-1", "cuda", {"tensor.smoke": "RuntimeError: CUDA error: illegal memory access"}),
        report_doc(
            "gpu-2", "cuda", {"tensor.smoke": "RuntimeError: CUDA out of memory", "torchvision.import": "No module named 'torchvision'"}
        ),
        report_doc("gpu-1", "cpu"),
        report_doc("mac-1", "mps", {"torchvision.import": "ImportError: torchvision 0.1 wants torch 1.0"}),
        report_doc("box-9", "cpu", finished_at=ago(days=3, hours=4)),
    ]


def summarize(tmp_path: Path, documents: list[dict[str, Any]], **kwargs: Any) -> summary.Summary:
    paths = write_reports(tmp_path / "in", documents)
    return summary.build(summary_load.load_reports(paths), policy_module.load(), now=NOW, **kwargs)


def test_merged_counts_status_and_rows_put_failures_first(tmp_path: Path) -> None:
    merged = summarize(tmp_path, matrix_docs())
    assert merged.status == "fail"
    assert merged.counts == {
        "reports": 5, "passed": 2, "not_judged": 0, "failed": 3, "simulated": 0, "stale": 1, "invalid": 0, "ignored": 0,
        "checks_passed": 5 * 7 - 4, "checks_failed": 4, "checks_skipped": 5,
    }  # fmt: skip
    assert [r.status for r in merged.rows] == ["fail", "fail", "fail", "pass", "pass"]
    assert merged.rows[0].highest_band == "critical"
    assert [r.node_id for r in merged.rows[3:]] == ["gpu-1", "box-9"]  # fresh before stale
    assert merged.highest_band == "critical"
    assert merged.blocking


def test_triage_ranks_failed_checks_across_reports_with_count_and_worst_band(tmp_path: Path) -> None:
    merged = summarize(tmp_path, matrix_docs())
    top = [(f.check_id, f.reports, f.worst_band, f.backends) for f in merged.top_failed]
    assert top == [("tensor.smoke", 2, "critical", ("cuda",)), ("torchvision.import", 2, "medium", ("cuda", "mps"))]
    assert merged.top_failed[0].action == "Block release candidates and fix before merge."
    assert merged.top_failed[0].error.startswith("RuntimeError: CUDA")


def test_by_backend_groups_use_the_band_action_from_the_policy(tmp_path: Path) -> None:
    merged = summarize(tmp_path, matrix_docs())
    policy = policy_module.load()
    groups = {g.backend: g for g in merged.by_backend}
    assert set(groups) == {"cuda", "mps"}  # cpu has no failures
    assert groups["cuda"].worst_band == "critical"
    assert groups["cuda"].reports_affected == 2
    assert groups["cuda"].reports_total == 2
    assert groups["cuda"].checks == ("tensor.smoke", "torchvision.import")
    assert groups["mps"].action == policy.band_named("medium").action
    assert [g.backend for g in merged.by_backend] == ["cuda", "mps"]  # worst band first


def test_matrix_view_is_the_shared_matrix_read_model(tmp_path: Path) -> None:
    documents = matrix_docs()
    merged = summarize(tmp_path, documents)
    lanes = [matrix.lane_from_report(Report.from_dict(d)) for d in documents]
    nodes, backends, cells = matrix.grid(matrix.build_snapshot(lanes, now=NOW, ttl_seconds=24 * 3600))
    assert merged.matrix.nodes == tuple(nodes)
    assert merged.matrix.backends == tuple(backends)
    assert {(c.node, c.backend): c.code for c in merged.matrix.cells} == {k: v["code"] for k, v in cells.items()}
    cell = merged.matrix.cell("gpu-1", "cuda")
    assert cell is not None
    assert cell.code == "down"
    stale = merged.matrix.cell("box-9", "cpu")
    assert stale is not None
    assert stale.code == "stale"


def test_stale_flag_follows_the_freshness_window(tmp_path: Path) -> None:
    documents = [report_doc("old", "cpu", finished_at=ago(hours=25))]
    assert summarize(tmp_path / "a", documents).rows[0].stale
    assert not summarize(tmp_path / "b", documents, freshness_hours=48).rows[0].stale
    assert summarize(tmp_path / "c", documents, freshness_hours=48).rows[0].age_hours == 25.0


def test_simulated_reports_never_count_as_passed(tmp_path: Path) -> None:
    merged = summarize(tmp_path, [report_doc("sim", "cuda", simulated=True)])
    assert merged.counts["passed"] == 0
    assert merged.counts["simulated"] == 1
    assert merged.status == "incomplete"


def test_invalid_inputs_are_listed_with_pointer_and_never_stop_the_others(tmp_path: Path) -> None:
    good = write_reports(tmp_path / "in", [report_doc("ok", "cpu")])
    broken = copy.deepcopy(report_doc("bad", "cpu"))
    broken["checks"][3]["status"] = "maybe"
    del broken["host"]["node_id"]
    (tmp_path / "in" / "schema.json").write_text(json.dumps(broken), encoding="utf-8")
    (tmp_path / "in" / "torn.json").write_text('{"schema_version": "1.0", ', encoding="utf-8")
    (tmp_path / "in" / "binary.json").write_bytes(b"\xff\xfe\x00garbage")
    paths = summary_load.expand([str(tmp_path / "in" / "*.json")])
    merged = summary.build(summary_load.load_reports(paths), policy_module.load(), now=NOW)
    assert [r.path for r in merged.rows] == [str(good[0])]
    reasons = {Path(i.path).name: i for i in merged.invalid}
    assert set(reasons) == {"schema.json", "torn.json", "binary.json"}
    assert "/checks/3/status" in reasons["schema.json"].reason
    assert "/host: 'node_id' is a required property" in reasons["schema.json"].problems
    assert "malformed JSON at line 1" in reasons["torn.json"].reason
    assert "cannot read" in reasons["binary.json"].reason
    assert merged.status == "incomplete"


def test_summary_json_is_schema_valid_and_the_schema_rejects_bad_documents(tmp_path: Path) -> None:
    merged = summarize(tmp_path, matrix_docs())
    document = json.loads(summary_json.dumps(merged))
    assert schemas.problems(document, "preflight_summary") == []
    assert document["kind"] == "preflight-summary"
    bad = copy.deepcopy(document)
    bad["status"] = "green"
    bad["reports"][0]["colour"] = "red"
    assert schemas.problems(bad, "preflight_summary") == [
        "/reports/0: Additional properties are not allowed ('colour' was unexpected)",
        "/status: 'green' is not one of ['pass', 'fail', 'incomplete']",
    ]
    path = tmp_path / "bad.json"
    path.write_text(json.dumps(bad), encoding="utf-8")
    with pytest.raises(SchemaError, match="/status"):
        summary_json.read(path)


@pytest.mark.parametrize(
    "mutate",
    [
        lambda d: d.update(finished_at="yesterday"),
        lambda d: d["checks"][0].update(status="maybe"),
        lambda d: d["checks"][0].update(id="NoDots"),
        lambda d: d["checks"][6].update(skip_reason=""),
        lambda d: d.update(extra=1),
        lambda d: d["triage"].update(highest_band="severe"),
        lambda d: d.update(schema_version="2.0"),
        lambda d: d["env_fingerprint"].update(sha256="xyz"),
    ],
)
def test_fast_path_rejects_what_the_schema_rejects_with_the_same_messages(mutate: Any) -> None:
    document = report_doc()
    assert schemas._fast("preflight_report") is not None
    assert schemas.problems(document, "preflight_report") == []
    mutate(document)
    assert not schemas._fast("preflight_report").is_valid(document)
    expected = [f"{e}" for e in schemas.problems(document, "preflight_report")]
    assert expected
    assert not schemas.is_valid(document, "preflight_report")


# -- the CLI -----------------------------------------------------------------


def run_cli(argv: list[str], capsys: pytest.CaptureFixture[str]) -> tuple[int, str, str]:
    code = cli_summarize.main(argv)
    out, err = capsys.readouterr()
    return code, out, err


def test_cli_writes_markdown_and_json_and_skips_its_own_outputs_on_rerun(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("GITHUB_RUN_ID", raising=False)
    write_reports(tmp_path, matrix_docs())
    args = [
        "--input-glob",
        str(tmp_path / "*.json"),
        "--output-md",
        str(tmp_path / "summary.md"),
        "--output-json",
        str(tmp_path / "summary.json"),
    ]
    assert run_cli(args, capsys)[0] == 0
    first = summary_json.read(tmp_path / "summary.json")
    assert first["counts"]["reports"] == 5
    assert first["status"] == "fail"
    assert "## ❌ Runtime preflight summary: FAIL" in (tmp_path / "summary.md").read_text(encoding="utf-8")
    # a copy of a summary among the inputs is recognised and ignored, not called invalid
    (tmp_path / "copy-of-summary.json").write_text((tmp_path / "summary.json").read_text(encoding="utf-8"), encoding="utf-8")
    assert run_cli(args, capsys)[0] == 0
    second = summary_json.read(tmp_path / "summary.json")
    assert second["counts"]["reports"] == 5
    assert second["counts"]["invalid"] == 0
    assert [Path(i["path"]).name for i in second["ignored_inputs"]] == ["copy-of-summary.json"]


def test_cli_empty_glob_is_a_clear_usage_error(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, _, err = run_cli(["--input-glob", str(tmp_path / "nothing-*.json"), "--output-json", str(tmp_path / "s.json")], capsys)
    assert code == 2
    assert err.strip().splitlines() == [
        f"preflight-summarize: error: --input-glob {tmp_path / 'nothing-*.json'}: no file matches (did the report artifacts download?)"
    ]
    assert not (tmp_path / "s.json").exists()


def test_cli_invalid_input_exits_2_but_still_writes_the_summary(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    write_reports(tmp_path, [report_doc("ok", "cpu")])
    (tmp_path / "broken.json").write_text("{", encoding="utf-8")
    base = ["--input-glob", str(tmp_path / "*.json"), "--output-json", str(tmp_path / "out" / "s.json"), "--quiet"]
    code, _out, err = run_cli(base, capsys)
    assert code == 2
    assert err.strip().splitlines() == [
        f"summarize: invalid input {tmp_path / 'broken.json'}: malformed JSON at line 1 column 2: Expecting property name enclosed in double quotes"
    ]
    assert run_cli([*base, "--allow-invalid"], capsys)[0] == 0
    written = summary_json.read(tmp_path / "out" / "s.json")
    assert written["counts"]["reports"] == 1
    assert written["invalid_inputs"][0]["path"].endswith("broken.json")


def test_cli_step_summary_appends_and_links_the_run(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    step = tmp_path / "step_summary.md"
    step.write_text("# earlier step output\n", encoding="utf-8")
    monkeypatch.setenv("GITHUB_STEP_SUMMARY", str(step))
    monkeypatch.setenv("GITHUB_SERVER_URL", "https://github.com")
    monkeypatch.setenv("GITHUB_REPOSITORY", "octo/demo")
    monkeypatch.setenv("GITHUB_RUN_ID", "42")
    write_reports(tmp_path / "in", matrix_docs())
    assert run_cli(["--input-glob", str(tmp_path / "in" / "*.json"), "--step-summary", "--quiet"], capsys)[0] == 0
    text = step.read_text(encoding="utf-8")
    assert text.startswith("# earlier step output\n\n<!-- preflight-action:summary key=default -->")
    assert "[Workflow run](https://github.com/octo/demo/actions/runs/42)" in text
    assert "[Artifacts](https://github.com/octo/demo/actions/runs/42#artifacts)" in text


def test_cli_step_summary_that_is_already_full_is_left_alone_with_a_warning(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    step = tmp_path / "step_summary.md"
    step.write_text("x" * (1024 * 1024 - 500), encoding="utf-8")
    monkeypatch.setenv("GITHUB_STEP_SUMMARY", str(step))
    write_reports(tmp_path / "in", [report_doc()])
    code, out, _ = run_cli(["--input-glob", str(tmp_path / "in" / "*.json"), "--step-summary", "--quiet"], capsys)
    assert code == 0
    assert out.startswith("::warning::job summary already holds 1048076 bytes")
    assert step.stat().st_size == 1024 * 1024 - 500


def test_cli_comment_without_a_pull_request_warns_and_require_comment_fails(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    for name in ("GITHUB_EVENT_PATH", "GITHUB_REPOSITORY", "GITHUB_TOKEN"):
        monkeypatch.delenv(name, raising=False)
    write_reports(tmp_path, [report_doc("ok", "cpu")])
    args = [
        "--input-glob",
        str(tmp_path / "*.json"),
        "--output-md",
        str(tmp_path / "o" / "s.md"),
        "--post-comment",
        "--repo",
        "octo/demo",
        "--quiet",
    ]
    code, out, _ = run_cli(args, capsys)
    assert code == 0
    assert (
        out.strip()
        == "::warning title=preflight summary::PR comment not posted: not a pull request event (pass --pr NUMBER to comment anyway)"
    )
    assert (tmp_path / "o" / "s.md").is_file()
    assert run_cli([*args, "--require-comment"], capsys)[0] == 1


def test_both_scripts_take_the_same_flags(tmp_path: Path) -> None:
    document = report_doc("ok", "cpu")
    finished = matrix.parse_time(document["finished_at"])
    write_reports(tmp_path, [document])
    outputs = []
    for script in ("summarize.py", "summarize_runtime_preflight.py"):
        target = tmp_path / f"{script}.json"
        before = datetime.now(timezone.utc)
        done = subprocess.run(
            [sys.executable, str(ROOT / "scripts" / script), "--input-glob", str(tmp_path / "report-*.json"), "--output-json", str(target), "--quiet"],
            capture_output=True, text=True, timeout=60, check=False,
        )  # fmt: skip
        after = datetime.now(timezone.utc)
        assert done.returncode == 0, done.stderr
        summary_doc = json.loads(target.read_text(encoding="utf-8"))
        # Each script reads the clock itself: the report's age is the one at its own run (two runs can straddle
        # a 0.01 h step), everything else is the same summary.
        (row,) = summary_doc["reports"]
        hours = [round((moment - finished).total_seconds() / 3600, 2) for moment in (before, after)]
        assert hours[0] <= row.pop("age_hours") <= hours[1], script
        outputs.append({k: v for k, v in summary_doc.items() if k != "generated_at"})
    assert outputs[0]["counts"]["reports"] == 1
    assert outputs[0] == outputs[1]


@pytest.mark.parametrize(
    ("hours", "why"),
    [
        ("nan", "must be a finite number of hours, got 'nan'"),
        ("inf", "must be a finite number of hours, got 'inf'"),
        ("0", "must be above 0 h, got 0"),
        ("-1", "must be above 0 h, got -1"),
        ("1e9", "must be at most 876600 h, got 1e9"),
    ],
)
def test_freshness_must_be_a_positive_finite_number(tmp_path: Path, capsys: pytest.CaptureFixture[str], hours: str, why: str) -> None:
    write_reports(tmp_path, [report_doc("ok", "cpu")])
    with pytest.raises(SystemExit) as exited:
        cli_summarize.main(
            ["--input-glob", str(tmp_path / "*.json"), "--output-json", str(tmp_path / "s.json"), "--freshness-hours", hours]
        )
    assert exited.value.code == 2
    assert capsys.readouterr().err.splitlines()[-1] == f"preflight-summarize: error: argument --freshness-hours: {why}"
    assert not (tmp_path / "s.json").exists()


def test_a_workflow_run_poster_links_the_ci_run_that_made_the_reports(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("GITHUB_SERVER_URL", "https://github.com")
    monkeypatch.setenv("GITHUB_REPOSITORY", "o/r")
    monkeypatch.setenv("GITHUB_RUN_ID", "999")  # the posting run
    write_reports(tmp_path, [report_doc("ok", "cpu")])
    out = tmp_path / "out" / "s.md"
    argv = [
        "--input-glob",
        str(tmp_path / "*.json"),
        "--output-md",
        str(out),
        "--artifact-url",
        "https://github.com/o/r/actions/runs/123#artifacts",
    ]
    assert run_cli(argv, capsys)[0] == 0
    text = out.read_text(encoding="utf-8")
    assert "https://github.com/o/r/actions/runs/123" in text
    assert "/runs/999" not in text


def test_one_report_is_counted_in_correct_english_and_a_flag_that_does_nothing_says_so(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    write_reports(tmp_path / "in", [report_doc("gpu-1")])
    argv = ["--input-glob", str(tmp_path / "in" / "*.json"), "--output-json", str(tmp_path / "s.json"), "--history-from", "github"]
    assert cli_summarize.main(argv) == 0
    err = capsys.readouterr().err
    assert "preflight-summarize: warning: --history-from does nothing without --history PATH" in err
    assert ": 1 report, 1 passed" in err
    assert "1 reports" not in err
