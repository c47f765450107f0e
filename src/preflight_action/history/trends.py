"""Trends over the run history: per-node regressions, flaky checks and the series the charts draw.

A figure regresses when it sits at least ``drop_percent`` below the median of
the node's own last runs on the same SKU and software AND further below it than
``mad_factor`` scaled MADs (1.4826 x the median absolute deviation, which
estimates the standard deviation of normal noise): a node that is always noisy
is judged against its own spread. Fewer than ``min_runs`` past runs: no
baseline yet, and the summary says so.
"""

from __future__ import annotations

import itertools
import statistics
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from preflight_action.history.policy import HistoryPolicy
from preflight_action.history.records import SeriesKey, series_key, statuses

if TYPE_CHECKING:
    from preflight_action.history.lanes import LaneChange

MAD_SCALE = 1.4826


@dataclass(frozen=True)
class Regression:
    node_id: str
    backend: str
    check_id: str
    metric: str
    value: float
    baseline: float  # median of the node's last runs on the same SKU and software
    spread: float  # scaled MAD of those runs
    drop_percent: float
    runs: int  # past runs the baseline is the median of
    sku: str | None


@dataclass(frozen=True)
class Flaky:
    node_id: str
    backend: str
    check_id: str
    flips: int
    statuses: str  # oldest first, P pass / F fail


@dataclass(frozen=True)
class NoBaseline:
    node_id: str
    backend: str
    runs: int
    reason: str


@dataclass(frozen=True)
class Series:
    """One chart: values oldest first, each labelled with when its report finished; ``reference`` is a second line."""

    title: str
    unit: str
    labels: tuple[str, ...]
    values: tuple[float, ...]
    reference: tuple[float, ...]
    reference_name: str
    regressed: bool
    value_name: str = "value"  # what the first line is (the node's figure, the fleet median)
    note: str | None = None  # a regressed chart: what changed since the node's last good run (history.changes)


@dataclass(frozen=True)
class Trends:
    path: str
    records_read: int  # records of the recent runs that were parsed and validated
    runs_read: int
    records_added: int
    records_dropped_bytes: int
    regressions: tuple[Regression, ...]
    flaky: tuple[Flaky, ...]
    flaky_share: float  # flaky lanes / lanes with at least two pass-or-fail runs
    no_baseline: tuple[NoBaseline, ...]
    charts: tuple[Series, ...]
    changes: tuple[LaneChange, ...] = ()  # lanes failing anew or regressed, and what changed since their last good run
    records_known: int = 0  # reports already in the history (a re-run job): judged, not appended again

    def to_dict(self) -> dict[str, Any]:
        return {
            "regressions": [_plain(r) for r in self.regressions],
            "history": {
                "path": self.path,
                "records_read": self.records_read,
                "runs_read": self.runs_read,
                "records_added": self.records_added,
                "records_known": self.records_known,
                "bytes_dropped": self.records_dropped_bytes,
                "flaky": [_plain(f) for f in self.flaky],
                "flaky_share": self.flaky_share,
                "no_baseline": [_plain(n) for n in self.no_baseline],
                "changes": [c.to_dict() for c in self.changes],
            },
        }


def _plain(record: Any) -> dict[str, Any]:
    return {name: getattr(record, name) for name in record.__dataclass_fields__}


UNITS = {("perf.bandwidth", "copy_tbs"): "TB/s"}


def unit(check_id: str, metric: str) -> str:
    return UNITS.get((check_id, metric), "TFLOP/s" if check_id == "perf.matmul" else "")


def judge(
    past: Sequence[dict[str, Any]], current: Sequence[dict[str, Any]], policy: HistoryPolicy
) -> tuple[list[Regression], list[NoBaseline]]:
    """Regressions of ``current`` records against their series in ``past`` (oldest first)."""
    by_series: dict[SeriesKey, list[dict[str, Any]]] = {}
    by_lane: dict[tuple[str, str], list[dict[str, Any]]] = {}
    for record in past:
        by_series.setdefault(series_key(record), []).append(record)
        by_lane.setdefault((record["node"], record["backend"]), []).append(record)
    regressions: list[Regression] = []
    missing: list[NoBaseline] = []
    for record in current:
        mine = by_series.get(series_key(record), [])[-policy.regression_window :]
        if len(mine) < policy.min_runs:
            missing.append(_no_baseline(record, mine, by_lane.get((record["node"], record["backend"]), []), policy))
            continue
        for check_id, metrics in sorted(record["figures"].items()):
            for metric, value in sorted(metrics.items()):
                values = [r["figures"][check_id][metric] for r in mine if metric in r["figures"].get(check_id, {})]
                if len(values) < policy.min_runs:
                    continue
                middle = statistics.median(values)
                spread = MAD_SCALE * statistics.median(abs(v - middle) for v in values)
                if middle <= 0:
                    continue
                drop = (middle - value) / middle * 100
                if drop >= policy.drop_percent and middle - value > policy.mad_factor * spread:
                    regressions.append(
                        Regression(
                            record["node"],
                            record["backend"],
                            check_id,
                            metric,
                            value,
                            round(middle, 4),
                            round(spread, 4),
                            round(drop, 1),
                            len(values),
                            record["sku"],
                        )
                    )
    regressions.sort(key=lambda r: (-r.drop_percent, r.node_id, r.check_id, r.metric))
    missing.sort(key=lambda n: (n.node_id, n.backend))
    return regressions, missing


def _no_baseline(record: dict[str, Any], same: list[dict[str, Any]], lane: list[dict[str, Any]], policy: HistoryPolicy) -> NoBaseline:
    if not lane:
        reason = "first run: no baseline yet"
    elif not same:
        before = lane[-1]
        changes = [f"{k} {before[k]} -> {record[k]}" for k in ("sku", "torch", "driver") if before[k] != record[k]]
        reason = f"first run on this SKU and software ({', '.join(changes)}): no baseline yet"
    else:
        reason = f"{len(same)} past run{'s' if len(same) != 1 else ''} on this SKU and software; a baseline needs {policy.min_runs}"
    return NoBaseline(record["node"], record["backend"], len(same), reason)


def flaky(past: Sequence[dict[str, Any]], current: Sequence[dict[str, Any]], policy: HistoryPolicy) -> tuple[list[Flaky], float]:
    """Checks whose pass/fail status flipped at least ``min_flips`` times in the lane's last runs."""
    lanes = {(r["node"], r["backend"]) for r in current}
    runs: dict[tuple[str, str], list[dict[str, Any]]] = {}
    for record in (*past, *current):
        key = (record["node"], record["backend"])
        if key in lanes:
            runs.setdefault(key, []).append(record)
    found: list[Flaky] = []
    judged = 0
    for (node, backend), lane_records in runs.items():
        recent = [statuses(r) for r in lane_records[-policy.flaky_window :]]
        check_ids = sorted({c for r in recent for c in r})
        for check_id in check_ids:
            seen = "".join("P" if r[check_id] == "pass" else "F" for r in recent if r.get(check_id, "skip") != "skip")
            if len(seen) < 2:
                continue
            judged += 1
            flips = sum(1 for a, b in itertools.pairwise(seen) if a != b)
            if flips >= policy.min_flips:
                found.append(Flaky(node, backend, check_id, flips, seen))
    found.sort(key=lambda f: (-f.flips, f.node_id, f.backend, f.check_id))
    return found, round(len(found) / judged, 4) if judged else 0.0


def _finished(record: dict[str, Any]) -> str:
    return str(record.get("finished_at") or record["at"])


def _points(everything: Sequence[dict[str, Any]]) -> list[tuple[str, list[dict[str, Any]]]]:
    """The records grouped into chart points: one per summarize run and per report of a node within it
    (five nights summarized at once are five points), labelled by when their reports finished, oldest first."""
    groups: dict[tuple[str, int], list[dict[str, Any]]] = {}
    for at in dict.fromkeys(r["at"] for r in everything):
        by_node: dict[tuple[str, str], list[dict[str, Any]]] = {}
        for r in everything:
            if r["at"] == at:
                by_node.setdefault((r["node"], r["backend"]), []).append(r)
        for mine in by_node.values():
            for index, record in enumerate(sorted(mine, key=_finished)):
                groups.setdefault((at, index), []).append(record)
    points = [(max(_finished(r) for r in members), members) for members in groups.values()]
    return sorted(points, key=lambda point: point[0])


def charts(
    past: Sequence[dict[str, Any]], current: Sequence[dict[str, Any]], regressions: Sequence[Regression], policy: HistoryPolicy
) -> list[Series]:
    """Regressed figures first (the node's line and its baseline), then watched figures (fleet median and minimum per SKU).

    The x axis is when each report finished (``finished_at``), not when summarize ran.
    """
    everything = [*past, *current]
    out: list[Series] = []
    for reg in regressions[: policy.max_charts]:
        points = sorted(
            (
                (_finished(r), r["figures"][reg.check_id][reg.metric])
                for r in everything
                if r["node"] == reg.node_id
                and r["backend"] == reg.backend
                and r["sku"] == reg.sku
                and reg.metric in r["figures"].get(reg.check_id, {})
            ),
            key=lambda point: point[0],
        )[-policy.chart_points :]
        out.append(
            Series(
                f"{reg.node_id} {reg.check_id} {reg.metric}: -{reg.drop_percent:g}% vs median {figure(reg.baseline)}",
                unit(reg.check_id, reg.metric),
                tuple(_label(at) for at, _ in points),
                tuple(v for _, v in points),
                tuple(reg.baseline for _ in points),
                "baseline (median of its past runs)",
                True,
                f"{reg.node_id} {reg.metric}",
            )
        )
    grouped = _points(everything)[-policy.chart_points :]
    for check_id, metric in policy.watch:
        series: dict[tuple[str, Any], list[tuple[str, list[float]]]] = {}
        for label, members in grouped:
            per_lane: dict[tuple[str, Any], list[float]] = {}
            for r in members:
                if metric in r["figures"].get(check_id, {}):
                    per_lane.setdefault((r["backend"], r["sku"]), []).append(r["figures"][check_id][metric])
            for key, values in per_lane.items():
                series.setdefault(key, []).append((label, values))
        for (backend, sku), shown in sorted(series.items(), key=lambda kv: (kv[0][0], str(kv[0][1]))):
            if len(out) >= policy.max_charts:
                return out
            if len(shown) < 2:
                continue
            out.append(
                Series(
                    f"{check_id} {metric} on {sku or backend}: fleet median and slowest node",
                    unit(check_id, metric),
                    tuple(_label(label) for label, _ in shown),
                    tuple(round(statistics.median(values), 4) for _, values in shown),
                    tuple(min(values) for _, values in shown),
                    "slowest node",
                    False,
                    "fleet median",
                )
            )
    return out[: policy.max_charts]


def figure(value: float, digits: int = 4) -> str:
    """A measured figure for people: ``781.6``, ``3.015``, ``1.5e+03`` never ``781.6000000001``."""
    return f"{value:.{digits}g}"


def spread(value: float) -> str:
    """A spread (scaled MAD) to two significant digits: ``1.5``, not ``1.4826``."""
    return f"{value:.2g}"


def _label(at: str) -> str:
    """``2026-03-01T02:00:00.000Z`` as ``03-01 02:00`` (runs of one day stay apart)."""
    return f"{at[5:10]} {at[11:16]}"
