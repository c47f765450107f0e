"""summarize --history: the run history file, regressions against each node's own past, flaky checks, retention."""

from __future__ import annotations

import json
import random
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import pytest
import time_machine

from preflight_action import schemas
from preflight_action.summary import cli
from preflight_action.summary import serialise as summary_json
from tests.support.report_factory import report_doc, write

START = datetime.now(timezone.utc).replace(microsecond=0) - timedelta(days=60)  # relative: the suite passes on any date


def night(tmp_path: Path, day: int, documents: list[dict[str, Any]], *extra: str) -> tuple[int, dict[str, Any], str]:
    """One nightly summarize at START + ``day`` days, its reports finished half an hour before."""
    moment = START + timedelta(days=day)
    for document in documents:  # a report made "now" is from the future on a night in the past: summarize refuses it
        if datetime.fromisoformat(document["finished_at"].replace("Z", "+00:00")) > moment:
            document["finished_at"] = (moment - timedelta(minutes=30)).isoformat(timespec="milliseconds").replace("+00:00", "Z")
    pattern = write(tmp_path / "in", documents)
    out_json, out_md = tmp_path / "s.json", tmp_path / "s.md"
    argv = ["--input-glob", pattern, "--output-json", str(out_json), "--output-md", str(out_md), "--history", str(tmp_path / "h.jsonl")]
    with time_machine.travel(moment, tick=False):
        code = cli.main([*argv, "--quiet", *extra])
    return code, summary_json.read(out_json), out_md.read_text(encoding="utf-8")


def fleet(day: int, rng: random.Random, drop_node_today: bool) -> list[dict[str, Any]]:
    finished = START + timedelta(days=day, minutes=-30)
    steady = 700 * (1 + rng.gauss(0, 0.01))
    noisy = 700 * (1 + rng.gauss(0, 0.08))
    dropping = 700 * (1 + rng.gauss(0, 0.01)) * (0.7 if drop_node_today else 1.0)
    return [
        report_doc("node-steady", finished_at=finished, figures={"bf16": round(steady, 1), "copy_tbs": 3.0}),
        report_doc("node-noisy", finished_at=finished, figures={"bf16": round(noisy, 1), "copy_tbs": 3.0}),
        report_doc(
            "node-17", finished_at=finished, figures={"bf16": round(dropping, 1), "copy_tbs": round(3.0 * (1 + rng.gauss(0, 0.01)), 3)}
        ),
    ]


def test_a_30_percent_drop_is_a_regression_and_a_noisy_node_within_its_spread_is_not(tmp_path: Path) -> None:
    rng = random.Random(17)
    for day in range(12):
        code, document, _ = night(tmp_path, day, fleet(day, rng, drop_node_today=False))
        assert code == 0
        assert document["regressions"] == [], f"night {day}: {document['regressions']}"
    # the noisy node 12% below its median: past the 10% threshold, but inside its own normal spread
    docs = fleet(12, rng, drop_node_today=True)
    noisy_values = [
        json.loads(line)["figures"]["perf.matmul"]["bf16"]
        for line in (tmp_path / "h.jsonl").read_text().splitlines()
        if '"node-noisy"' in line
    ]
    docs[1] = report_doc(
        "node-noisy",
        finished_at=START + timedelta(days=12, minutes=-30),
        figures={"bf16": round(sorted(noisy_values)[len(noisy_values) // 2] * 0.88, 1), "copy_tbs": 3.0},
    )
    _, document, markdown = night(tmp_path, 12, docs)
    (regression,) = document["regressions"]
    assert (regression["node_id"], regression["check_id"], regression["metric"]) == ("node-17", "perf.matmul", "bf16")
    assert 27 <= regression["drop_percent"] <= 33
    assert regression["runs"] == 12
    assert regression["baseline"] == pytest.approx(700, rel=0.03)
    assert regression["sku"] == "NVIDIA H100 80GB HBM3"
    assert "```mermaid\nxychart-beta" in markdown
    assert "node-17 perf.matmul bf16: -" in markdown
    assert "| node-17 | cuda | `perf.matmul` | bf16 |" in markdown


def test_the_first_run_says_it_has_no_baseline_and_the_file_is_valid_json_lines(tmp_path: Path) -> None:
    _, document, markdown = night(tmp_path, 0, fleet(0, random.Random(1), False))
    history = document["history"]
    assert history["records_read"] == 0
    assert history["records_added"] == 3
    assert {n["reason"] for n in history["no_baseline"]} == {"first run: no baseline yet"}
    assert "without a baseline yet: first run: no baseline yet" in markdown
    lines = (tmp_path / "h.jsonl").read_text(encoding="utf-8").splitlines()
    assert len(lines) == 3
    for line in lines:
        record = json.loads(line)
        schemas.validate(record, "history_record", "history line")
        assert list(record)[:3] == ["at", "node", "backend"]
        assert record["checks"]["pass"]["perf.matmul"] == 3.0
        assert record["checks"]["fail"] == {}
        assert record["torch"] == "2.14.1+cu130"
        assert record["driver"] == "575.51.03"


def test_new_software_starts_a_new_baseline(tmp_path: Path) -> None:
    for day in range(4):
        night(tmp_path, day, [report_doc("n1", finished_at=START + timedelta(days=day), figures={"bf16": 700.0})])
    _, document, _ = night(
        tmp_path, 4, [report_doc("n1", torch="2.15.0+cu130", finished_at=START + timedelta(days=4), figures={"bf16": 400.0})]
    )
    assert document["regressions"] == []  # another torch: not compared with the old one's runs
    (missing,) = document["history"]["no_baseline"]
    assert "torch 2.14.1+cu130 -> 2.15.0+cu130" in missing["reason"]


def test_a_check_that_flips_between_pass_and_fail_is_flaky(tmp_path: Path) -> None:
    for day in range(6):
        failures = {"tensor.smoke": "RuntimeError: CUDA error: unspecified launch failure"} if day % 2 else {}
        docs = [
            report_doc("n1", failures=failures, finished_at=START + timedelta(days=day)),
            report_doc("n2", finished_at=START + timedelta(days=day)),
        ]
        _, document, markdown = night(tmp_path, day, docs)
    flaky = document["history"]["flaky"]
    assert [(f["node_id"], f["check_id"], f["statuses"]) for f in flaky] == [("n1", "tensor.smoke", "PFPFPF")]
    assert 0 < document["history"]["flaky_share"] < 0.2
    assert "Flaky checks (1;" in markdown


def policy_file(tmp_path: Path, **retention: float) -> Path:
    import yaml

    from preflight_action import paths

    document = yaml.safe_load((paths.data_dir("policy") / "history.yaml").read_text(encoding="utf-8"))
    document["retention"].update(retention)
    path = tmp_path / "history-policy.yaml"
    path.write_text(yaml.safe_dump(document), encoding="utf-8")
    return path


def test_retention_drops_records_older_than_max_age_and_beyond_max_size(tmp_path: Path) -> None:
    policy = policy_file(tmp_path, max_age_days=5)
    for day in range(0, 10):
        night(tmp_path, day, [report_doc("n1", finished_at=START + timedelta(days=day))], "--history-policy", str(policy))
    stamps = [json.loads(line)["at"] for line in (tmp_path / "h.jsonl").read_text().splitlines()]
    oldest = datetime.fromisoformat(stamps[0].replace("Z", "+00:00"))
    assert oldest >= START + timedelta(days=9) - timedelta(days=5)
    assert len(stamps) == 6  # days 4..9
    assert stamps == sorted(stamps)
    line_bytes = len((tmp_path / "h.jsonl").read_bytes()) / len(stamps)
    small = policy_file(tmp_path, max_mib=(line_bytes * 2.5) / (1024 * 1024))
    _, document, _ = night(tmp_path, 10, [report_doc("n1", finished_at=START + timedelta(days=10))], "--history-policy", str(small))
    assert len((tmp_path / "h.jsonl").read_text().splitlines()) == 2
    assert document["history"]["bytes_dropped"] > 0


def test_no_secret_value_reaches_the_history(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    secret = "s3cr3t-value-for-the-history"
    monkeypatch.setenv("NIGHTLY_API_TOKEN", secret)
    ci = {"provider": "github-actions", "run_url": f"https://github.com/o/r/actions/runs/1?t={secret}"}
    night(tmp_path, 0, [report_doc(f"node-{secret}", ci=ci)])
    text = (tmp_path / "h.jsonl").read_text(encoding="utf-8")
    assert secret not in text
    assert "<redacted>" in text


def test_a_malformed_history_line_is_one_clear_error_and_the_file_is_kept(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    night(tmp_path, 0, [report_doc("n1")])
    history = tmp_path / "h.jsonl"
    good = history.read_text(encoding="utf-8")
    history.write_text(good + '{"at": "not a record"}\n', encoding="utf-8")
    before = history.read_bytes()
    (tmp_path / "s.json").unlink()
    code, document, _ = night(tmp_path, 1, [report_doc("n1")])
    err = capsys.readouterr().err
    assert code == 2
    assert f"{history}: line 2: does not match the history_record schema" in err
    assert "Traceback" not in err
    assert len(err.strip().splitlines()) == 1
    assert history.read_bytes() == before
    assert "history" not in document  # the summary is still written, without trends


def test_a_history_cut_short_is_refused(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    night(tmp_path, 0, [report_doc("n1")])
    history = tmp_path / "h.jsonl"
    history.write_bytes(history.read_bytes()[:-20])
    code, _, _ = night(tmp_path, 1, [report_doc("n1")])
    assert code == 2
    assert "line 1: cut short" in capsys.readouterr().err


def test_simulated_runs_are_not_history(tmp_path: Path) -> None:
    _, document, _ = night(tmp_path, 0, [report_doc("n1", simulated=True), report_doc("n2")])
    assert document["history"]["records_added"] == 1
    assert '"node":"n1"' not in (tmp_path / "h.jsonl").read_text(encoding="utf-8")


def test_a_bad_history_policy_is_one_line_naming_the_file_and_field(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    import yaml

    policy = policy_file(tmp_path)
    document = yaml.safe_load(policy.read_text(encoding="utf-8"))
    document["regression"]["drop_percent"] = -5
    policy.write_text(yaml.safe_dump(document), encoding="utf-8")
    code, _, _ = night(tmp_path, 0, [report_doc("n1")], "--history-policy", str(policy))
    err = capsys.readouterr().err.strip().splitlines()
    assert code == 2
    assert len(err) == 1
    assert str(policy) in err[0]
    assert "/regression/drop_percent" in err[0]
    assert not (tmp_path / "h.jsonl").exists()
