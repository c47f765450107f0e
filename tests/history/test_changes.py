"""summarize --history: each run's inventory kept by reference, and what changed since a node's last good run
beside its new failures and regressions (summary JSON, Markdown, chart notes, the matrix dashboard)."""

from __future__ import annotations

import json
from datetime import timedelta
from pathlib import Path
from typing import Any

from preflight_action.history import changes, store
from preflight_action.history import policy as history_policy
from preflight_action.history import update as history
from preflight_action.matrix import cli as matrix_cli
from preflight_action.preflight.report import CheckResult, Report
from tests.history.test_history import START, night
from tests.support import environments as envs
from tests.support.report_factory import build, report_doc


def doc(
    node: str, day: int, packages: dict[str, str] | None = None, variables: dict[str, str] | None = None, **kwargs: Any
) -> dict[str, Any]:
    document = report_doc(node, finished_at=START + timedelta(days=day, minutes=-30), **kwargs)
    document["inventory"] = envs.inventory(packages or envs.FLEET_PACKAGES, variables)
    return document


def records(tmp_path: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in (tmp_path / "h.jsonl").read_text(encoding="utf-8").splitlines()]


def test_new_failures_say_what_changed_since_the_node_s_last_good_run_or_that_nothing_did(tmp_path: Path) -> None:
    for day in range(25):  # past the 20 runs a summarize reads: the inventory's first definitions have left the window
        night(tmp_path, day, [doc("node-a", day), doc("node-b", day)])
    upgraded = {**envs.FLEET_PACKAGES, "torch": "2.14.1"}
    failing = {"tensor.smoke": "RuntimeError: CUDA error: an illegal memory access was encountered"}
    _, summary, markdown = night(
        tmp_path, 25, [doc("node-a", 25, upgraded, {"NCCL_ALGO": "Ring"}, failures=failing), doc("node-b", 25, failures=failing)]
    )
    found = {c["node_id"]: c for c in summary["history"]["changes"]}
    assert found["node-a"]["failing"] == ["tensor.smoke"]
    assert found["node-a"]["lines"] == ["torch 2.14.0 -> 2.14.1", "NCCL_ALGO set (Ring)"]
    assert found["node-a"]["since"] == records(tmp_path)[-3]["at"]  # the night before: its last good run
    assert found["node-b"]["changes"] == []
    assert (
        found["node-b"]["note"]
        == "nothing in the inventory changed since the last good run on this node: that points at the hardware or the driver"
    )
    assert "#### Failing since the last good run" in markdown
    assert "| node-a | cuda | tensor.smoke pass -&gt; fail | torch 2.14.0 -&gt; 2.14.1, NCCL_ALGO set (Ring) |" in markdown
    assert (
        "| node-b | cuda | tensor.smoke pass -&gt; fail | nothing in the inventory changed since the last good run on this node" in markdown
    )


def test_the_history_keeps_inventories_by_reference_and_a_reader_resolves_every_recent_one(tmp_path: Path) -> None:
    for day in range(45):
        variables = {"NCCL_ALGO": "Ring"} if day >= 30 else None  # a change on night 30: new parts from then on
        night(tmp_path, day, [doc(f"node-{i}", day, variables=variables) for i in range(3)])
    lines = records(tmp_path)
    assert all(len(r["inventory"]) == 16 for r in lines)
    defined = [key for r in lines for key in r.get("inventory_parts", {})]
    # 2 distinct inventories (a set and 3 parts each, sharing two parts), each defined again once per 19 runs: a handful
    # of definitions for 135 records, not one inventory per record
    assert len(defined) <= 16
    tail = store.read_tail(tmp_path / "h.jsonl", 20)  # what the next summarize reads
    table = changes._table(tail.records)
    assert all(changes.resolve(r["inventory"], table) is not None for r in tail.records)


def test_a_regression_and_its_chart_say_what_changed_and_the_dashboard_links_the_node_to_it(tmp_path: Path, capsys) -> None:
    for day in range(6):
        night(tmp_path, day, [doc("node-17", day, figures={"bf16": 700.0, "copy_tbs": 3.0}), doc("node-2", day, figures={"bf16": 700.0})])
    older_driver = {"cuda_driver_version": "12.8"}
    last = [doc("node-17", 6, figures={"bf16": 480.0, "copy_tbs": 3.0}), doc("node-2", 6, figures={"bf16": 700.0})]
    for document in last:
        document["inventory"]["platform"] |= older_driver if document["host"]["node_id"] == "node-17" else {}
    _, summary, markdown = night(tmp_path, 6, last)
    (regression,) = summary["regressions"]
    assert regression["node_id"] == "node-17"
    (change,) = summary["history"]["changes"]
    assert (change["regressed"], change["lines"]) == (["perf.matmul bf16"], ["CUDA driver 13.0 -> 12.8"])
    assert "| **-31.4%** | 6 | CUDA driver 13.0 -&gt; 12.8 |" in markdown
    chart_note = "_changed since the last good run on this node: CUDA driver 13.0 -&gt; 12.8_"
    assert markdown.index("```mermaid") < markdown.index(chart_note)
    # the dashboard: node-17's row links to what changed since its last good run
    reports = tmp_path / "in" / "*.json"
    html_path = tmp_path / "matrix.html"
    code = matrix_cli.main(["status", "--input-glob", str(reports), "--history", str(tmp_path / "h.jsonl"), "--html", str(html_path)])
    capsys.readouterr()
    assert code == 0
    html = html_path.read_text(encoding="utf-8")
    assert '<a class="code" href="#changed-0-node-17">what changed since its last good run</a>' in html
    assert '<section id="changed-0-node-17" aria-label="node-17, cuda">' in html
    assert "<td>CUDA driver 13.0 -&gt; 12.8</td>" in html
    assert "changed since the last good run on this node: CUDA driver 13.0 -&gt; 12.8</figcaption>" in html
    assert html.count("what changed since its last good run") == 1  # node-2 is fine: no link


def skipping(document: dict[str, Any], check_id: str | None, dropped: str | None = None) -> dict[str, Any]:
    """``document`` rebuilt by the real triage with ``check_id`` skipped and ``dropped`` never run."""
    checks = [
        CheckResult.skipped(c.id, "NVML not readable")
        if c.id == check_id
        else CheckResult(c.id, c.status, c.duration_ms, details=c.details)
        for c in Report.from_dict(document).checks
        if c.id != dropped
    ]
    rebuilt = build(checks, node=document["host"]["node_id"], backend="cuda", finished_at=document["finished_at"])
    return rebuilt | {"inventory": document["inventory"]}


def test_a_check_that_was_skipped_or_not_run_in_the_last_good_run_and_fails_now_is_a_new_failure(tmp_path: Path) -> None:
    night(tmp_path, 0, [doc(f"node-{n}", 0) for n in "abcd"])
    past = [
        doc("node-a", 1),
        skipping(doc("node-b", 1), "dtype.support"),
        skipping(doc("node-c", 1), None, "dtype.support"),
        doc("node-d", 1),
    ]
    night(tmp_path, 1, past)
    assert [r["status"] for r in records(tmp_path)[-4:]] == ["pass"] * 4  # night 1 is every lane's last good run
    failing = {"dtype.support": "uncorrectable ECC errors: 3 (volatile DBE)"}
    last = [doc("node-a", 2, failures={"perf.matmul": "bf16 400 TFLOP/s"}), *(doc(f"node-{n}", 2, failures=failing) for n in "bcd")]
    _, summary, markdown = night(tmp_path, 2, last)
    found = {c["node_id"]: c["failing"] for c in summary["history"]["changes"]}
    assert found == {"node-a": ["perf.matmul"], "node-b": ["dtype.support"], "node-c": ["dtype.support"], "node-d": ["dtype.support"]}
    assert "| node-b | cuda | dtype.support skip -&gt; fail |" in markdown
    words = {c.node_id: c.failing_words for c in history.latest(tmp_path / "h.jsonl", history_policy.load()).changes}
    assert words == {
        "node-a": ("perf.matmul pass -> fail",),
        "node-b": ("dtype.support skip -> fail",),
        "node-c": ("dtype.support not run -> fail",),
        "node-d": ("dtype.support pass -> fail",),
    }
