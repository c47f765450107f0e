"""The history policy (policy/history.yaml): retention bounds, regression and flaky thresholds, charts."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from preflight_action import policy_files

HISTORY = policy_files.PolicySource("history_policy", "history.yaml", "PREFLIGHT_HISTORY_POLICY")


@dataclass(frozen=True)
class HistoryPolicy:
    max_age_days: float
    max_bytes: int
    regression_window: int
    min_runs: int
    drop_percent: float
    mad_factor: float
    flaky_window: int
    min_flips: int
    chart_points: int
    max_charts: int
    watch: tuple[tuple[str, str], ...]  # (check id, metric)
    source: str = ""

    @property
    def window_runs(self) -> int:
        """How many past runs any judgement needs (the tail of the file that is read and validated); this run is one more."""
        return max(self.regression_window, self.flaky_window - 1, self.chart_points - 1)


def from_document(document: dict[str, Any], source: str) -> HistoryPolicy:
    retention, regression, flaky, charts = document["retention"], document["regression"], document["flaky"], document["charts"]
    return HistoryPolicy(
        max_age_days=float(retention["max_age_days"]),
        max_bytes=int(retention["max_mib"] * 1024 * 1024),
        regression_window=regression["window"],
        min_runs=regression["min_runs"],
        drop_percent=float(regression["drop_percent"]),
        mad_factor=float(regression["mad_factor"]),
        flaky_window=flaky["window"],
        min_flips=flaky["min_flips"],
        chart_points=charts["points"],
        max_charts=charts["max_charts"],
        watch=tuple((w["check"], w["metric"]) for w in charts["watch"]),
        source=source,
    )


def load(path: str | Path | None = None) -> HistoryPolicy:
    """``path``, else $PREFLIGHT_HISTORY_POLICY, else the shipped policy/history.yaml (validated, cached)."""
    return policy_files.load(HISTORY, from_document, path)
