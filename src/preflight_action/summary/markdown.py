"""The summary as GitHub Markdown (template ``summary.md.j2``), kept under GitHub's size limits.

A body too large for its destination (PR comment: 65,536 characters; job
summary: 1 MiB; ``github.limits``) is rendered again with less detail, and says
so with a note that points to the artifact holding the full summary.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any

import jinja2

from preflight_action import __version__, templating
from preflight_action.github.comment import DEFAULT_KEY, marker
from preflight_action.github.limits import Limit, cut
from preflight_action.history import trends
from preflight_action.matrix.peers import number as peers_number
from preflight_action.summary.model import ReportRow, Summary

TEMPLATE = "summary.md.j2"

AFFECTED_CAP = 20  # lanes named under each failed check's error
DELTA_ROWS = 100  # rows per delta / regression table; the summary JSON lists them all
STATUS_ICON = {"pass": "✅", "fail": "❌", "incomplete": "⚠️"}
BAND_ICON = {"critical": "🛑", "high": "🔴", "medium": "🟠", "low": "🟡"}
CODE_ICON = {"ok": "✅", "skipped": "⏭️", "not_judged": "⏸️", "stale": "🕒", "degraded": "⚠️", "error": "❌", "down": "🛑"}


@dataclass(frozen=True)
class Detail:
    """How much of the summary a rendering shows (None: everything)."""

    rows: int | None
    failed: int | None
    invalid: int | None
    nodes: int | None
    errors: bool


# Each level drops more; the last is small for any input (a few dozen short rows).
LEVELS = (
    Detail(None, None, None, None, True),
    Detail(None, None, None, None, False),
    Detail(200, 30, 50, 100, True),
    Detail(200, 30, 50, 100, False),
    Detail(50, 15, 20, 30, False),
    Detail(10, 5, 5, 10, False),
)


@dataclass(frozen=True)
class Rendered:
    text: str
    level: int
    reduced: bool


def render(
    summary: Summary,
    key: str | None = DEFAULT_KEY,
    limit: Limit | None = None,
    budget: int | None = None,
    artifact_hint: str | None = None,
    extra_dirs: list[Path] | None = None,
    scrub: Callable[[str], str] = str,
) -> Rendered:
    """Markdown for ``summary``; with ``limit``, the most detailed level that fits ``budget`` (default: the limit).

    ``scrub`` (e.g. secret redaction) is applied before measuring, so what is published fits.
    """
    template = _template(tuple(str(p) for p in extra_dirs or ()))
    room = limit.size if budget is None and limit else budget
    if limit is None or room is None:
        return Rendered(scrub(template.render(**_context(summary, key, LEVELS[0], False, None, artifact_hint))), 0, False)
    rows = len(summary.rows)
    for index, detail in enumerate(LEVELS):
        if detail.rows is None and rows * 60 > room:
            continue  # every row costs more than 60 units: this level cannot fit, skip rendering it
        text = scrub(template.render(**_context(summary, key, detail, index > 0, limit, artifact_hint)))
        if limit.measure(text) <= room:
            return Rendered(text, index, index > 0)
    text = scrub(template.render(**_context(summary, key, LEVELS[-1], True, limit, artifact_hint)))
    return Rendered(cut(text, limit, room, where(summary.artifact_url, artifact_hint)), len(LEVELS), True)


@lru_cache(maxsize=8)
def _template(extra_dirs: tuple[str, ...]) -> jinja2.Template:
    """The compiled template (compiling costs more than rendering a thousand rows), per override set."""
    env = templating.environment([Path(p) for p in extra_dirs])
    env.filters["md_cell"] = _cached_md_cell  # OS, Python, device and backend names repeat across rows
    env.filters["figure"] = trends.figure
    env.filters["spread"] = trends.spread
    return env.get_template(TEMPLATE)


@lru_cache(maxsize=16_384, typed=True)
def _md_cell_memo(value: Any, limit: int) -> str:
    return templating.md_cell(value, limit)


def _cached_md_cell(value: Any, limit: int = 300) -> str:
    try:
        return _md_cell_memo(value, limit)
    except TypeError:  # unhashable value
        return templating.md_cell(value, limit)


def where(artifact_url: str | None, file_hint: str | None) -> str:
    url = templating.safe_url(artifact_url)
    name = templating.md_cell(Path(file_hint).name) if file_hint else None
    if url and name:
        return f"The full summary is {name} in the [run's artifacts]({url})."
    if url:
        return f"The full summary is in the [run's artifacts]({url})."
    if file_hint:
        return f"The full summary is in {templating.md_cell(file_hint)}."
    return "The full summary is in the summary JSON artifact."


def _context(
    summary: Summary, key: str | None, detail: Detail, reduced: bool, limit: Limit | None, artifact_hint: str | None
) -> dict[str, Any]:
    rows = summary.rows if detail.rows is None else summary.rows[: detail.rows]
    failed = summary.top_failed if detail.failed is None else summary.top_failed[: detail.failed]
    invalid = summary.invalid if detail.invalid is None else summary.invalid[: detail.invalid]
    nodes = summary.matrix.nodes if detail.nodes is None else _worst_nodes(summary, detail.nodes)
    cells = {(c.node, c.backend): c for c in summary.matrix.cells}
    affected = _affected(summary.rows, [f.check_id for f in failed]) if detail.errors else {}
    return {
        "s": summary,
        "c": summary.counts,
        "marker": marker(key),
        "version": __version__,
        "status_icon": STATUS_ICON[summary.status],
        "band_icon": BAND_ICON,
        "code_icon": CODE_ICON,
        "run_url": templating.safe_url(summary.run_url),
        "artifact_url": templating.safe_url(summary.artifact_url),
        "rows": rows,
        "hidden_rows": len(summary.rows) - len(rows),
        "failed": failed,
        "hidden_failed": len(summary.top_failed) - len(failed),
        "invalid": invalid,
        "hidden_invalid": len(summary.invalid) - len(invalid),
        "nodes": nodes,
        "hidden_nodes": len(summary.matrix.nodes) - len(nodes),
        "backends": summary.matrix.backends,
        "cells": cells,
        "errors": detail.errors,
        "affected": affected,
        "affected_cap": AFFECTED_CAP,
        "row_status": _row_status,
        "reduced": reduced,
        "limit_name": limit.name if limit else "",
        "where": where(summary.artifact_url, artifact_hint),
        "delta": summary.delta,
        "trends": summary.trends,
        "peers": summary.peers,
        "number": peers_number,
        "delta_cap": DELTA_ROWS if detail.rows is None else min(DELTA_ROWS, detail.rows),
        "charts": _charts(summary) if detail.errors else [],
        "lane_change": {(c.node_id, c.backend): c for c in summary.trends.changes} if summary.trends else {},
    }


def _charts(summary: Summary) -> list[tuple[str, str, str | None]]:
    """Mermaid ``xychart-beta`` blocks for the trend charts (regressed figures, then watched ones), each with the
    caption that names its lines (Mermaid's xychart draws no legend) and its note (what changed since the last good run)."""
    if summary.trends is None:
        return []
    from preflight_action.history import charts

    return [(charts.mermaid(series), charts.legend(series), series.note) for series in summary.trends.charts]


def _row_status(row: ReportRow) -> str:
    if row.status == "incomplete":
        word = f"⏸️ not judged ({row.unfinished} unfinished)" if row.unfinished else "⏸️ not judged"
    else:
        word = "✅ pass" if row.status == "pass" else f"❌ fail ({row.highest_band})" if row.highest_band else "❌ fail"
    if row.status == "fail" and row.verdict == "not_judged":
        word += f", not judged ({row.unfinished} unfinished)"
    if row.simulated:
        word += " (simulated)"
    if row.stale:
        word += " 🕒 stale"
    return word


def _worst_nodes(summary: Summary, count: int) -> tuple[str, ...]:
    from preflight_action.matrix.snapshot import CODES

    worst: dict[str, int] = {}
    for cell in summary.matrix.cells:
        worst[cell.node] = max(worst.get(cell.node, 0), CODES[cell.code][1])
    ranked = sorted(summary.matrix.nodes, key=lambda n: (-worst.get(n, 0), n))[:count]
    return tuple(sorted(ranked))


def _affected(rows: tuple[ReportRow, ...], check_ids: list[str], cap: int = AFFECTED_CAP) -> dict[str, list[str]]:
    """Per failed check, the distinct "node (backend)" lanes it failed on (at most ``cap``)."""
    wanted = set(check_ids)
    out: dict[str, dict[str, None]] = {c: {} for c in check_ids}
    for row in rows:
        for check_id in row.failed_checks:
            if check_id in wanted and len(out[check_id]) < cap:
                out[check_id][f"{row.node_id} ({row.backend})"] = None
    return {c: list(lanes) for c, lanes in out.items()}
