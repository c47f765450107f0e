"""The runtime matrix read model over preflight, smoke and sweep artifacts, and its CLI."""

from __future__ import annotations

import copy
import json
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import pytest

from preflight_action import schemas
from preflight_action.matrix import cli as cli_matrix
from preflight_action.matrix import model as matrix
from preflight_action.smoke import cli as smoke_cli


@pytest.fixture(scope="module")
def artifacts(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """A real CPU preflight report, a stub smoke record turned into a real pass, a simulated record of another node."""
    from preflight_action import main as cli_preflight

    root = tmp_path_factory.mktemp("artifacts")
    preflight = root / "pf" / "node-a.json"
    assert cli_preflight.main(["--device", "cpu", "--quiet", "--output-path", str(preflight)]) in (0, 1)
    smoke_root = root / "smoke"
    assert (
        smoke_cli.main(["--mode", "stub", "--quiet", "--output-root", str(smoke_root), "--models", "transformer", "--dtypes", "float32"])
        == 0
    )
    stub = json.loads(next(smoke_root.glob("run.*/smoke_run.json")).read_text())
    return {"root": root, "preflight": preflight, "stub": stub, "report": json.loads(preflight.read_text())}


def smoke_record(stub: dict[str, Any], node: str, outcome: str, backend: str = "cpu", finished: str | None = None) -> dict[str, Any]:
    record = copy.deepcopy(stub)
    record.update(node_id=node, outcome=outcome, mode="simulated" if outcome == "simulated" else "real", simulated=outcome == "simulated")
    record["device"]["backend"] = backend
    case_outcome = {"pass": "pass", "fail": "fail", "simulated": "simulated"}.get(outcome, "skipped")
    record["cases"] = [
        {
            "model": "transformer",
            "dtype": "float32",
            "outcome": case_outcome,
            "reason": None if case_outcome == "pass" else f"{outcome} here",
        }
    ]
    record["counts"] = {"pass": 0, "fail": 0, "skipped": 0, "simulated": 0, "not_run": 0, case_outcome: 1}
    if outcome == "simulated":
        record["profile"] = {"name": "h100-linux", "backend": backend, "facts": {}}
    if finished:
        record["finished_at"] = finished
    schemas.validate(record, "smoke_run", "test record")
    return record


def sweep_summary(status: str = "failed") -> dict[str, Any]:
    finished = datetime.now(timezone.utc).replace(microsecond=0) - timedelta(minutes=5)  # fresh whatever the date
    counts = {"passed": 3, "failed": 1 if status == "failed" else 0, "timeout": 0, "interrupted": 0, "error": 0, "skipped": 0, "pending": 0}
    point = {
        "id": "p001",
        "axes": {"dtype": "bfloat16", "batch": 8},
        "status": "failed" if status == "failed" else "passed",
        "counts": counts,
        "duration_s": 1.5,
        "metrics": {},
    }
    summary = {
        "schema_version": 1,
        "run_id": "20261123T080000Z-abc123",
        "flow": "dtype_batch_matmul",
        "seed": 0,
        "status": status,
        "started_utc": matrix.iso(finished - timedelta(minutes=1)).replace(".000Z", "Z"),
        "finished_utc": matrix.iso(finished).replace(".000Z", "Z"),
        "duration_s": 60.0,
        "shard": None,
        "profile": None,
        "counts": counts,
        "points": [point],
        "sources": [],
    }
    schemas.validate(summary, "sweep_summary", "test summary")
    return summary


def write(path: Path, document: Any) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(document) if not isinstance(document, str) else document)
    return path


def test_smoke_lanes_map_outcomes_and_simulated_is_never_ready(artifacts: dict[str, Any]) -> None:
    stub = artifacts["stub"]
    assert matrix.lane_from_smoke(smoke_record(stub, "n", "pass")).code == "ok"
    assert matrix.lane_from_smoke(smoke_record(stub, "n", "fail")).code == "error"
    assert matrix.lane_from_smoke(smoke_record(stub, "n", "timeout")).code == "degraded"
    simulated = matrix.lane_from_smoke(smoke_record(stub, "n", "simulated", backend="cuda"))
    assert simulated.code == "skipped"
    assert simulated.simulated
    assert simulated.backend == "cuda"
    assert "not a real pass" in simulated.summary
    snapshot = matrix.build_snapshot([simulated])
    assert snapshot["items"]["n"]["accelerators"]["GPU"] == {"available": False, "lanes": 1, "states": {"skipped": 1}}


def test_snapshot_from_all_three_sources_is_schema_valid(artifacts: dict[str, Any], tmp_path: Path) -> None:
    stub = artifacts["stub"]
    now = datetime.now(timezone.utc)
    write(tmp_path / "pf" / "node-a.json", artifacts["report"])
    write(tmp_path / "smoke" / "run.1" / "smoke_run.json", smoke_record(stub, "node-b", "pass", finished=matrix.iso(now)))
    write(
        tmp_path / "smoke" / "run.2" / "smoke_run.json", smoke_record(stub, "node-c", "simulated", backend="cuda", finished=matrix.iso(now))
    )
    sweep_dir = tmp_path / "sweeps" / "20261123T080000Z-abc123"
    write(sweep_dir / "summary.json", sweep_summary("failed"))
    write(sweep_dir / "sysinfo.json", {"backend": "cuda"})
    globs = [
        str(tmp_path / "pf" / "*.json"),
        str(tmp_path / "smoke" / "run.*" / "smoke_run.json"),
        str(tmp_path / "sweeps" / "*" / "summary.json"),
    ]
    snapshot, inputs = cli_matrix.build(globs, 10**9, "sweep-node")
    schemas.validate(snapshot, "runtime_matrix", "snapshot")
    assert inputs.read == {"preflight": 1, "smoke": 2, "sweep": 1}
    assert not inputs.invalid
    node_a = artifacts["report"]["host"]["node_id"]
    assert set(snapshot["items"]) == {node_a, "node-b", "node-c", "sweep-node"}
    sweep = snapshot["items"]["sweep-node"]
    assert sweep["status"]["code"] == "error"
    assert sweep["lanes"][0]["backend"] == "cuda"
    assert sweep["lanes"][0]["source"] == "sweep"
    assert "p001: failed" in " ".join(sweep["status"]["detail"])
    for item in snapshot["items"].values():
        status = item["status"]
        assert status["label"].startswith(matrix.CODE_WORD[status["code"]])
        assert status["aria_hint"].startswith("Runtime status ")
        assert status["severity_label"] == matrix.SEVERITY_LABEL[status["severity"]]
        assert item["runtime"]["total"] == len(item["lanes"])
        assert item["runtime"]["updated"]


def test_lanes_older_than_the_ttl_show_as_stale(artifacts: dict[str, Any]) -> None:
    lane = matrix.lane_from_smoke(smoke_record(artifacts["stub"], "old", "pass", finished="2026-01-01T00:00:00.000Z"))
    fresh = matrix.build_snapshot([lane], now=datetime(2026, 1, 1, 0, 30, tzinfo=timezone.utc), ttl_seconds=3600)
    assert fresh["items"]["old"]["status"]["code"] == "ok"
    later = matrix.build_snapshot([lane], now=datetime(2026, 1, 1, tzinfo=timezone.utc) + timedelta(hours=3), ttl_seconds=3600)
    status = later["items"]["old"]["status"]
    assert status["code"] == "stale"
    assert status["severity_label"] == "Warning"
    assert "ttl 3600 s" in " ".join(status["detail"])
    assert "was ok" in " ".join(status["detail"])


def test_status_text_prints_a_grid_and_the_ttl(artifacts: dict[str, Any], tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    now = matrix.iso(datetime.now(timezone.utc))
    write(tmp_path / "a.json", smoke_record(artifacts["stub"], "node-ok", "pass", finished=now))
    write(tmp_path / "b.json", smoke_record(artifacts["stub"], "node-sim", "simulated", backend="cuda", finished=now))
    code = cli_matrix.main(["status", "--input-glob", str(tmp_path / "*.json"), "--ttl-seconds", "900", "--html", str(tmp_path / "m.html")])
    out = capsys.readouterr().out
    assert code == 0
    assert "ttl_seconds: 900" in out
    lines = out.splitlines()
    assert lines[2].split() == ["node", "cpu", "cuda"]
    assert lines[3].split() == ["node-ok", "Ready", "No", "data"]
    assert lines[4].split() == ["node-sim", "No", "data", "Skipped*"]
    assert "* simulated only" in out
    [attention] = [line for line in lines if line.startswith("node-sim: ")]
    assert attention.startswith("node-sim: Skipped - cuda smoke: simulated on h100-linux")  # the word once, no severity prefix
    assert attention.endswith(", just now)")  # the age beside the ISO time, as of the snapshot's generation
    assert "Info" not in out
    assert (tmp_path / "m.html").read_text().count("aria-label=") >= 4


def test_status_json_is_the_schema_valid_snapshot(artifacts: dict[str, Any], tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    write(tmp_path / "a.json", smoke_record(artifacts["stub"], "node-ok", "pass"))
    code = cli_matrix.main(
        [
            "status",
            "--json",
            "--ttl-seconds",
            "60",
            "--input-glob",
            str(tmp_path / "*.json"),
            "--output-json",
            str(tmp_path / "out" / "snap.json"),
        ]
    )
    snapshot = json.loads(capsys.readouterr().out)
    assert code == 0
    assert snapshot["ttl_seconds"] == 60
    schemas.validate(snapshot, "runtime_matrix", "stdout")
    assert schemas.read_json(tmp_path / "out" / "snap.json", "runtime_matrix")["items"].keys() == snapshot["items"].keys()


def test_bad_inputs_are_named_with_their_pointer_and_the_rest_still_counts(
    artifacts: dict[str, Any], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    write(tmp_path / "good.json", smoke_record(artifacts["stub"], "node-ok", "pass"))
    broken = smoke_record(artifacts["stub"], "node-bad", "pass")
    broken["cases"][0]["outcome"] = "great"
    write(tmp_path / "invalid.json", broken)
    write(tmp_path / "malformed.json", "{not json")
    write(tmp_path / "other.json", {"hello": "world"})
    code = cli_matrix.main(["status", "--json", "--input-glob", str(tmp_path / "*.json")])
    captured = capsys.readouterr()
    assert code == 2
    errors = captured.err.strip().splitlines()
    assert len(errors) == 2
    assert any("invalid.json" in line and "/cases/0/outcome" in line for line in errors)
    assert any("malformed.json" in line and "malformed JSON at line 1" in line for line in errors)
    snapshot = json.loads(captured.out)
    assert list(snapshot["items"]) == ["node-ok"]
    assert snapshot["inputs"]["ignored"] == [str(tmp_path / "other.json")]
    assert len(snapshot["inputs"]["invalid"]) == 2


def test_a_file_that_is_no_artifact_or_finished_in_the_future_is_invalid_not_ignored(
    artifacts: dict[str, Any], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """As summarize, diff and export say: null, a list or a report without checks is bad input; a report from ten years
    ahead would show Ready and never go stale."""
    write(tmp_path / "good.json", smoke_record(artifacts["stub"], "node-ok", "pass"))
    write(tmp_path / "null.json", "null")
    write(tmp_path / "list.json", "[1, 2]")
    write(tmp_path / "nochecks.json", {"triage": {"top_failed_checks": []}})
    ahead = (datetime.now(timezone.utc) + timedelta(days=3650)).strftime("%Y-%m-%dT%H:%M:%SZ")
    write(tmp_path / "future.json", smoke_record(artifacts["stub"], "node-future", "pass", finished=ahead))
    code = cli_matrix.main(["status", "--json", "--input-glob", str(tmp_path / "*.json")])
    captured = capsys.readouterr()
    assert code == 2
    errors = captured.err
    assert "null.json: /: null, not a JSON object" in errors
    assert "list.json: /: list, not a JSON object" in errors
    assert "nochecks.json" in errors
    assert "'checks' is a required property" in errors
    assert f"future.json: /finished_at: {ahead} is " in errors
    assert list(json.loads(captured.out)["items"]) == ["node-ok"]


def test_sweep_lanes_take_the_local_node_id(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    write(tmp_path / "sweeps" / "r1" / "summary.json", sweep_summary("passed"))
    monkeypatch.setenv("PREFLIGHT_NODE_ID", "lab-box-7")
    assert cli_matrix.main(["status", "--json", "--input-glob", str(tmp_path / "sweeps" / "*" / "summary.json")]) == 0
    snapshot = json.loads(capsys.readouterr().out)
    item = snapshot["items"]["lab-box-7"]
    assert item["status"]["code"] == "ok"
    assert item["lanes"][0]["backend"] == "unknown"
    assert "unknown sweep: sweep dtype_batch_matmul passed: 3/3 steps passed" in item["status"]["detail"]


def test_the_summarizer_calls_keep_working(artifacts: dict[str, Any]) -> None:
    from preflight_action.preflight.report import Report

    report = Report.from_dict(artifacts["report"])
    lane = matrix.lane_from_report(report, "x.json")
    snapshot = matrix.build_snapshot([lane], None, 3600)
    assert "inputs" not in snapshot
    nodes, backends, cells = matrix.grid(snapshot)
    assert nodes == [report.host.node_id]
    assert backends == ["cpu"]
    assert (nodes[0], "cpu") in cells
    assert matrix.status_block("ok", "fine", [])["aria_hint"] == "Runtime status Ready - fine. fine"


@pytest.mark.parametrize(
    ("value", "why"),
    [
        ("0", "must be at least 1, got 0"),
        ("nan", "'nan' is not a whole number of seconds"),
        ("99999999999", "must be at most 31622400, got 99999999999"),
    ],
)
def test_a_bad_ttl_is_a_usage_error(value: str, why: str, capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exited:
        cli_matrix.main(["status", "--ttl-seconds", value])
    assert exited.value.code == 2
    assert f"preflight-matrix status: error: argument --ttl-seconds: {why}" in capsys.readouterr().err


def test_snapshot_schema_rejects_a_status_without_its_accessible_strings(artifacts: dict[str, Any]) -> None:
    snapshot = matrix.build_snapshot([matrix.lane_from_smoke(smoke_record(artifacts["stub"], "n", "pass"))])
    del snapshot["items"]["n"]["status"]["aria_hint"]
    snapshot["items"]["n"]["lanes"][0]["status"]["severity_label"] = "Fine"
    problems = schemas.problems(snapshot, "runtime_matrix")
    assert any(p.startswith("/items/n/status: 'aria_hint' is a required property") for p in problems)
    assert any(p.startswith("/items/n/lanes/0/status/severity_label") for p in problems)


def test_the_fast_path_accepts_valid_documents_and_defers_errors_to_the_schema_module(artifacts: dict[str, Any]) -> None:
    from preflight_action.errors import SchemaError

    good = smoke_record(artifacts["stub"], "n", "pass")
    schemas.validate(good, "smoke_run", "good.json")
    bad = copy.deepcopy(good)
    bad["counts"]["pass"] = -1
    with pytest.raises(SchemaError, match=r"bad\.json: /counts/pass: -1 is less than the minimum of 0"):
        schemas.validate(bad, "smoke_run", "bad.json")


def test_a_simulated_preflight_pass_is_never_ready(artifacts: dict[str, Any]) -> None:
    from dataclasses import replace

    from preflight_action.preflight.report import Report

    report = replace(Report.from_dict(artifacts["report"]), simulated=True)
    lane = matrix.lane_from_report(report, "sim.json")
    assert report.status == "pass"
    assert lane.code == "skipped"
    assert "not a real pass" in lane.summary


def test_a_failed_auto_leg_is_not_hidden_by_a_later_cpu_leg_on_the_same_runner(artifacts: dict[str, Any]) -> None:
    from dataclasses import replace

    from preflight_action.preflight.report import Report

    passing = Report.from_dict(artifacts["report"])
    assert passing.status == "pass"
    auto_failed = matrix.lane_from_report(replace(passing, requested_device="auto"), "auto.json")
    auto_failed = replace(auto_failed, code="down", summary="tensor.smoke failed (critical)", updated="2026-01-01T00:00:00.000Z")
    cpu_passed = replace(matrix.lane_from_report(replace(passing, requested_device="cpu"), "cpu.json"), updated="2026-01-01T00:05:00.000Z")
    now = matrix.parse_time("2026-01-01T00:06:00.000Z")
    snapshot = matrix.build_snapshot([auto_failed, cpu_passed], now, 3600)
    node = passing.host.node_id
    assert snapshot["items"][node]["status"]["code"] == "down"
    assert matrix.grid(snapshot)[2][(node, cpu_passed.backend)]["code"] == "down"


def test_a_python_matrix_on_one_node_keeps_every_leg(artifacts: dict[str, Any]) -> None:
    from dataclasses import replace

    from preflight_action.preflight.report import Report

    passing = Report.from_dict(artifacts["report"])
    ok = replace(matrix.lane_from_report(passing, "py311.json"), updated="2026-01-01T00:05:00.000Z")
    failing = replace(
        ok,
        code="down",
        summary="tensor.smoke failed (critical)",
        updated="2026-01-01T00:00:00.000Z",
        extra={**ok.extra, "python": "3.10.14"},
    )
    snapshot = matrix.build_snapshot([failing, ok], matrix.parse_time("2026-01-01T00:06:00.000Z"), 3600)
    assert snapshot["items"][passing.host.node_id]["status"]["code"] == "down"
    assert snapshot["items"][passing.host.node_id]["runtime"]["total"] == 2


def test_a_skipped_lane_never_hides_a_real_observation(artifacts: dict[str, Any]) -> None:
    from dataclasses import replace

    from preflight_action.preflight.report import Report

    report = Report.from_dict(artifacts["report"])
    ready = matrix.lane_from_report(report, "r.json")
    dry_run = replace(ready, source="sweep", code="skipped", summary="dry run")
    snapshot = matrix.build_snapshot([ready, dry_run], matrix.parse_time(ready.updated), 3600)
    assert snapshot["items"][report.host.node_id]["status"]["code"] == "ok"
    only_skipped = matrix.build_snapshot([dry_run], matrix.parse_time(ready.updated), 3600)
    assert only_skipped["items"][report.host.node_id]["status"]["code"] == "skipped"


def test_a_sweep_plan_is_not_mistaken_for_a_sweep_summary() -> None:
    assert cli_matrix.kind_of({"flow": {"name": "noop"}, "points": [], "axes": {}}) is None
    assert cli_matrix.kind_of({"flow": "noop", "points": [], "counts": {}}) == "sweep"


def test_hostile_inputs_are_one_line_each_and_the_dashboard_carries_no_bidi_override(
    artifacts: dict[str, Any], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from preflight_action import untrusted

    write(tmp_path / "good.json", smoke_record(artifacts["stub"], "node-ok", "pass"))
    (tmp_path / "deep.json").write_text('{"a":' * 100_000 + "1" + "}" * 100_000, encoding="utf-8")
    spoofed = tmp_path / "spoofed.json"
    spoofed.write_text(json.dumps(smoke_record(artifacts["stub"], "evil\u202egnp", "pass"), ensure_ascii=False), encoding="utf-8")
    html = tmp_path / "out" / "matrix.html"
    code = cli_matrix.main(
        ["status", "--input-glob", str(tmp_path / "*.json"), "--html", str(html), "--output-json", str(tmp_path / "out" / "m.json")]
    )
    captured = capsys.readouterr()
    assert code == 2
    assert "Traceback" not in captured.err
    assert captured.err.strip().splitlines() == [
        f"preflight-matrix: error: {tmp_path / 'deep.json'}: nested more than 64 levels deep",
        f"preflight-matrix: warning: {spoofed}: /node_id: control or bidirectional-override characters, shown as escapes",
    ]
    page = html.read_text(encoding="utf-8")
    assert not untrusted.has_unsafe(page.replace("\n", ""))
    assert "evil\\u202egnp" in page
    snapshot = json.loads((tmp_path / "out" / "m.json").read_text(encoding="utf-8"))
    assert sorted(snapshot["items"]) == ["evil\\u202egnp", "node-ok"]


def test_a_malformed_input_is_not_reported_as_no_artifacts(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    bad = tmp_path / "bad.json"
    bad.write_text("{bad", encoding="utf-8")
    assert cli_matrix.main(["status", "--input-glob", str(bad), "--history", str(tmp_path / "h.jsonl")]) == 2
    captured = capsys.readouterr()
    assert "no preflight, smoke or sweep artifacts found" not in captured.out
    assert "no node to show: the files read were 1 invalid (named on stderr)" in captured.out
    assert f"preflight-matrix: error: {bad}: malformed JSON" in captured.err
    assert "preflight-matrix: warning: --history does nothing without --html PATH" in captured.err
