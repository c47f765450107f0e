"""The PR delta (--baseline PATH) and --fail-on, on real report files through the summarize CLI."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from preflight_action.github.limits import COMMENT
from preflight_action.preflight import severity
from preflight_action.summary import cli
from preflight_action.summary import load as summary_load
from preflight_action.summary import model as summary
from preflight_action.summary import serialise as summary_json
from tests.support.report_factory import report_doc, write

ILLEGAL = "RuntimeError: CUDA error: an illegal memory access was encountered"


def run(tmp_path: Path, name: str, documents: list[dict[str, Any]], *extra: str) -> tuple[int, dict[str, Any], str]:
    pattern = write(tmp_path / name, documents)
    out_json, out_md = tmp_path / f"{name}.json", tmp_path / f"{name}.md"
    code = cli.main(["--input-glob", pattern, "--output-json", str(out_json), "--output-md", str(out_md), "--quiet", *extra])
    return code, summary_json.read(out_json), out_md.read_text(encoding="utf-8")


def three_lanes(tmp_path: Path) -> tuple[int, dict[str, Any], str]:
    """Baseline: lane A fails tensor.smoke, lane B fails dtype.support, lane C passes.
    This run: A still fails tensor.smoke, B is fixed, C fails tensor.smoke (new)."""
    before = [
        report_doc("node-a", "cuda", {"tensor.smoke": ILLEGAL}),
        report_doc("node-b", "cuda", {"dtype.support": "bfloat16 matmul relative error 0.31"}),
        report_doc("node-c", "cuda"),
        report_doc("node-c", "cpu", {"tensor.smoke": ILLEGAL}),  # same node, other backend: its own lane
    ]
    code, _, _ = run(tmp_path, "base", before)
    assert code == 0
    after = [
        report_doc("node-a", "cuda", {"tensor.smoke": ILLEGAL}),
        report_doc("node-b", "cuda"),
        report_doc("node-c", "cuda", {"tensor.smoke": ILLEGAL}),
        report_doc("node-c", "cpu", {"tensor.smoke": ILLEGAL}),
    ]
    return run(tmp_path, "head", after, "--baseline", str(tmp_path / "base.json"), "--fail-on", "regression")


def lanes(items: list[dict[str, Any]]) -> list[tuple[str, str, str]]:
    return [(i["node_id"], i["backend"], i["check_id"]) for i in items]


def test_delta_splits_new_fixed_and_still_failing_by_node_backend_and_check(tmp_path: Path) -> None:
    code, document, _ = three_lanes(tmp_path)
    delta = document["delta"]
    assert lanes(delta["new_failures"]) == [("node-c", "cuda", "tensor.smoke")]
    assert lanes(delta["fixed"]) == [("node-b", "cuda", "dtype.support")]
    assert sorted(lanes(delta["still_failing"])) == [("node-a", "cuda", "tensor.smoke"), ("node-c", "cpu", "tensor.smoke")]
    new = delta["new_failures"][0]
    assert new["band"] in ("critical", "high", "medium", "low")
    assert new["report"].startswith(str(tmp_path / "head"))
    assert delta["fixed"][0]["report"].startswith(str(tmp_path / "base"))  # a fixed check points at the baseline's report
    assert delta["baseline"] == {
        "source": "file",
        "location": str(tmp_path / "base.json"),
        "generated_at": delta["baseline"]["generated_at"],
    }
    assert delta["baseline"]["generated_at"]
    assert code == 1  # --fail-on regression: one new failure


def test_markdown_leads_with_new_failures_then_fixed_then_folded_still_failing(tmp_path: Path) -> None:
    _, _, markdown = three_lanes(tmp_path)
    new, fixed, still = markdown.index("New failures"), markdown.index("Fixed"), markdown.index("Still failing (2)")
    assert new < fixed < still < markdown.index("### Severity triage")
    assert "<details><summary>Still failing (2)" in markdown
    assert "1 new failure**, 1 fixed, 2 still failing" in markdown


def test_fail_on_regression_passes_a_known_broken_lane(tmp_path: Path) -> None:
    broken = [report_doc("node-a", "cuda", {"tensor.smoke": ILLEGAL}), report_doc("node-b", "cuda")]
    run(tmp_path, "base", broken)
    code, document, _ = run(tmp_path, "head", broken, "--baseline", str(tmp_path / "base.json"), "--fail-on", "regression")
    assert code == 0
    assert document["status"] == "fail"
    assert document["delta"]["new_failures"] == []
    code, _, _ = run(tmp_path, "head", broken, "--baseline", str(tmp_path / "base.json"), "--fail-on", "failure")
    assert code == 1
    code, _, _ = run(tmp_path, "head", broken, "--baseline", str(tmp_path / "base.json"))
    assert code == 0  # default --fail-on never: the exit code keeps meaning "the summary was written"


def test_a_lane_missing_from_this_run_is_not_counted_fixed(tmp_path: Path) -> None:
    run(tmp_path, "base", [report_doc("node-a", "cuda", {"tensor.smoke": ILLEGAL}), report_doc("node-b", "cuda")])
    _, document, _ = run(tmp_path, "head", [report_doc("node-b", "cuda")], "--baseline", str(tmp_path / "base.json"))
    assert document["delta"]["fixed"] == []


def test_missing_baseline_is_a_note_and_every_failure_counts_as_new(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    docs = [report_doc("node-a", "cuda", {"tensor.smoke": ILLEGAL})]
    code, document, markdown = run(tmp_path, "head", docs, "--baseline", str(tmp_path / "nope.json"), "--fail-on", "regression")
    assert code == 1
    assert document["delta"]["baseline"]["generated_at"] is None
    assert "does not exist" in document["delta"]["note"]
    assert lanes(document["delta"]["new_failures"]) == [("node-a", "cuda", "tensor.smoke")]
    assert "> [!NOTE]" in markdown
    assert "nope.json does not exist" in capsys.readouterr().err


def test_an_invalid_baseline_is_bad_input_with_one_line(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    bad = tmp_path / "bad.json"
    bad.write_text(json.dumps({"kind": "preflight-summary", "status": "green"}), encoding="utf-8")
    pattern = write(tmp_path / "in", [report_doc()])
    out = tmp_path / "out.json"
    code = cli.main(["--input-glob", pattern, "--baseline", str(bad), "--output-json", str(out), "--quiet"])
    err = capsys.readouterr().err
    assert code == 2
    assert str(bad) in err
    assert "/: 'blocking' is a required property" in err  # the JSON pointer and the problem
    assert "Traceback" not in err
    assert len(err.strip().splitlines()) == 1
    written = summary_json.read(out)  # everything is still written, and says why there is no baseline
    assert written["delta"]["note"].startswith("invalid baseline:")


def test_a_baseline_from_before_failed_bands_takes_each_checks_worst_band(tmp_path: Path) -> None:
    run(tmp_path, "base", [report_doc("node-a", "cuda", {"tensor.smoke": ILLEGAL}), report_doc("node-b", "cuda")])
    old = json.loads((tmp_path / "base.json").read_text(encoding="utf-8"))
    for row in old["reports"]:
        del row["failed_bands"]  # as a 1.0 summary wrote it
    old["schema_version"] = "1.0"
    (tmp_path / "base.json").write_text(json.dumps(old), encoding="utf-8")
    _, document, _ = run(
        tmp_path, "head", [report_doc("node-a", "cuda"), report_doc("node-b", "cuda")], "--baseline", str(tmp_path / "base.json")
    )
    (fixed,) = document["delta"]["fixed"]
    assert fixed["band"] == old["top_failed_checks"][0]["worst_band"]


def test_a_large_delta_still_fits_a_pr_comment_and_leads_with_new_failures(tmp_path: Path) -> None:
    from preflight_action.summary import markdown

    run(tmp_path, "base", [report_doc(f"node-{i:04d}", "cuda") for i in range(400)])
    head = [report_doc(f"node-{i:04d}", "cuda", {"tensor.smoke": ILLEGAL, "dtype.support": "bf16 wrong"}) for i in range(400)]
    _, document, _ = run(tmp_path, "head", head, "--baseline", str(tmp_path / "base.json"))
    assert len(document["delta"]["new_failures"]) == 800  # the JSON lists every one
    pattern = write(tmp_path / "head", head)
    merged = summary.build(summary_load.load_reports(summary_load.expand([pattern])), severity.load())
    from preflight_action.summary import compare

    merged = compare.with_delta(merged, compare.baseline(str(tmp_path / "base.json")))
    body = markdown.render(merged, limit=COMMENT)
    assert COMMENT.measure(body.text) <= COMMENT.size
    assert body.text.index("New failures") < body.text.index("### Severity triage")
    assert "more new failures not shown (the summary JSON lists them all)" in body.text
