"""Reports (Markdown, HTML with an inline SVG chart, user templates), CSV export and shard merging."""

from __future__ import annotations

import csv
import io
from pathlib import Path

import pytest

from preflight_action import schemas
from preflight_action.sweep.cli import main

FLOW = """name: grid
seed: 21
axes:
  size: [small, large]
  mode: [a, b, c]
steps:
  - name: work
    adapter: noop
    params: {tag: "${mode}"}
  - name: extra
    adapter: noop
    params: {skip: true}
report: {step: work, metric: seed, x: mode, series: size}
"""


def _flow(tmp_path: Path, text: str = FLOW) -> Path:
    path = tmp_path / "grid.yaml"
    path.write_text(text, encoding="utf-8")
    return path


def _run(out: Path, flow: Path, *extra: str) -> Path:
    before = set(out.iterdir()) if out.is_dir() else set()
    code = main(["--output-root", str(out), "run", "--flow", str(flow), "--no-probe", "--yes", "--plain", *extra])
    assert code == 0
    (run,) = set(out.iterdir()) - before
    return run


def test_markdown_report_lists_points_in_flow_axis_order_with_metrics(tmp_path: Path) -> None:
    run = _run(tmp_path / "runs", _flow(tmp_path))
    md = (run / "report.md").read_text(encoding="utf-8")
    assert md.startswith("# Sweep grid: passed")
    assert "| point | size | mode | status | work · ok | work · seed |" in md
    assert "| p000 | small | a | passed | True |" in md
    assert "| 6 | 0 | 0 | 0 | 0 | 6 | 0 |" in md  # 6 passed, 6 skipped


def test_html_report_has_status_colours_table_and_inline_svg_chart(tmp_path: Path) -> None:
    run = _run(tmp_path / "runs", _flow(tmp_path))
    html = (run / "report.html").read_text(encoding="utf-8")
    assert '<table id="points">' in html
    assert html.count('<tr class="row-passed">') == 6
    assert '<span class="badge passed">passed</span>' in html
    assert ".passed { background: var(--pass); }" in html
    assert '<svg id="chart"' in html
    assert html.count("<polyline") == 2
    assert "size=small" in html
    assert "size=large" in html
    assert "<script" not in html
    assert "http://" not in html.replace("http://www.w3.org/2000/svg", "")


def test_user_templates_override_ours(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    run = _run(tmp_path / "runs", _flow(tmp_path))
    templates = tmp_path / "templates"
    templates.mkdir()
    (templates / "sweep_report.md.j2").write_text("custom {{ summary.flow }} {{ summary.points | length }}\n", encoding="utf-8")
    assert main(["--output-root", str(run.parent), "report", "--run-id", run.name, "--templates", str(templates)]) == 0
    assert (run / "report.md").read_text(encoding="utf-8") == "custom grid 6\n"
    assert '<table id="points">' in (run / "report.html").read_text(encoding="utf-8")


def test_csv_export_rolls_up_steps_across_subruns(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    run = _run(tmp_path / "runs", _flow(tmp_path))
    assert main(["--output-root", str(run.parent), "export", "--run-id", run.name, "--format", "csv"]) == 0
    rows = list(csv.DictReader(io.StringIO((run / "steps.csv").read_text(encoding="utf-8"))))
    assert len(rows) == 12
    first = rows[0]
    assert first["point_id"] == "p000"
    assert first["step"] == "work"
    assert first["axis.size"] == "small"
    assert first["axis.mode"] == "a"
    assert first["metric.tag"] == "a"
    assert first["status"] == "passed"
    assert {r["status"] for r in rows if r["step"] == "extra"} == {"skipped"}


def test_shards_merge_into_one_summary_and_report(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    flow = _flow(tmp_path)
    out = tmp_path / "runs"
    one = _run(out, flow, "--shard", "1/2")
    two = _run(out, flow, "--shard", "2/2")
    assert "-shard1of2" in one.name
    assert "-shard2of2" in two.name
    first = schemas.read_json(one / "summary.json", "sweep_summary")
    assert [p["id"] for p in first["points"]] == ["p000", "p002", "p004"]
    assert first["shard"] == {"index": 1, "count": 2}
    merged_root = tmp_path / "merged"
    assert main(["--output-root", str(merged_root), "merge", str(one), str(two)]) == 0
    (merged,) = list(merged_root.iterdir())
    summary = schemas.read_json(merged / "summary.json", "sweep_summary")
    assert [p["id"] for p in summary["points"]] == [f"p00{i}" for i in range(6)]
    assert summary["status"] == "passed"
    assert summary["sources"] == [one.name, two.name]
    assert summary["counts"]["passed"] == 6
    assert (merged / "subruns" / "p005" / "steps.ldjson").is_file()
    assert "merged from" in (merged / "report.md").read_text(encoding="utf-8")


def test_merging_different_sweeps_is_refused(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    flow = _flow(tmp_path)
    out = tmp_path / "runs"
    one = _run(out, flow, "--shard", "1/2")
    other = _run(out, flow, "--shard", "2/2", "--seed", "99")
    assert main(["--output-root", str(tmp_path / "m"), "merge", str(one), str(other)]) == 2
    assert "not the same sweep" in capsys.readouterr().err


def test_shards_need_a_fixed_seed(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    flow = _flow(tmp_path, FLOW.replace("seed: 21\n", ""))
    assert main(["--output-root", str(tmp_path), "run", "--flow", str(flow), "--no-probe", "--yes", "--shard", "1/2"]) == 2
    assert "--shard needs --seed" in capsys.readouterr().err


def test_clean_removes_only_old_runs(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    run = _run(tmp_path / "runs", _flow(tmp_path))
    assert main(["--output-root", str(run.parent), "clean", "--older-than", "1"]) == 0
    assert run.is_dir()
    assert main(["--output-root", str(run.parent), "clean", "--older-than", "0", "--dry-run"]) == 0
    assert run.is_dir()
    assert "would remove" in capsys.readouterr().out
    assert main(["--output-root", str(run.parent), "clean", "--older-than", "0"]) == 0
    assert not run.exists()


def test_default_chart_uses_the_first_declared_metric_and_the_first_two_axes() -> None:
    from dataclasses import replace

    from preflight_action.sweep.records import FlowRef, PlannedPoint, PlannedStep, SweepPlan
    from preflight_action.sweep.reporting import build_chart, chart_choice

    step = PlannedStep(0, "mm", "matmul_bench", {}, ("python",), 60.0, 1, ("ms_per_iter", "tflops"))
    plan = SweepPlan(
        run_id="r",
        created_utc="2000-01-01T00:00:00.000Z",  # never compared with the clock
        flow=FlowRef("f", "f.yaml", "0" * 64),
        policy="p",
        profile=None,
        seed=1,
        seed_source="--seed",
        python="python",
        device="cpu",
        shard_count=1,
        axes={"dtype": ("float32", "bfloat16"), "batch": (1, 8)},
        axis_names=("dtype", "batch"),
        report={},
        points=(PlannedPoint("p000", 0, 1, {"dtype": "float32", "batch": 1}, 1, (step,)),),
    )
    summary = {
        "points": [
            {"axes": {"dtype": d, "batch": b}, "metrics": {"mm": {"batch": b, "ms_per_iter": 1.0 + b, "tflops": 2.0}}}
            for d in ("float32", "bfloat16")
            for b in (1, 8)
        ]
    }
    assert chart_choice(plan, summary) == {"step": "mm", "metric": "ms_per_iter", "x": "dtype", "series": "batch", "lower_is_better": False}
    chart = build_chart(plan, summary)
    assert chart is not None
    assert [line["name"] for line in chart["lines"]] == ["batch=1", "batch=8"]
    assert chart["lines"][1]["dots"][0]["title"] == "dtype=float32, batch=8: 9"
    plan = replace(plan, report={"metric": "tflops", "x": "batch"})
    assert chart_choice(plan, summary)["metric"] == "tflops"
    assert chart_choice(plan, summary)["series"] == "dtype"
