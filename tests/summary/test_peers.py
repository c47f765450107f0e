"""preflight-summarize judges every node against its peers: the summary JSON, Markdown, job summary, PR comment, --fail-on outlier."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import pytest

from preflight_action.github.limits import COMMENT
from preflight_action.summary import cli
from preflight_action.summary import markdown as summary_render
from preflight_action.summary import serialise as summary_json
from tests.support.report_factory import report_doc, write

H100 = "NVIDIA H100 80GB HBM3"


def twelve(slow: float | None = 0.70, spread: float = 0.05) -> list[dict[str, Any]]:
    """Twelve real-shaped reports of one device model at the standard level, bf16 spread evenly over ``spread``; gpu-07 at ``slow``."""
    docs = []
    for i in range(12):
        scale = slow if (slow is not None and i == 7) else 1.0 - spread * i / 11
        figures = {"bf16": round(781.6 * scale, 1), "fp16": round(781.6 * (1.0 - spread * i / 11), 1), "copy_tbs": 3.0}
        docs.append(report_doc(node=f"gpu-{i:02d}", figures=figures, level="standard"))
    return docs


def run(tmp_path: Path, documents: list[dict[str, Any]], *extra: str) -> tuple[int, dict[str, Any], str]:
    pattern = write(tmp_path / "reports", documents)
    out_json, out_md = tmp_path / "summary.json", tmp_path / "summary.md"
    code = cli.main(["--input-glob", pattern, "--output-json", str(out_json), "--output-md", str(out_md), "--quiet", *extra])
    return code, summary_json.read(out_json), out_md.read_text(encoding="utf-8")


def test_one_of_twelve_30_percent_slower_is_named_and_fail_on_outlier_exits_1(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, document, markdown = run(tmp_path, twelve(), "--fail-on", "outlier")
    assert code == 1
    assert document["schema_version"] == "1.2"
    assert document["status"] == "pass"  # every check passed; only the fleet says this node is slow
    (outlier,) = document["peers"]["outliers"]
    assert (outlier["node"], outlier["figure"], outlier["value"], outlier["peers"]) == ("gpu-07", "bf16 matmul", 547.1, 11)
    assert outlier["median"] == 763.8  # the median of the other eleven (781.6 x 1 - 0.05 i / 11, rounded like the probe)
    assert outlier["words"] == "gpu-07 bf16 matmul 547 TFLOP/s, 28% below its 11 peers' median of 764"
    assert "summarize: --fail-on outlier: 1 figure below its peers' (worst: gpu-07 bf16 matmul 547 TFLOP/s" in capsys.readouterr().err
    assert "### Nodes against their peers" in markdown
    assert f"| gpu-07 | {H100} (cuda) | standard | bf16 matmul | 547 TFLOP/s | 764 | **-28%** | 11 |" in markdown


def test_a_steady_5_percent_spread_gives_no_outlier_and_exit_0(tmp_path: Path) -> None:
    code, document, markdown = run(tmp_path, twelve(slow=None), "--fail-on", "outlier")
    assert code == 0
    assert document["peers"]["outliers"] == []
    assert document["peers"]["groups"][0]["judged"] is True
    assert "No node is slower than its peers (1 of 1 device group had enough peers to judge)." in markdown


def test_too_few_peers_judges_nothing_and_says_so(tmp_path: Path) -> None:
    code, document, markdown = run(tmp_path, twelve()[6:9], "--fail-on", "outlier")
    assert code == 0
    (group,) = document["peers"]["groups"]
    assert group["note"] == f"too few peers: 3 reports of {H100} at the standard level (2 peers each; judging needs 3)"
    assert f"_Not judged, too few peers: 3 reports of {H100} at the standard level (2 peers each; judging needs 3)._" in markdown


def test_fail_on_failure_is_not_tripped_by_an_outlier(tmp_path: Path) -> None:
    assert run(tmp_path, twelve(), "--fail-on", "failure")[0] == 0
    assert run(tmp_path, twelve())[0] == 0  # --fail-on never (the default)


def test_job_summary_and_pr_comment_show_the_outlier(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    step = tmp_path / "step_summary.md"
    monkeypatch.setenv("GITHUB_STEP_SUMMARY", str(step))
    pattern = write(tmp_path / "reports", twelve())
    assert cli.main(["--input-glob", pattern, "--step-summary", "--quiet"]) == 0
    assert "| gpu-07 | NVIDIA H100 80GB HBM3 (cuda) | standard | bf16 matmul | 547 TFLOP/s | 764 | **-28%** | 11 |" in step.read_text(
        "utf-8"
    )
    from preflight_action.preflight import severity
    from preflight_action.summary import load as summary_load
    from preflight_action.summary import model as summary

    merged = summary.build(summary_load.load_reports(summary_load.expand([pattern])), severity.load())
    comment = summary_render.render(merged, "fleet", limit=COMMENT).text
    assert "### Nodes against their peers" in comment
    assert "gpu-07" in comment.split("### Nodes against their peers")[1].split("###")[0]


def test_a_bad_peers_policy_is_one_line_and_exit_2(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    policy = tmp_path / "peers.yaml"
    policy.write_text("schema_version: 1\nmin_peers: 0\ndrop_percent: 10\nmad_factor: 4\nfigures: []\n", encoding="utf-8")
    monkeypatch.setenv("PREFLIGHT_PEERS_POLICY", str(policy))
    pattern = write(tmp_path / "reports", twelve())
    assert cli.main(["--input-glob", pattern, "--output-json", str(tmp_path / "s.json"), "--quiet"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1
    assert err[0].startswith(f"preflight-summarize: error: $PREFLIGHT_PEERS_POLICY: {policy}: ")
    assert "/min_peers" in err[0]


def node(name: str, bf16: float, hours_ago: float = 0.5) -> dict[str, Any]:
    """One H100 report of ``name`` at the standard level, finished ``hours_ago``."""
    finished = datetime.now(timezone.utc) - timedelta(hours=hours_ago)
    return report_doc(node=name, figures={"bf16": bf16, "copy_tbs": 3.0}, level="standard", finished_at=finished)


def test_a_slow_node_s_five_retries_do_not_outvote_four_healthy_peers(tmp_path: Path) -> None:
    documents = [node(f"gpu-{i:02d}", 780.0) for i in range(4)] + [node("gpu-bad", 468.0, m / 60) for m in (10, 20, 30, 40, 50)]
    code, document, markdown = run(tmp_path, documents, "--fail-on", "outlier")
    assert code == 1
    (outlier,) = document["peers"]["outliers"]
    assert outlier["words"] == "gpu-bad bf16 matmul 468 TFLOP/s, 40% below its 4 peers' median of 780"
    assert f"| gpu-bad | {H100} (cuda) | standard | bf16 matmul | 468 TFLOP/s | 780 | **-40%** | 4 |" in markdown
    (group,) = document["peers"]["groups"]
    assert (group["reports"], group["judged"]) == (9, True)
    assert group["note"].startswith("4 earlier reports of the same node left out")


def test_a_node_slow_three_weeks_ago_and_healthy_now_is_not_an_outlier(tmp_path: Path) -> None:
    documents = [node(f"gpu-{i:02d}", 780.0) for i in range(6)] + [node("gpu-06", 468.0, 21 * 24), node("gpu-06", 781.0)]
    code, document, _ = run(tmp_path, documents, "--fail-on", "outlier")
    assert (code, document["peers"]["outliers"]) == (0, [])


def test_a_stale_report_is_left_out_of_the_peers_past_freshness_hours(tmp_path: Path) -> None:
    documents = [node(f"gpu-{i:02d}", 780.0) for i in range(6)] + [node("gpu-06", 468.0, 30)]
    code, document, _ = run(tmp_path, documents, "--fail-on", "outlier")  # --freshness-hours 24, the default
    assert (code, document["peers"]["outliers"]) == (0, [])
    assert document["peers"]["groups"][0]["note"] == "1 stale report left out (finished more than 24 h ago)"
    code, document, _ = run(tmp_path, documents, "--fail-on", "outlier", "--freshness-hours", "48")
    assert code == 1
    assert [o["node"] for o in document["peers"]["outliers"]] == ["gpu-06"]


def test_a_fleet_split_in_two_says_so_in_the_summary_json_and_markdown(tmp_path: Path) -> None:
    documents = [node(f"gpu-{i:02d}", 780.0) for i in range(4)] + [node(f"gpu-{i:02d}", 468.0) for i in range(4, 9)]
    code, document, markdown = run(tmp_path, documents, "--fail-on", "outlier")
    assert "the fleet splits in two on bf16 matmul (4 nodes near 780 TFLOP/s, 5 near 468): peers cannot say which is slow._" in markdown
    assert (code, document["peers"]["outliers"]) == (0, [])
    assert document["peers"]["groups"][0]["note"] == (
        "the fleet splits in two on bf16 matmul (4 nodes near 780 TFLOP/s, 5 near 468): peers cannot say which is slow"
    )
