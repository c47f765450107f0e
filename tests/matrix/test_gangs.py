"""A gang's reports grouped by gang id: in the matrix snapshot, its text and HTML views, and the summary JSON and Markdown."""

from __future__ import annotations

import json
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from preflight_action import schemas
from preflight_action.matrix import gangs, view
from preflight_action.matrix import model as matrix
from preflight_action.matrix.snapshot import Snapshot
from preflight_action.preflight import severity
from preflight_action.preflight.report import Report
from preflight_action.summary import load as summary_load
from preflight_action.summary import markdown as summary_markdown
from preflight_action.summary import model as summary_model
from preflight_action.summary import serialise as summary_json
from preflight_action.vocab import GANG_MEMBER_STATES
from tests.support import report_factory

NOW = datetime(2026, 3, 1, 12, 0, tzinfo=timezone.utc)


def member(rank: int, name: str, state: str, gbs: float | None = 1.5) -> dict[str, Any]:
    joined = state not in ("never_joined",)
    return {"node_rank": rank, "name": name, "state": state, "ranks": 1 if joined else None, "in_gbs": gbs, "out_gbs": gbs}


def gang_doc(
    node: str, rank: int | None, gang_id: str | None, members: list[dict[str, Any]], busbw: float | None, size: int = 3
) -> dict[str, Any]:
    document = report_factory.report_doc(node, "cpu", finished_at=NOW.replace(minute=30, hour=11))
    document["gang"] = {
        "id": gang_id,
        "launcher": "slurm",
        "endpoint": "gpu01:29711",
        "size": size,
        "node_rank": rank,
        "members": members,
        "busbw_gbs": busbw,
    }
    schemas.validate(document, "preflight_report", node)
    return document


def documents() -> list[dict[str, Any]]:
    """One gang of three with a slow member (every report), one where node rank 2 never joined, and a plain report."""
    slow_view = [member(0, "gpu01", "ok"), member(1, "gpu02", "slow", 0.1), member(2, "gpu03", "ok")]
    absent_view = [member(0, "gpu04", "joined", None), member(1, "gpu05", "joined", None), member(2, "node rank 2", "never_joined", None)]
    return [
        gang_doc("gpu01", 0, "slurm-17.0", slow_view, 40.0),
        gang_doc("gpu02", 1, "slurm-17.0", slow_view, 44.0),
        gang_doc("gpu03", 2, "slurm-17.0", slow_view, 42.0),
        gang_doc("gpu04", 0, None, absent_view, None),
        gang_doc("gpu05", 1, None, absent_view, None),
        report_factory.report_doc("box-9", "cpu", finished_at=NOW.replace(minute=30, hour=11)),
    ]


def reports() -> list[Report]:
    return [Report.from_dict(d) for d in documents()]


def test_the_worst_first_order_covers_every_member_state() -> None:
    assert sorted(gangs.WORST_FIRST) == sorted(GANG_MEMBER_STATES)


def test_reports_group_by_gang_id_else_endpoint_with_each_member_as_the_worst_seen() -> None:
    observations = [gangs.Observation(r.host.node_id, r.verdict, r.gang) for r in reports() if r.gang is not None]
    slow, absent = sorted(gangs.group(observations), key=lambda g: g.key, reverse=True)
    assert (slow.key, slow.size, slow.reports, slow.busbw_gbs) == ("slurm-17.0", 3, 3, 42.0)  # the median of the three figures
    assert [(m.name, m.state, m.reported) for m in slow.members] == [("gpu01", "ok", True), ("gpu02", "slow", True), ("gpu03", "ok", True)]
    assert slow.complete
    assert slow.words() == "3 of 3 members reported; gang busbw 42.00 GB/s; slow: gpu02"
    assert absent.key == "gpu01:29711 (no gang id)"
    assert [(m.name, m.state, m.reported) for m in absent.members] == [
        ("gpu04", "joined", True),
        ("gpu05", "joined", True),
        ("node rank 2", "never_joined", False),
    ]
    assert not absent.complete
    assert absent.words() == "2 of 3 members reported; never joined: node rank 2"


def test_a_members_own_failure_outranks_the_others_seeing_it_stop() -> None:
    record = reports()[0].gang
    assert record is not None
    stopped = [member(0, "gpu01", "joined"), member(1, "gpu02", "joined"), member(2, "gpu03", "stopped")]
    failed = [member(0, "gpu01", "joined"), member(1, "gpu02", "joined"), member(2, "gpu03", "failed")]
    docs = [gang_doc("gpu01", 0, "g", stopped, None), gang_doc("gpu03", 2, "g", failed, None)]
    [group] = gangs.group(gangs.Observation(d["host"]["node_id"], "not_judged", Report.from_dict(d).gang) for d in docs)  # type: ignore[arg-type]
    assert [(m.name, m.state, m.reported) for m in group.members] == [
        ("gpu01", "joined", True),
        ("gpu02", "joined", False),
        ("gpu03", "failed", True),
    ]


def test_the_snapshot_carries_the_gangs_valid_and_shown_in_text_and_html() -> None:
    snapshot = matrix.build_snapshot([matrix.lane_from_report(r, f"{r.host.node_id}.json") for r in reports()], now=NOW, ttl_seconds=7200)
    schemas.validate(snapshot, "runtime_matrix", "snapshot")
    assert snapshot["schema_version"] == "1.1"
    assert [g["id"] for g in snapshot["gangs"]] == [None, "slurm-17.0"]  # by key: the endpoint for a gang without an id
    assert Snapshot.from_dict(snapshot).to_dict()["gangs"] == snapshot["gangs"]  # the typed record round-trips
    text = view.text(snapshot)
    assert "gang slurm-17.0 (slurm, 3 members): 3 of 3 members reported; gang busbw 42.00 GB/s; slow: gpu02" in text
    assert "gang gpu01:29711 (no gang id) (slurm, 3 members): 2 of 3 members reported; never joined: node rank 2" in text
    page = view.html(snapshot)
    assert '<h2 id="gangs">Gangs</h2>' in page
    assert "node rank 2: never joined" in page


def test_a_snapshot_without_gang_reports_has_no_gangs() -> None:
    plain = Report.from_dict(report_factory.report_doc("box-9", "cpu"))
    snapshot = matrix.build_snapshot([matrix.lane_from_report(plain)], now=NOW)
    assert "gangs" not in snapshot
    assert "gang " not in view.text(snapshot)


def test_the_summary_json_and_markdown_group_a_gangs_reports(tmp_path: Path) -> None:
    paths = []
    for index, document in enumerate(documents()):
        path = tmp_path / f"r{index}.json"
        path.write_text(json.dumps(document), encoding="utf-8")
        paths.append(path)
    merged = summary_model.build(summary_load.load_reports(paths), severity.load(), now=NOW)
    document = json.loads(summary_json.dumps(merged))  # validated against schemas/preflight_summary.schema.json
    assert document["schema_version"] == "1.2"
    by_id = {g["id"]: g for g in document["gangs"]}
    assert by_id["slurm-17.0"]["complete"] is True
    assert [m["state"] for m in by_id[None]["members"]] == ["joined", "joined", "never_joined"]
    markdown = summary_markdown.render(merged).text
    assert "### Gangs" in markdown
    assert "| ✅ `slurm-17.0` | slurm | 3 of 3 | 42.00 | 2 ok; gpu02 slow |" in markdown
    assert (
        "| ⚠️ `gpu01:29711 (no gang id)` | slurm | 2 of 3 | – | 0 ok; gpu04 joined; gpu05 joined; node rank 2 never joined (no report) |"
        in markdown
    )


def test_a_report_keeps_its_gang_through_json_and_one_without_has_none() -> None:
    document = documents()[1]
    again = Report.from_dict(document).to_dict()
    assert again["gang"] == document["gang"]
    plain = Report.from_dict(report_factory.report_doc("box-9", "cpu")).to_dict()
    assert "gang" not in plain
