"""report.md and report.html from a run's JSON, through Jinja2 templates the user may override."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from preflight_action import atomic
from preflight_action.sweep.artifacts import RunDir, read_doc
from preflight_action.sweep.planner import read_plan
from preflight_action.sweep.records import SweepPlan
from preflight_action.templating import environment

PALETTE = ("#2563eb", "#dc2626", "#16a34a", "#9333ea", "#ea580c", "#0891b2", "#ca8a04", "#db2777")
WIDTH, HEIGHT = 720, 340
LEFT, RIGHT, TOP, BOTTOM = 70, 150, 30, 50


def _numeric(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def chart_choice(plan: SweepPlan, summary: dict[str, Any]) -> dict[str, Any] | None:
    """(step, metric, x axis, series axis): the flow's ``report:`` block, else the first numeric metric."""
    wanted = plan.report or {}
    step, metric = wanted.get("step"), wanted.get("metric")
    if not (step and metric):
        for column_step, column_metric in metric_columns(plan, summary):
            if (step and column_step != step) or (metric and column_metric != metric):
                continue
            if any(_numeric(p["metrics"].get(column_step, {}).get(column_metric)) for p in summary["points"]):
                step, metric = column_step, column_metric
                break
        else:
            return None
    axes = list(plan.axis_names)
    if not (step and metric and axes):
        return None
    x = wanted.get("x") if wanted.get("x") in axes else axes[0]
    rest = [a for a in axes if a != x]
    series = wanted.get("series") if wanted.get("series") in rest else (rest[0] if rest else None)
    return {"step": step, "metric": metric, "x": x, "series": series, "lower_is_better": bool(wanted.get("lower_is_better", False))}


def build_chart(plan: SweepPlan, summary: dict[str, Any]) -> dict[str, Any] | None:
    """Geometry for an inline SVG line chart of one metric across the x axis, a line per series value."""
    choice = chart_choice(plan, summary)
    if choice is None:
        return None
    x_values = list(plan.axes[choice["x"]])
    series_values = list(plan.axes[choice["series"]]) if choice["series"] else [None]
    cells: dict[tuple[Any, Any], list[float]] = {}
    for point in summary["points"]:
        value = point["metrics"].get(choice["step"], {}).get(choice["metric"])
        if _numeric(value):
            key = (point["axes"][choice["x"]], point["axes"].get(choice["series"]) if choice["series"] else None)
            cells.setdefault(key, []).append(float(value))
    if not cells:
        return None
    top = max(max(v) for v in cells.values()) or 1.0
    top *= 1.1
    plot_w, plot_h = WIDTH - LEFT - RIGHT, HEIGHT - TOP - BOTTOM

    def px(i: int) -> float:
        return LEFT + (plot_w * (i + 0.5) / len(x_values))

    def py(v: float) -> float:
        return TOP + plot_h * (1 - v / top)

    series = []
    for n, name in enumerate(series_values):
        dots = []
        for i, xv in enumerate(x_values):
            values = cells.get((xv, name))
            if values:
                mean = sum(values) / len(values)
                dots.append(
                    {
                        "cx": round(px(i), 1),
                        "cy": round(py(mean), 1),
                        "title": f"{choice['x']}={xv}, {choice['series']}={name}: {mean:.4g}"
                        if choice["series"]
                        else f"{choice['x']}={xv}: {mean:.4g}",
                    }
                )
        if dots:
            series.append(
                {
                    "name": f"{choice['series']}={name}" if choice["series"] else choice["metric"],
                    "color": PALETTE[n % len(PALETTE)],
                    "points": " ".join(f"{d['cx']},{d['cy']}" for d in dots),
                    "dots": dots,
                    "legend_y": TOP + 18 * n + 8,
                }
            )
    y_ticks = [{"y": round(py(top * f / 1.1), 1), "label": f"{top * f / 1.1:.3g}"} for f in (0, 0.25, 0.5, 0.75, 1.0)]
    x_ticks = [{"x": round(px(i), 1), "label": str(v)} for i, v in enumerate(x_values)]
    return {
        **choice,
        "width": WIDTH,
        "height": HEIGHT,
        "left": LEFT,
        "right": WIDTH - RIGHT,
        "top": TOP,
        "bottom": HEIGHT - BOTTOM,
        "legend_x": WIDTH - RIGHT + 16,
        "x_ticks": x_ticks,
        "y_ticks": y_ticks,
        "lines": series,
    }


def metric_columns(plan: SweepPlan, summary: dict[str, Any]) -> list[tuple[str, str]]:
    """(step, metric) pairs for the per-point table: the metrics each manifest declares, else every numeric one."""
    declared: dict[str, list[str]] = {}
    order: list[str] = []
    for planned in plan.points:
        for planned_step in planned.steps:
            if planned_step.name not in declared:
                declared[planned_step.name] = list(planned_step.metrics)
                order.append(planned_step.name)
    seen: list[tuple[str, str]] = []
    for step in order:
        names = declared[step]
        if not names:
            found: list[str] = []
            for point in summary["points"]:
                found += [k for k, v in point["metrics"].get(step, {}).items() if _numeric(v) and k not in found]
            names = found
        seen += [(step, name) for name in names if any(name in p["metrics"].get(step, {}) for p in summary["points"])]
    return seen


def fmt(value: Any) -> str:
    if isinstance(value, float):
        return f"{value:.4g}"
    return "" if value is None else str(value)


def context(run: RunDir) -> dict[str, Any]:
    plan = read_plan(run.plan)
    summary = read_doc(run.summary, "sweep_summary")
    sysinfo = read_doc(run.sysinfo, "sysinfo") if run.sysinfo.is_file() else None
    problems: list[dict[str, Any]] = []
    for point in summary["points"]:
        sub = read_doc(run.subrun_summary(point["id"]), "sweep_subrun_summary")
        problems.extend(
            {"point": point["id"], "axes": point["axes"], **s} for s in sub["steps"] if s["status"] not in ("passed", "skipped")
        )
    return {
        "plan": plan,
        "summary": summary,
        "sysinfo": sysinfo,
        "axes": list(plan.axis_names),
        "columns": metric_columns(plan, summary),
        "chart": build_chart(plan, summary),
        "problems": problems,
        "fmt": fmt,
    }


def render(run: RunDir, templates: Path | None = None) -> tuple[Path, Path]:
    """Write report.md and report.html for ``run``; ``templates`` holds user overrides of ours."""
    extra = [templates] if templates else None
    data = context(run)
    md = environment(extra).get_template("sweep_report.md.j2").render(**data)
    html = environment(extra, html=True).get_template("sweep_report.html.j2").render(**data)
    atomic.write_text(run.report_md, md)
    atomic.write_text(run.report_html, html)
    return run.report_md, run.report_html
