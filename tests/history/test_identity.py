"""The history appends a report once (by its identity: node, start, report id), keeps a value out of its own baseline,
charts by when reports finished, says in the Markdown why there are no trends, and writes after the summary."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import time_machine
import yaml

from preflight_action.summary import cli
from preflight_action.summary import serialise as summary_json
from tests.conftest import ROOT
from tests.support import console, report_factory
from tests.support.report_factory import report_doc, write

START = datetime.now(timezone.utc).replace(microsecond=0) - timedelta(days=30)  # relative: the suite passes on any date


def _summarize(tmp_path: Path, documents: list[dict[str, Any]], day: int, *extra: str) -> tuple[int, dict[str, Any], str]:
    pattern = write(tmp_path / f"in-{day}", documents)
    out_json, out_md = tmp_path / "s.json", tmp_path / "s.md"
    argv = ["--input-glob", pattern, "--output-json", str(out_json), "--output-md", str(out_md), "--history", str(tmp_path / "h.jsonl")]
    with time_machine.travel(START + timedelta(days=day, hours=1), tick=False):
        code = cli.main([*argv, "--quiet", *extra])
    return code, summary_json.read(out_json), out_md.read_text(encoding="utf-8")


def _night(day: int, bf16: float, node: str = "gpu-17") -> dict[str, Any]:
    return report_doc(node, finished_at=START + timedelta(days=day), figures={"bf16": bf16, "copy_tbs": 3.0})


def _lines(tmp_path: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in (tmp_path / "h.jsonl").read_text().splitlines()]


def test_a_report_summarized_again_is_not_appended_and_not_its_own_baseline(tmp_path: Path) -> None:
    for day, value in enumerate((780.0, 790.0, 800.0)):
        assert _summarize(tmp_path, [_night(day, value)], day)[0] == 0
    dropped = _night(3, 500.0)
    code, first, _ = _summarize(tmp_path, [dropped], 3)
    assert code == 0
    [regression] = first["regressions"]
    assert (regression["baseline"], regression["runs"]) == (790.0, 3)
    assert first["history"]["records_added"] == 1
    # the job is re-run: the same report summarized again
    code, again, _ = _summarize(tmp_path, [dropped], 3)
    assert code == 0
    assert again["history"]["records_added"] == 0
    assert again["history"]["records_known"] == 1
    [regression] = again["regressions"]  # still judged, against the runs before it: its own 500 is not in the baseline
    assert (regression["baseline"], regression["runs"]) == (790.0, 3)
    lines = _lines(tmp_path)
    assert len(lines) == 4
    assert [line["figures"]["perf.matmul"]["bf16"] for line in lines] == [780.0, 790.0, 800.0, 500.0]
    assert all(len(line["report_id"]) == 64 and line["started_at"] for line in lines)


def test_an_old_report_beyond_the_tail_is_found_by_its_id(tmp_path: Path, monkeypatch: Any) -> None:
    shipped = yaml.safe_load((ROOT / "policy" / "history.yaml").read_text())
    shipped["regression"].update(window=1, min_runs=1)
    shipped["flaky"]["window"] = 2
    shipped["charts"]["points"] = 2
    policy = tmp_path / "history.yaml"
    policy.write_text(yaml.safe_dump(shipped))
    monkeypatch.setenv("PREFLIGHT_HISTORY_POLICY", str(policy))
    nights = [_night(day, 780.0 + day) for day in range(6)]
    for day, document in enumerate(nights):
        _summarize(tmp_path, [document], day)
    assert len(_lines(tmp_path)) == 6
    code, document, _ = _summarize(tmp_path, [nights[0]], 7)  # night 0's artifact, long out of the tail
    assert code == 0
    assert document["history"]["records_read"] < 6  # it was not in what was read
    assert (document["history"]["records_added"], document["history"]["records_known"]) == (0, 1)
    assert len(_lines(tmp_path)) == 6


def test_a_1_0_history_knows_its_reports_by_node_and_finish(tmp_path: Path) -> None:
    document = _night(0, 780.0)
    _summarize(tmp_path, [document], 0)
    legacy = _lines(tmp_path)[0]
    for key in ("report_id", "started_at"):
        del legacy[key]
    legacy["schema_version"] = "1.0"
    (tmp_path / "h.jsonl").write_text(json.dumps(legacy) + "\n")
    code, again, _ = _summarize(tmp_path, [document], 1)
    assert code == 0
    assert again["history"]["records_known"] == 1
    assert len(_lines(tmp_path)) == 1


def test_an_interrupted_report_enters_the_history_as_incomplete(tmp_path: Path) -> None:
    code, document, _ = _summarize(tmp_path, [report_factory.interrupted(node="gpu-03", finished_at=START)], 0)
    assert code == 0
    assert document["status"] == "incomplete"
    [line] = _lines(tmp_path)
    assert line["status"] == "incomplete"


def test_charts_run_along_when_reports_finished_and_name_their_lines(tmp_path: Path) -> None:
    # five nights of two nodes summarized at once (a backfill): five points, not one
    documents = [_night(day, 780.0 + day, node) for day in range(5) for node in ("gpu-01", "gpu-02")]
    code, _, markdown = _summarize(tmp_path, documents, 5)
    assert code == 0
    chart = markdown.split("```mermaid\n", 1)[1].split("```", 1)[0]
    labels = [(START + timedelta(days=day)).strftime("%m-%d %H:%M") for day in range(5)]
    assert f"x-axis [{', '.join(json.dumps(label) for label in labels)}]" in chart
    assert "fleet median and slowest node" in chart
    assert "first line: fleet median; second line: slowest node; x: when each report finished" in markdown


def test_the_spread_reads_as_a_spread(tmp_path: Path) -> None:
    for day, value in enumerate((781.6, 782.6, 781.6, 780.6, 783.6)):  # median 781.6, MAD 1: scaled, 1.4826
        _summarize(tmp_path, [_night(day, value)], day)
    code, _, markdown = _summarize(tmp_path, [_night(5, 500.0)], 5)
    assert code == 0
    assert "| 500 | 781.6 ± 1.5 |" in markdown  # not "781.6 ± 1.4826"


def test_a_corrupt_history_is_said_in_the_markdown_and_the_json(tmp_path: Path) -> None:
    history = tmp_path / "h.jsonl"
    history.write_text('{"at": "not a record"}\n')
    code, document, markdown = _summarize(tmp_path, [_night(0, 780.0)], 0)
    assert code == 2
    assert document["history_error"].startswith(f"{history}: line 1: does not match the history_record schema")
    assert "### Trends" in markdown
    assert "> No trends this run: the run history could not be used" in markdown
    assert f"{history}: line 1" in markdown
    assert history.read_text() == '{"at": "not a record"}\n'  # left as it was


def test_fail_on_perf_regression_fails_a_nightly_on_a_drop(tmp_path: Path) -> None:
    for day, value in enumerate((780.0, 790.0, 800.0)):
        assert _summarize(tmp_path, [_night(day, value)], day, "--fail-on", "perf-regression")[0] == 0
    code, _, _ = _summarize(tmp_path, [_night(3, 500.0)], 3, "--fail-on", "perf-regression")
    assert code == 1
    assert _summarize(tmp_path, [_night(4, 500.0)], 4, "--fail-on", "regression")[0] == 0  # regression: failed checks only


def test_ctrl_c_during_summarize_with_history_leaves_nothing_half_done(tmp_path: Path) -> None:
    """SIGINT at every moment of a run: one line (or the signal itself), no traceback, no temporary file; the history
    is either as it was or has the run, and it never has the run without the summary."""
    pattern = write(tmp_path / "in", [_night(day, 780.0 + day, f"gpu-{n:02d}") for day in range(3) for n in range(60)])
    history = tmp_path / "h.jsonl"
    seed = [_night(-1, 780.0, "gpu-00")]
    outcomes = set()
    for attempt in range(16):
        for stale in (tmp_path / "s.json", tmp_path / "s.md"):
            stale.unlink(missing_ok=True)
        subprocess.run(
            [
                sys.executable,
                str(ROOT / "scripts" / "summarize.py"),
                "--input-glob",
                write(tmp_path / "seed", seed),
                "--history",
                str(history),
                "--quiet",
            ],
            check=True,
            timeout=120,
            capture_output=True,
        )
        before = history.read_bytes()
        argv = ["--input-glob", pattern, "--history", str(history), "--quiet"]
        argv += ["--output-json", str(tmp_path / "s.json"), "--output-md", str(tmp_path / "s.md")]
        proc = console.started("summarize", "preflight-summarize", argv)
        time.sleep(0.05 * (attempt + 1))
        proc.send_signal(signal.SIGINT)
        _, err = proc.communicate(timeout=120)
        outcomes.add(proc.returncode)
        assert proc.returncode in (0, 130, -signal.SIGINT), err
        assert "Traceback" not in err, err
        if proc.returncode == 130:
            assert err.strip().splitlines() == ["preflight-summarize: interrupted by SIGINT"]
        after = history.read_bytes()
        assert after == before or after.startswith(before), "the history was replaced by something else"
        if after != before:
            assert (tmp_path / "s.json").exists(), "the history has this run but its summary was never written"
            assert json.loads((tmp_path / "s.json").read_text())["history"]["records_added"] == 180
        assert not [p.name for p in tmp_path.iterdir() if p.name.endswith(".tmp")]
        history.unlink()
    assert 130 in outcomes or -signal.SIGINT in outcomes  # some attempt did land mid-run
    assert os.environ.get("PREFLIGHT_HISTORY_POLICY") is None
