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
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from preflight_action.history.policy import HistoryPolicy
from preflight_action.history.records import SeriesKey, series_key, statuses

if TYPE_CHECKING:
    from preflight_action.history.changes import LaneChange

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
    """One chart: values per run (oldest first); ``reference`` is a second line (the baseline, or the fleet minimum)."""

    title: str
    unit: str
    labels: tuple[str, ...]
    values: tuple[float, ...]
    reference: tuple[float, ...]
    reference_name: str
    regressed: bool
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

    def to_dict(self) -> dict[str, Any]:
        return {
            "regressions": [_plain(r) for r in self.regressions],
            "history": {
                "path": self.path,
                "records_read": self.records_read,
                "runs_read": self.runs_read,
                "records_added": self.records_added,
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


def _runs(records: Iterable[dict[str, Any]]) -> list[str]:
    return list(dict.fromkeys(r["at"] for r in records))


def charts(
    past: Sequence[dict[str, Any]], current: Sequence[dict[str, Any]], regressions: Sequence[Regression], policy: HistoryPolicy
) -> list[Series]:
    """Regressed figures first (the node's line and its baseline), then watched figures (fleet median and minimum per SKU)."""
    everything = [*past, *current]
    out: list[Series] = []
    for reg in regressions[: policy.max_charts]:
        points = [
            (r["at"], r["figures"][reg.check_id][reg.metric])
            for r in everything
            if r["node"] == reg.node_id
            and r["backend"] == reg.backend
            and r["sku"] == reg.sku
            and reg.metric in r["figures"].get(reg.check_id, {})
        ][-policy.chart_points :]
        out.append(
            Series(
                f"{reg.node_id} {reg.check_id} {reg.metric}: -{reg.drop_percent:g}% vs median {reg.baseline:g}",
                unit(reg.check_id, reg.metric),
                tuple(_label(at) for at, _ in points),
                tuple(v for _, v in points),
                tuple(reg.baseline for _ in points),
                "baseline (median)",
                True,
            )
        )
    stamps = _runs(everything)[-policy.chart_points :]
    wanted = set(stamps)
    for check_id, metric in policy.watch:
        groups: dict[tuple[str, Any], dict[str, list[float]]] = {}
        for r in everything:
            if r["at"] in wanted and metric in r["figures"].get(check_id, {}):
                groups.setdefault((r["backend"], r["sku"]), {}).setdefault(r["at"], []).append(r["figures"][check_id][metric])
        for (backend, sku), per_run in sorted(groups.items(), key=lambda kv: (kv[0][0], str(kv[0][1]))):
            if len(out) >= policy.max_charts:
                return out
            shown = [at for at in stamps if at in per_run]
            if len(shown) < 2:
                continue
            out.append(
                Series(
                    f"{check_id} {metric} on {sku or backend}: fleet median per run",
                    unit(check_id, metric),
                    tuple(_label(at) for at in shown),
                    tuple(round(statistics.median(per_run[at]), 4) for at in shown),
                    tuple(min(per_run[at]) for at in shown),
                    "slowest node",
                    False,
                )
            )
    return out[: policy.max_charts]


def _label(at: str) -> str:
    """``2026-03-01T02:00:00.000Z`` as ``03-01 02:00`` (runs of one day stay apart)."""
    return f"{at[5:10]} {at[11:16]}"
