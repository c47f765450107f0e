"""Every node against its peers: each report's performance figures against the same device model's at the same level.

A public report tells of an A100 at a third of its peers' speed that passed every absolute test: a
reference per SKU is loose by necessity, the fleet itself is not. Peers are the other reports of the same
device model (capabilities.detect's device name) on the same backend at the same level. A figure below
the peers' median by more than ``drop_percent`` AND by more than ``mad_factor`` scaled MADs of the peers
(their normal spread) is an outlier; with fewer than ``min_peers`` peers nothing is judged and the group
says "too few peers". Each node and device counts once, with its latest report: a node's retries and older
runs are never its own peers, and a report older than the caller's staleness limit takes no part. Where
a figure's readings split into two clusters that the median cannot judge, the group says so instead of
staying silent. policy/peers.yaml holds the thresholds and which figures count. The summary and the
runtime matrix page both read this one implementation.
"""

from __future__ import annotations

import math
import statistics
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from preflight_action import policy_files
from preflight_action.matrix.model import parse_time
from preflight_action.preflight.report import CheckResult, Report
from preflight_action.vocab import DEFAULT_LEVEL

PEERS = policy_files.PolicySource("peers_policy", "peers.yaml", "PREFLIGHT_PEERS_POLICY")
MAD_SCALE = 1.4826  # MAD x this estimates the standard deviation of normal noise
EXACT_SPREAD_UP_TO = 200  # members of a group whose peers' spread is computed without each one exactly


@dataclass(frozen=True)
class Figure:
    check: str
    metric: str
    label: str
    unit: str

    def value(self, checks: dict[str, CheckResult]) -> float | None:
        """details.figures.<metric> of the check, else details.<metric>; None unless a finite positive number."""
        check = checks.get(self.check)
        if check is None:
            return None
        figures = check.details.get("figures")
        raw = figures.get(self.metric) if isinstance(figures, dict) and self.metric in figures else check.details.get(self.metric)
        if isinstance(raw, bool) or not isinstance(raw, (int, float)) or not math.isfinite(raw) or raw <= 0:
            return None
        return float(raw)


@dataclass(frozen=True)
class PeersPolicy:
    min_peers: int
    drop_percent: float
    mad_factor: float
    figures: tuple[Figure, ...]
    source: str = ""


@dataclass(frozen=True)
class Outlier:
    node: str  # the node id (with the device where one node has several reports in the group)
    backend: str
    device_model: str
    level: str
    check_id: str
    metric: str
    figure: str  # the policy's label: "bf16 matmul"
    unit: str
    value: float
    median: float  # of the peers
    spread: float  # scaled MAD of the peers
    below_percent: float
    peers: int
    path: str

    @property
    def words(self) -> str:
        """'gpu-17 bf16 matmul 512 TFLOP/s, 34% below its 31 peers' median of 781'."""
        return (
            f"{self.node} {self.figure} {number(self.value)} {self.unit}, {self.below_percent:.0f}% below "
            f"its {self.peers} peers' median of {number(self.median)}"
        )


@dataclass(frozen=True)
class PeerGroup:
    backend: str
    device_model: str
    level: str
    reports: int  # every report of the group read, those left out (earlier, stale) included
    judged: bool
    note: str | None  # "too few peers: ...", what was left out, a fleet split in two; None when there is nothing to say
    figures: tuple[str, ...]  # the labels of the figures its reports carry


@dataclass(frozen=True)
class Peers:
    outliers: tuple[Outlier, ...]
    groups: tuple[PeerGroup, ...]
    policy: PeersPolicy

    def to_dict(self) -> dict[str, Any]:
        """The summary's ``peers`` object (schemas/preflight_summary.schema.json, 1.2)."""
        return {
            "policy": self.policy.source,
            "min_peers": self.policy.min_peers,
            "drop_percent": self.policy.drop_percent,
            "mad_factor": self.policy.mad_factor,
            "outliers": [{**_plain(o), "words": o.words} for o in self.outliers],
            "groups": [{**_plain(g), "figures": list(g.figures)} for g in self.groups],
        }


def _plain(record: Any) -> dict[str, Any]:
    return {name: getattr(record, name) for name in record.__dataclass_fields__}


def number(value: float) -> str:
    """Three significant figures and no exponent: 781.6 -> '782', 3.015 -> '3.02', 0.25 -> '0.25'."""
    if value >= 100:
        return f"{value:.0f}"
    return f"{value:.3g}" if value >= 0.001 else f"{value:.2e}"


def from_document(document: dict[str, Any], source: str) -> PeersPolicy:
    figures = tuple(Figure(f["check"], f["metric"], f["label"], f["unit"]) for f in document["figures"])
    return PeersPolicy(document["min_peers"], float(document["drop_percent"]), float(document["mad_factor"]), figures, source)


def load(path: str | Path | None = None) -> PeersPolicy:
    """``path``, else $PREFLIGHT_PEERS_POLICY, else the shipped policy/peers.yaml (validated, cached)."""
    return policy_files.load(PEERS, from_document, path)


@dataclass(frozen=True)
class _Member:
    report: Report
    path: str
    node: str
    values: dict[Figure, float]


@dataclass
class _Group:
    """One device group's reports: each node and device's latest (its member) and how many were left out."""

    latest: dict[tuple[str, str], tuple[datetime, str, _Member]]
    reports: int = 0
    earlier: int = 0  # a node and device's reports before its latest: retries, older runs
    stale: int = 0  # members whose latest report is older than the staleness limit


def compare(
    reports: Iterable[tuple[Report, str]], policy: PeersPolicy, now: datetime | None = None, max_age_hours: float | None = None
) -> Peers:
    """Outliers among ``reports`` (report, path); simulated runs and reports without a figure take no part.

    Each node and device counts once, with its latest report (by ``finished_at``; the path breaks a tie): a
    slow node's five retries are one member, never its own peers. With ``max_age_hours``, a member whose
    latest report finished longer ago than that before ``now`` is stale and takes no part either. Each
    group's note says what was left out.
    """
    groups: dict[tuple[str, str, str], _Group] = {}
    for report, path in reports:
        if report.simulated:
            continue
        checks = {c.id: c for c in report.checks}  # one pass: 10,000 reports are summarized in seconds
        values = {f: v for f in policy.figures if (v := f.value(checks)) is not None}
        caps = checks.get("capabilities.detect")
        model = caps.details.get("device_name") if caps is not None else None
        if not model or not values:
            continue
        backend = report.backend or report.requested_device
        level: str = report.options.level or DEFAULT_LEVEL
        group = groups.setdefault((backend, str(model), level), _Group({}))
        group.reports += 1
        node = report.host.node_id
        key = (node, report.resolved_device or report.requested_device)
        entry = (parse_time(report.finished_at), path, _Member(report, path, node, values))
        held = group.latest.get(key)
        if held is not None:
            group.earlier += 1
            if (held[0], held[1]) >= (entry[0], entry[1]):
                continue
        group.latest[key] = entry
    moment = now or datetime.now(timezone.utc)
    outliers: list[Outlier] = []
    summaries: list[PeerGroup] = []
    for (backend, model, level), group in sorted(groups.items()):
        members = [m for finished, _, m in group.latest.values() if not _stale(finished, moment, max_age_hours)]
        group.stale = len(group.latest) - len(members)
        _name_devices(members)
        labels = tuple(f.label for f in policy.figures if any(f in m.values for m in members))
        left_out = _left_out(group, max_age_hours)
        peers = len(members) - 1
        if peers < policy.min_peers:
            if members:
                note = (
                    f"too few peers: {len(members)} report{'s' if len(members) != 1 else ''} of {model} at the {level} level "
                    f"({peers} peer{'s' if peers != 1 else ''} each; judging needs {policy.min_peers})"
                )
            else:
                note = f"no fresh report of {model} at the {level} level"
            summaries.append(PeerGroup(backend, model, level, group.reports, False, "; ".join([note, *left_out]), labels))
            continue
        splits: list[str] = []
        for figure in policy.figures:
            having = [m for m in members if figure in m.values]
            readings = [m.values[figure] for m in having]
            found = _outliers(figure, readings, policy, having)
            for member, (median, spread, below, count) in found:
                outliers.append(
                    Outlier(
                        member.node, backend, model, level, figure.check, figure.metric, figure.label, figure.unit,
                        member.values[figure], round(median, 4), round(spread, 4), round(below, 1), count, member.path,
                    )
                )  # fmt: skip
            split = _split(readings, {id(member) for member, _ in found}, having, policy)
            if split is not None:
                splits.append(_split_words(figure, split, having))
        summaries.append(PeerGroup(backend, model, level, group.reports, True, "; ".join([*splits, *left_out]) or None, labels))
    outliers.sort(key=lambda o: (-o.below_percent, o.node, o.check_id, o.metric))
    return Peers(tuple(outliers), tuple(summaries), policy)


def _stale(finished: datetime, now: datetime, max_age_hours: float | None) -> bool:
    return max_age_hours is not None and (now - finished).total_seconds() > max_age_hours * 3600


def _left_out(group: _Group, max_age_hours: float | None) -> list[str]:
    """What a group's note says it left out: a node's earlier reports, stale ones."""
    said = []
    if group.earlier:
        said.append(
            f"{group.earlier} earlier report{'s' if group.earlier != 1 else ''} of the same node left out "
            "(each node and device counts once, with its latest report)"
        )
    if group.stale:
        said.append(f"{group.stale} stale report{'s' if group.stale != 1 else ''} left out (finished more than {max_age_hours:g} h ago)")
    return said


def _outliers(
    figure: Figure, values: list[float], policy: PeersPolicy, members: list[_Member]
) -> list[tuple[_Member, tuple[float, float, float, int]]]:
    """(member, (peers' median, scaled MAD, % below, peer count)) for each outlier among ``values`` (one per member).

    Each member's peers are all the others: their median comes from the sorted values by rank, in constant
    time, and only a member that far below it needs its peers' spread. Past EXACT_SPREAD_UP_TO members the
    spread is the whole group's (leaving one value out moves a median of thousands by at most one rank),
    so half a fleet of 10,000 below the other half costs one spread, not 5,000.
    """
    count = len(values) - 1
    if count < policy.min_peers:
        return []
    order = sorted(range(len(values)), key=values.__getitem__)
    ranked = [values[i] for i in order]
    shared = None
    if len(values) > EXACT_SPREAD_UP_TO:
        middle = statistics.median(ranked)
        shared = MAD_SCALE * statistics.median(abs(v - middle) for v in ranked)
    found = []
    for rank, index in enumerate(order):
        median = _median_without(ranked, rank)
        value = values[index]
        if median <= 0 or (median - value) / median * 100 <= policy.drop_percent:
            continue
        if shared is None:
            peers = ranked[:rank] + ranked[rank + 1 :]
            spread = MAD_SCALE * statistics.median(abs(p - median) for p in peers)
        else:
            spread = shared
        if median - value > policy.mad_factor * spread:
            found.append((members[index], (median, spread, (median - value) / median * 100, count)))
    return found


def _median_without(ranked: list[float], rank: int) -> float:
    """The median of sorted ``ranked`` without its element at ``rank``."""

    def at(position: int) -> float:  # the position-th smallest of the others
        return ranked[position if position < rank else position + 1]

    size = len(ranked) - 1
    middle = size // 2
    return at(middle) if size % 2 else (at(middle - 1) + at(middle)) / 2


def _name_devices(members: list[_Member]) -> None:
    """Where one node has several reports in a group (one per GPU), each is named with its device."""
    counts: dict[str, int] = {}
    for member in members:
        counts[member.node] = counts.get(member.node, 0) + 1
    for index, member in enumerate(members):
        if counts[member.node] > 1:
            device = member.report.resolved_device or member.report.requested_device
            members[index] = _Member(member.report, member.path, f"{member.node} {device}", member.values)


def _split(values: list[float], flagged: set[int], members: list[_Member], policy: PeersPolicy) -> tuple[list[float], list[float]] | None:
    """(lower, upper) where ``values`` split into two clusters the median rule left (partly) unjudged, else None.

    The split is at the widest gap between neighbouring sorted values, when that gap is more than
    ``drop_percent`` of the value above it and each side has at least two members (one slow member is
    an outlier, the rule's own case). It is worth saying only while some of the lower side is not named
    an outlier: 4 nodes at 780 and 5 at 468 leave every median between them or on the slow side.
    """
    if len(values) < 4:
        return None
    order = sorted(range(len(values)), key=values.__getitem__)
    ranked = [values[i] for i in order]
    gap, cut = max(((ranked[i + 1] - ranked[i]) / ranked[i + 1], i + 1) for i in range(len(ranked) - 1))
    if gap * 100 <= policy.drop_percent or cut < 2 or len(ranked) - cut < 2:
        return None
    if all(id(members[i]) in flagged for i in order[:cut]):
        return None  # the slow side is named, one by one, as outliers
    return ranked[:cut], ranked[cut:]


def _split_words(figure: Figure, split: tuple[list[float], list[float]], members: list[_Member]) -> str:
    """'the fleet splits in two on bf16 matmul (4 nodes near 780 TFLOP/s, 5 near 468): peers cannot say which is slow'."""
    lower, upper = split
    each = "nodes" if len({m.report.host.node_id for m in members}) == len(members) else "reports"
    return (
        f"the fleet splits in two on {figure.label} ({len(upper)} {each} near {number(statistics.median(upper))} {figure.unit}, "
        f"{len(lower)} near {number(statistics.median(lower))}): peers cannot say which is slow"
    )
