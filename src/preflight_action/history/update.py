"""One summarize run against the history: read its recent runs, judge this run, append it, write it back."""

from __future__ import annotations

import json
from collections.abc import Iterable
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from preflight_action import redact, schemas
from preflight_action.errors import InputError
from preflight_action.history import records, store, trends
from preflight_action.history.policy import HistoryPolicy
from preflight_action.preflight.report import Report


def _dumps(record: dict[str, Any]) -> bytes:
    try:
        import orjson
    except ImportError:  # declared dependency; stay correct without it
        return json.dumps(record, separators=(",", ":"), ensure_ascii=False).encode("utf-8")
    return orjson.dumps(record)


def update(
    path: str | Path,
    reports: Iterable[tuple[Report, str]],
    at: str,
    now: datetime,
    policy: HistoryPolicy,
    run_url: str | None = None,
    secrets: list[str] | None = None,
) -> trends.Trends:
    """Judge ``reports`` (report, lane backend) against the history at ``path``, then append them to it.

    Every record is scrubbed of secret values and validated before it is written;
    records older than the policy's ``max_age_days`` (before ``now``) and the
    oldest beyond ``max_mib`` are dropped.
    """
    file = Path(path)
    tail = store.read_tail(file, policy.window_runs)
    values = redact.secret_values() if secrets is None else secrets
    current: list[dict[str, Any]] = []
    for report, backend in reports:
        record = records.from_report(report, at, backend, run_url)
        if record is None:
            continue
        record = redact.scrub(record, values)
        schemas.validate(record, records.SCHEMA_NAME, f"history record for {record['node']}")
        current.append(record)
    lines = b"".join(_dumps(r) + b"\n" for r in current)
    keep = store.keep_from(file, tail.size, now - timedelta(days=policy.max_age_days), policy.max_bytes, len(lines))
    past = [r for r, offset in zip(tail.records, tail.offsets, strict=True) if offset >= keep]
    regressions, missing = trends.judge(past, current, policy)
    flaky, share = trends.flaky(past, current, policy)
    series = trends.charts(past, current, regressions, policy)
    try:
        store.write(file, tail.size, keep, lines)
    except OSError as exc:
        raise InputError(f"--history {file}: cannot write ({exc.strerror or exc})") from None
    return trends.Trends(
        path=str(file),
        records_read=len(tail.records),
        runs_read=tail.runs,
        records_added=len(current),
        records_dropped_bytes=keep,
        regressions=tuple(regressions),
        flaky=tuple(flaky),
        flaky_share=share,
        no_baseline=tuple(missing),
        charts=tuple(series),
    )


def latest(path: str | Path, policy: HistoryPolicy) -> trends.Trends:
    """The history's last run judged against the runs before it (read only: the matrix dashboard)."""
    file = Path(path)
    tail = store.read_tail(file, policy.window_runs + 1)
    stamps = list(dict.fromkeys(r["at"] for r in tail.records))
    last = stamps[-1] if stamps else None
    past = [r for r in tail.records if r["at"] != last]
    current = [r for r in tail.records if r["at"] == last]
    regressions, missing = trends.judge(past, current, policy)
    flaky, share = trends.flaky(past, current, policy)
    return trends.Trends(
        str(file),
        len(tail.records),
        tail.runs,
        0,
        0,
        tuple(regressions),
        tuple(flaky),
        share,
        tuple(missing),
        tuple(trends.charts(past, current, regressions, policy)),
    )
