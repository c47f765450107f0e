"""Two runs side by side: what changed, grouped and ordered by how likely it explains a failure.

The groups, in order (vocab.DIFF_GROUPS): checks whose outcome changed (new failures first), the runtime
(torch, torchvision, CUDA, driver, Python), packages, environment variables, capabilities, performance
figures that moved further than their noise (policy/diff.yaml). Durations and timestamps never enter:
two runs of one machine an hour apart differ in nothing.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Any

from preflight_action.diff import compare
from preflight_action.diff.compare import Change
from preflight_action.diff.parts import Parts, of_report
from preflight_action.diff.policy import DiffPolicy
from preflight_action.preflight.report import Report
from preflight_action.vocab import BANDS, DIFF_GROUP_TITLES, DIFF_GROUPS, ChangeKind, DiffGroup

ERROR_LIMIT = 160


@dataclass(frozen=True)
class Outcome:
    status: str  # pass | fail | skip
    band: str | None = None
    error: str | None = None  # the first line of the error or skip reason


@dataclass(frozen=True)
class Side:
    """One run as the diff sees it: identity, each check's outcome, the inventory's parts, the perf figures."""

    label: str  # the report file, or "node at time" for a history record
    node_id: str
    finished_at: str
    verdict: str | None
    outcomes: Mapping[str, Outcome]
    parts: Parts | None
    figures: Mapping[str, Mapping[str, float]] = field(default_factory=dict)
    threshold: str | None = None  # the strict threshold the run was judged by (a band)
    simulated: bool = False  # a simulated run is never judged

    @classmethod
    def of_report(cls, report: Report, label: str) -> Side:
        bands = {t.check_id: t.band for t in report.triage.top_failed_checks}
        outcomes = {c.id: Outcome(c.status, bands.get(c.id), _first_line(c.error or c.skip_reason)) for c in report.checks}
        figures = {}
        for check in report.checks:
            measured = check.details.get("figures")
            if isinstance(measured, dict):
                figures[check.id] = {k: float(v) for k, v in measured.items() if _number(v)}
        return cls(
            label,
            report.host.node_id,
            report.finished_at,
            report.verdict,
            outcomes,
            of_report(report),
            figures,
            report.options.strict_threshold,
            report.simulated,
        )

    @property
    def inventory(self) -> str:
        """full | partial | absent: how much of an inventory this run recorded."""
        known = compare.known(self.parts)
        if known is None:
            return "absent"
        parts = [known.packages, known.environment, known.platform]
        return "partial" if any(p is None or p.get("partial") for p in parts) else "full"


@dataclass(frozen=True)
class Diff:
    before: Side
    after: Side
    changes: tuple[Change, ...]
    notes: tuple[str, ...]

    @property
    def verdict_changed(self) -> bool:
        """Whether the two runs were given different verdicts (both known)."""
        return None not in (self.before.verdict, self.after.verdict) and self.before.verdict != self.after.verdict

    @property
    def changed(self) -> bool:
        """Something in the groups changed, or the verdict did (which is no change of its own in the counts)."""
        return bool(self.changes) or self.verdict_changed

    @property
    def verdict(self) -> str | None:
        """The verdicts as one phrase ("healthy -> blocking", "blocking in both"); None when neither run has one."""
        if self.before.verdict is None and self.after.verdict is None:
            return None
        if self.before.verdict == self.after.verdict:
            return f"{_verdict_word(self.after.verdict)} in both"
        return f"{_verdict_word(self.before.verdict)} -> {_verdict_word(self.after.verdict)}"

    @property
    def inventory_changes(self) -> tuple[Change, ...]:
        """What changed in what ran (runtime, packages, variables, capabilities), without outcomes or figures."""
        return tuple(c for c in self.changes if c.group in ("runtime", "packages", "environment", "capabilities"))

    def groups(self) -> list[tuple[DiffGroup, str, list[Change]]]:
        """(group, its title, its changes) for every group with a change, in the order they are shown."""
        out = []
        for group in DIFF_GROUPS:
            found = [c for c in self.changes if c.group == group]
            if found:
                out.append((group, DIFF_GROUP_TITLES[group], found))
        return out


def _verdict_word(verdict: str | None) -> str:
    return "unknown" if verdict is None else verdict.replace("_", " ")


def _first_line(text: str | None) -> str | None:
    line = next((ln.strip() for ln in (text or "").splitlines() if ln.strip()), None)
    return line if line is None or len(line) <= ERROR_LIMIT else line[: ERROR_LIMIT - 1] + "…"


def _number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)


_STATUS_RANK = {"fail": 0, "pass": 1, "skip": 2, None: 3}


def _band_change(check_id: str, was: Outcome, now: Outcome) -> tuple[int, Change] | None:
    """A check that fails in both runs in another severity band: (its rank, the change); None for the same band.

    Only the band counts: the error's words differ run to run (pids, times, addresses) and are no change.
    A band that got worse ranks among the new failures, one that got better among the fixed.
    """
    if was.band not in BANDS or now.band not in BANDS or was.band == now.band:
        return None
    old, new = f"fail ({was.band})", f"fail ({now.band})"
    text = f"{check_id} {old} -> {new}" + (f": {now.error}" if now.error else "")
    worse = BANDS.index(now.band) < BANDS.index(was.band)  # critical first
    return _STATUS_RANK["fail" if worse else "pass"], Change("checks", "outcome", check_id, old, new, text)


def outcomes(before: Mapping[str, Outcome], after: Mapping[str, Outcome]) -> list[Change]:
    """Checks whose status changed (or that only one run ran), or that fail in both in another band:
    new failures (and worse bands) first, then fixed (and better bands), then the rest."""
    out: list[tuple[tuple[int, str], Change]] = []
    order = {check_id: index for index, check_id in enumerate([*after, *(c for c in before if c not in after)])}
    for check_id, position in order.items():
        was, now = before.get(check_id), after.get(check_id)
        old, new = was.status if was else None, now.status if now else None
        if old == new:
            banded = _band_change(check_id, was, now) if was is not None and now is not None and new == "fail" else None
            if banded is not None:
                out.append(((banded[0], f"{position:04d}"), banded[1]))
            continue
        why = now.error if now is not None and new in ("fail", "skip") else None
        text = f"{check_id} {old or 'not run'} -> {new or 'not run'}" + (f": {why}" if why else "")
        rank = (_STATUS_RANK[new], f"{position:04d}")
        out.append((rank, Change("checks", "outcome", check_id, old, new, text)))
    return [change for _, change in sorted(out, key=lambda item: item[0])]


def performance(before: Mapping[str, Mapping[str, float]], after: Mapping[str, Mapping[str, float]], noise_percent: float) -> list[Change]:
    """Figures both runs measured that moved by more than ``noise_percent``, the largest move first; then the
    figures only one run measured ("not measured" on the other side: added or removed)."""
    out: list[tuple[float, Change]] = []
    once: list[Change] = []
    for check_id in sorted(set(before) | set(after)):
        old_figures, new_figures = before.get(check_id, {}), after.get(check_id, {})
        for metric in sorted(set(old_figures) | set(new_figures)):
            subject = f"{check_id} {metric}"
            if metric not in new_figures:
                was = old_figures[metric]
                once.append(Change("performance", "removed", subject, was, None, f"{subject} {was:g} -> not measured"))
                continue
            if metric not in old_figures:
                now = new_figures[metric]
                once.append(Change("performance", "added", subject, None, now, f"{subject} not measured -> {now:g}"))
                continue
            old, new = old_figures[metric], new_figures[metric]
            if old <= 0:
                continue
            moved = (new - old) / old * 100
            if abs(moved) <= noise_percent:
                continue
            kind: ChangeKind = "slower" if moved < 0 else "faster"
            text = f"{subject} {old:g} -> {new:g} ({moved:+.0f}%)"
            out.append((-abs(moved), Change("performance", kind, subject, old, new, text)))
    return [*(change for _, change in sorted(out, key=lambda item: item[0])), *once]


def _moment(timestamp: str) -> datetime | None:
    """An ISO 8601 time as an aware datetime (a trailing Z included, which Python 3.10 does not read); None if unreadable."""
    try:
        moment = datetime.fromisoformat(timestamp[:-1] + "+00:00" if timestamp.endswith(("Z", "z")) else timestamp)
    except (TypeError, ValueError):
        return None
    return moment if moment.tzinfo is not None else moment.replace(tzinfo=timezone.utc)


def _reversed(before: Side, after: Side) -> str | None:
    """A note when one node's two runs were given later first: every change then reads backwards."""
    if before.node_id != after.node_id:
        return None  # two nodes: the order is "the one that passes, the one that fails", not time
    first, second = _moment(before.finished_at), _moment(after.finished_at)
    if first is None or second is None or first <= second:
        return None
    return (
        f"{before.label} finished after {after.label}: the changes read from the later run to the earlier"
        " (swap the arguments to read them forward)"
    )


def _judged_differently(before: Side, after: Side) -> str:
    """Why the verdict changed though no check's outcome did: the rules the runs were judged by."""
    reasons = []
    if before.threshold != after.threshold:
        reasons.append(f"strict threshold {before.threshold or 'unknown'} -> {after.threshold or 'unknown'}")
    if before.simulated != after.simulated:
        reasons.append(f"{'the earlier' if before.simulated else 'the later'} run is simulated: never judged")
    why = ", ".join(reasons) or "the checks the level requires, or how far they ran"
    return f"the verdict changed though no check's outcome did: the runs were judged differently ({why})"


def diff(before: Side, after: Side, policy: DiffPolicy) -> Diff:
    """Everything that changed from ``before`` to ``after``, in the order it is shown."""
    inventory, notes = compare.inventories(before.parts, after.parts)
    changes = [*outcomes(before.outcomes, after.outcomes), *inventory, *performance(before.figures, after.figures, policy.noise_percent)]
    rank = {group: index for index, group in enumerate(DIFF_GROUPS)}
    changes.sort(key=lambda c: rank[c.group])  # stable: each group keeps its own order
    if before.node_id != after.node_id:
        notes.insert(0, f"two nodes: {before.node_id} and {after.node_id}")
    backwards = _reversed(before, after)
    if backwards:
        notes.insert(0, backwards)
    found = Diff(before, after, tuple(changes), tuple(notes))
    if found.verdict_changed and not any(c.group == "checks" for c in changes):
        found = Diff(before, after, found.changes, (*found.notes, _judged_differently(before, after)))
    return found


def lines(changes: tuple[Change, ...] | list[Change], limit: int) -> list[str]:
    """At most ``limit`` one-line texts, the last saying how many more there are."""
    texts = [c.text for c in changes]
    if len(texts) <= limit:
        return texts
    return [*texts[: limit - 1], f"and {len(texts) - limit + 1} more"]


@dataclass(frozen=True)
class ChangedSince:
    """What changed in a lane's inventory since an earlier run of it, as a failure shows it beside itself."""

    since: str | None  # the earlier run (a report file, or a history run's time)
    changes: tuple[Change, ...]
    lines: tuple[str, ...]  # the first few, one line each
    note: str | None  # nothing changed (the hardware or the driver), or why it cannot be told

    def to_dict(self) -> dict[str, Any]:
        return {"since": self.since, "changes": [c.to_dict() for c in self.changes], "lines": list(self.lines), "note": self.note}


def changed_since(before: Parts | None, after: Parts | None, since: str | None, what: str, limit: int) -> ChangedSince:
    """The inventory changes from ``before`` (the ``what``: "base run on this lane", "last good run on this node") to ``after``."""
    before, after = compare.known(before), compare.known(after)
    if before is None:
        return ChangedSince(since, (), (), f"the {what}'s inventory is not known: what changed cannot be told")
    if after is None:
        return ChangedSince(since, (), (), "this run recorded no inventory: what changed cannot be told")
    found, notes, count = compare.compared(before, after)
    if found:
        return ChangedSince(since, tuple(found), tuple(lines(found, limit)), "; ".join(notes) or None)
    if not count:  # no part both runs recorded: "nothing changed" would be a guess
        return ChangedSince(
            since, (), (), "; ".join(["no part of the inventory was recorded by both runs: what changed cannot be told", *notes])
        )
    note = f"nothing in the inventory changed since the {what}: that points at the hardware or the driver"
    return ChangedSince(since, (), (), "; ".join([note, *notes]))
