"""One summarize run against the history: read its recent runs, judge this run, append it, write it back."""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from preflight_action import redact, schemas
from preflight_action.diff.parts import Parts
from preflight_action.errors import InputError
from preflight_action.history import changes, records, store, trends
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
    inventories: Sequence[Parts | None] | None = None,
) -> trends.Trends:
    """Judge ``reports`` (report, lane backend) against the history at ``path``, then append them to it.

    Every record is scrubbed of secret values and validated before it is written;
    records older than the policy's ``max_age_days`` (before ``now``) and the
    oldest beyond ``max_mib`` are dropped. ``inventories`` (one per report; else each
    report's own) are kept by reference (history.changes).
    """
    file = Path(path)
    tail = store.read_tail(file, policy.window_runs)
    values = redact.secret_values() if secrets is None else secrets
    current: list[dict[str, Any]] = []
    pairs = list(reports)
    found = list(inventories) if inventories is not None else [changes.parts_of(report) for report, _ in pairs]
    built = [
        (record, parts)
        for (report, backend), parts in zip(pairs, found, strict=True)
        if (record := records.from_report(report, at, backend, run_url))
    ]
    changes.link(tail.records, [r for r, _ in built], [p for _, p in built], policy.window_runs)
    for record, _ in built:
        scrubbed = redact.scrub(record, values)
        schemas.validate(scrubbed, records.SCHEMA_NAME, f"history record for {scrubbed['node']}")
        current.append(scrubbed)
    lines = b"".join(_dumps(r) + b"\n" for r in current)
    keep = store.keep_from(file, tail.size, now - timedelta(days=policy.max_age_days), policy.max_bytes, len(lines))
    past = [r for r, offset in zip(tail.records, tail.offsets, strict=True) if offset >= keep]
    regressions, missing = trends.judge(past, current, policy)
    flaky, share = trends.flaky(past, current, policy)
    lanes = changes.since_last_good(past, current, regressions, changes.summary_lines())
    series = changes.annotate(trends.charts(past, current, regressions, policy), regressions, lanes)
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
        changes=tuple(lanes),
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
    lanes = changes.since_last_good(past, current, regressions, changes.summary_lines())
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
        changes.annotate(trends.charts(past, current, regressions, policy), regressions, lanes),
        tuple(lanes),
    )
