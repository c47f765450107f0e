"""Every reader of a verdict shows "not judged" as such: the summary JSON and Markdown, the job summary, the PR comment,
the runtime matrix, ``--fail-on failure``. The inputs are a real run the budget cut (``--budget 0.5``), an
interrupted run's report and a healthy one."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from preflight_action.github.limits import COMMENT
from preflight_action.summary import markdown as summary_render
from tests.conftest import ROOT
from tests.support import report_factory
from tests.support.gate_reports import run_preflight

SUMMARIZE = ROOT / "scripts" / "summarize.py"
MATRIX = ROOT / "scripts" / "runtime_matrix.py"


@pytest.fixture(scope="module")
def reports(tmp_path_factory: pytest.TempPathFactory) -> Path:
    where = tmp_path_factory.mktemp("reports")
    run_preflight(where / "cut.json", "--level", "quick", "--budget", "0.5")
    (where / "interrupted.json").write_text(json.dumps(report_factory.interrupted(node="gpu-03")))
    (where / "healthy.json").write_text(json.dumps(report_factory.report_doc(node="gpu-01", backend="cpu")))
    return where


def _summarize(reports: Path, tmp_path: Path, *flags: str) -> tuple[subprocess.CompletedProcess[str], dict[str, object], str, str]:
    step = tmp_path / "step_summary.md"
    step.write_text("")
    env = {**os.environ, "GITHUB_STEP_SUMMARY": str(step)}
    argv = [sys.executable, str(SUMMARIZE), "--input-glob", str(reports / "*.json"), "--quiet", "--step-summary"]
    argv += ["--output-json", str(tmp_path / "summary.json"), "--output-md", str(tmp_path / "summary.md"), *flags]
    done = subprocess.run(argv, capture_output=True, text=True, timeout=120, env=env, check=False)
    return done, json.loads((tmp_path / "summary.json").read_text()), (tmp_path / "summary.md").read_text(), step.read_text()


def test_the_summary_counts_not_judged_reports_as_such_never_as_passed(reports: Path, tmp_path: Path) -> None:
    done, document, markdown, step = _summarize(reports, tmp_path)
    assert done.returncode == 0, done.stderr
    assert document["status"] == "incomplete"
    assert document["counts"]["passed"] == 1
    assert document["counts"]["not_judged"] == 2
    rows = {Path(str(row["path"])).name: row for row in document["reports"]}  # type: ignore[attr-defined]
    for name in ("cut.json", "interrupted.json"):
        assert (rows[name]["status"], rows[name]["verdict"]) == ("incomplete", "not_judged")
        assert rows[name]["unfinished"] > 0
    assert (rows["healthy.json"]["status"], rows["healthy.json"]["verdict"]) == ("pass", "healthy")
    for text in (markdown, step):  # the --output-md file and the job summary
        assert "Runtime preflight summary: INCOMPLETE" in text
        assert "1 passed, 0 failed, **2 not judged** (a required check never finished: not a pass)" in text
        assert text.count("| ⏸️ not judged (") == 2
        assert text.count("| ✅ pass |") == 1
        assert "⏸️ Not judged" in text  # the matrix cells


def test_the_pr_comment_says_not_judged(reports: Path, tmp_path: Path) -> None:
    from preflight_action.preflight import severity
    from preflight_action.summary import load, model

    inputs = load.load_reports(sorted(reports.glob("*.json")))
    merged = model.build(inputs, severity.load())
    comment = summary_render.render(merged, "default", limit=COMMENT).text
    assert "**2 not judged**" in comment
    rows = [line for line in comment.split("### Report status", 1)[1].splitlines() if line.startswith("| ")]
    assert rows[2].startswith("| ⏸️ not judged (")  # after the header: the reports that need a look come first
    assert rows[3].startswith("| ⏸️ not judged (")
    assert rows[4].startswith("| ✅ pass | gpu-01 |")


def test_fail_on_failure_fails_a_run_that_was_not_judged(reports: Path, tmp_path: Path) -> None:
    done, _, _, _ = _summarize(reports, tmp_path, "--fail-on", "failure")
    assert done.returncode == 1
    assert "summarize: --fail-on failure: 2 reports were not judged (a required check never finished)" in done.stderr


def test_the_matrix_shows_a_not_judged_lane_never_ready(reports: Path, tmp_path: Path) -> None:
    out = tmp_path / "matrix.json"
    argv = [sys.executable, str(MATRIX), "status", "--input-glob", str(reports / "*.json"), "--output-json", str(out)]
    argv += ["--html", str(tmp_path / "matrix.html")]
    done = subprocess.run(argv, capture_output=True, text=True, timeout=120, check=False)
    assert done.returncode == 0, done.stderr
    snapshot = json.loads(out.read_text())
    assert snapshot["schema_version"] == "1.1"
    interrupted = snapshot["items"]["gpu-03"]["status"]
    assert interrupted["code"] == "not_judged"
    assert interrupted["severity"] == "warning"
    assert interrupted["label"].startswith("Not judged - ")
    assert "not judged: 4 required checks interrupted by SIGINT" in interrupted["label"]
    html = (tmp_path / "matrix.html").read_text()
    assert 'data-code="not_judged"' in html
    assert "Not judged" in html
