"""One summarize run against the history: read its recent runs, judge this run, then append it (idempotently) and write it back.

Judging and writing are two steps (``prepare``, then ``Pending.write``) so a caller writes its summary first:
an interrupted run leaves a summary and an unchanged history, never a history that claims a summary.
A report already in the history (the same report summarized again, e.g. a re-run job) is judged against the
runs before it and not appended again, so its figures never enter their own baseline.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
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


def _stamp(file: Path) -> tuple[int, int] | None:
    """(size, mtime) of the --history file, None when there is none yet; a path that cannot be one is one InputError
    (a parent that is a file, a symlink loop, a directory or FIFO there)."""
    try:
        info = file.stat()
    except FileNotFoundError:
        return None
    except OSError as exc:  # ENOTDIR: a parent is a file; ELOOP: a symlink loop; EACCES
        raise InputError(f"--history {file}: cannot be read or written ({exc.strerror or exc})") from None
    from preflight_action import documents

    kind = documents.not_regular(info.st_mode)
    if kind is not None:
        raise InputError(f"--history {file}: not a regular file ({kind}): a history is a JSON-lines file")
    return (info.st_size, info.st_mtime_ns)


@dataclass(frozen=True)
class Pending:
    """This run's records, ready to be appended (what ``prepare`` judged); ``write`` puts them in the file."""

    path: Path
    size: int
    keep: int
    lines: bytes
    stamp: tuple[int, int] | None  # the file as it was read: a change since then is refused, not merged blindly

    def write(self) -> None:
        if _stamp(self.path) != self.stamp:
            raise InputError(f"--history {self.path}: changed while this run was judged; nothing was appended (run summarize again)")
        try:
            store.write(self.path, self.size, self.keep, self.lines)
        except OSError as exc:
            raise InputError(f"--history {self.path}: cannot write ({exc.strerror or exc})") from None


def _known(file: Path, tail: store.Tail, current: list[dict[str, Any]]) -> set[records.Identity]:
    """Identities of ``current`` records the history already holds (the tail, and older lines when one predates it)."""
    held = {records.identity(r) for r in tail.records}
    found = {key for record in current for key in records.identities(record) if key in held}
    if tail.complete or not tail.offsets:
        return found
    oldest = min(r["finished_at"] for r in tail.records)
    older = [r for r in current if r["finished_at"] < oldest and not set(records.identities(r)) & found]
    if older:  # an old artifact summarized again: look for its id in the lines before the tail, by bytes
        ids = store.report_ids_before(file, tail.offsets[0])
        found |= {records.identity(r) for r in older if r["report_id"] in ids}
    return found


def prepare(
    path: str | Path,
    reports: Iterable[tuple[Report, str]],
    at: str,
    now: datetime,
    policy: HistoryPolicy,
    run_url: str | None = None,
    secrets: list[str] | None = None,
    inventories: Sequence[Parts | None] | None = None,
) -> tuple[trends.Trends, Pending]:
    """Judge ``reports`` (report, lane backend) against the history at ``path``; the records to append, not yet written.

    Every record is scrubbed of secret values and validated; records older than the policy's ``max_age_days``
    (before ``now``) and the oldest beyond ``max_mib`` are dropped when the file is written. ``inventories`` (one
    per report; else each report's own) are kept by reference (history.changes).
    """
    file = Path(path)
    stamp = _stamp(file)
    tail = store.read_tail(file, policy.window_runs)
    values = redact.secret_values() if secrets is None else secrets
    current: list[dict[str, Any]] = []
    pairs = list(reports)
    parts_found = list(inventories) if inventories is not None else [changes.parts_of(report) for report, _ in pairs]
    built = [
        (record, parts)
        for (report, backend), parts in zip(pairs, parts_found, strict=True)
        if (record := records.from_report(report, at, backend, run_url))
    ]
    changes.link(tail.records, [r for r, _ in built], [p for _, p in built], policy.window_runs)
    for record, _ in built:
        scrubbed = redact.scrub(record, values)
        schemas.validate(scrubbed, records.SCHEMA_NAME, f"history record for {scrubbed['node']}")
        current.append(scrubbed)
    known = _known(file, tail, current)
    fresh = [r for r in current if not set(records.identities(r)) & known]
    lines = b"".join(_dumps(r) + b"\n" for r in fresh)
    keep = store.keep_from(file, tail.size, now - timedelta(days=policy.max_age_days), policy.max_bytes, len(lines))
    mine = {key for record in current for key in records.identities(record)}
    # this run's own reports, summarized before, are not their own past: a value never enters its own baseline
    past = [r for r, offset in zip(tail.records, tail.offsets, strict=True) if offset >= keep and records.identity(r) not in mine]
    regressions, missing = trends.judge(past, current, policy)
    flaky, share = trends.flaky(past, current, policy)
    lanes = changes.since_last_good(past, current, regressions, changes.summary_lines())
    series = changes.annotate(trends.charts(past, current, regressions, policy), regressions, lanes)
    found = trends.Trends(
        path=str(file),
        records_read=len(tail.records),
        runs_read=tail.runs,
        records_added=len(fresh),
        records_dropped_bytes=keep,
        regressions=tuple(regressions),
        flaky=tuple(flaky),
        flaky_share=share,
        no_baseline=tuple(missing),
        charts=tuple(series),
        changes=tuple(lanes),
        records_known=len(current) - len(fresh),
    )
    return found, Pending(file, tail.size, keep, lines, stamp)


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
    """``prepare`` and write at once (callers with nothing to write first)."""
    found, pending = prepare(path, reports, at, now, policy, run_url, secrets, inventories)
    pending.write()
    return found


def latest(path: str | Path, policy: HistoryPolicy) -> trends.Trends:
    """The history's last run judged against the runs before it (read only: the matrix dashboard)."""
    file = Path(path)
    _stamp(file)  # a path that cannot be a history (a FIFO, a parent that is a file) names --history
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
