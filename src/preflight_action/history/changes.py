"""What changed since a node's last good run: the history keeps each run's inventory by reference.

A record names its inventory by one hash (``inventory``): that of the set of its three parts' hashes
(packages, environment, platform). The set and the parts ride on records (``inventory_parts``), each
defined again whenever its last definition would leave the runs the next summarize reads
(``window_runs``). A fleet shares a few, so 1,000 nodes add one definition of each per window of runs
and about 32 bytes per record, not an inventory per record: 365 nights of 1,000 nodes stay within the
history's size bound and its time goal, and a reader resolves what a recent record names from the
recent runs alone.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace
from typing import Any

from preflight_action.diff.engine import ChangedSince, changed_since
from preflight_action.diff.parts import Parts, of_report, ref
from preflight_action.history.lanes import NOT_RUN, WHAT, LaneChange
from preflight_action.history.records import statuses
from preflight_action.history.trends import Regression, Series
from preflight_action.preflight.report import Report


def parts_of(report: Report) -> Parts | None:
    """A report's inventory parts, None where it recorded none (a summary's reports carry theirs by reference)."""
    found = of_report(report)
    return found if found.refs else None


def summary_lines() -> int:
    """How many changed-since lines a summary shows (policy/diff.yaml)."""
    from preflight_action.diff import policy as diff_policy

    return diff_policy.load().summary_lines


def link(past: Sequence[dict[str, Any]], current: list[dict[str, Any]], parts: Sequence[Parts | None], window_runs: int) -> None:
    """Name each current record's inventory, and define on this run's records what the next reader would miss.

    The next summarize reads this run and the ``window_runs - 1`` runs before it: every set and part a
    record among those names must be defined among them.
    """
    stamps = list(dict.fromkeys(r["at"] for r in past))
    recent = set(stamps[-(window_runs - 1) :]) if window_runs > 1 else set()
    known: dict[str, dict[str, Any]] = {}
    defined_recent: set[str] = set()
    wanted: list[str] = []
    for record in past:
        for key, part in (record.get("inventory_parts") or {}).items():
            known[key] = part
            if record["at"] in recent:
                defined_recent.add(key)
        if record["at"] in recent and record.get("inventory"):
            wanted.append(record["inventory"])
    owner: dict[str, int] = {}
    hashed: dict[int, str] = {}  # the summary hands one Parts per distinct inventory: each set is hashed once
    for index, (record, found) in enumerate(zip(current, parts, strict=True)):
        if found is None or not found.refs:
            continue
        key = hashed.get(id(found))
        if key is None:
            key = hashed[id(found)] = ref(found.refs)
            known.setdefault(key, dict(found.refs))
            for name, part_key in found.refs.items():
                known.setdefault(part_key, found.part(name) or {})
        record["inventory"] = key
        owner.setdefault(key, index)
        wanted.append(key)
    for key in dict.fromkeys(wanted):
        members = known.get(key)
        if members is None or not current:
            continue  # defined nowhere we can see: its runs say their inventory is not known
        for member in [key, *(members.values() if _is_set(members) else ())]:
            if member in defined_recent or member not in known:
                continue
            current[owner.get(key, 0)].setdefault("inventory_parts", {})[member] = known[member]
            defined_recent.add(member)


def _is_set(part: dict[str, Any]) -> bool:
    return bool(part) and all(isinstance(v, str) for v in part.values())


def resolve(key: str | None, table: dict[str, dict[str, Any]]) -> Parts | None:
    """The parts a record's ``inventory`` names (its set, then each part), from the definitions in ``table``."""
    members = table.get(key) if key else None
    return Parts.resolve(members, table) if members is not None and _is_set(members) else None


def _table(records: Sequence[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    return {key: part for r in records for key, part in (r.get("inventory_parts") or {}).items()}


def since_last_good(
    past: Sequence[dict[str, Any]], current: Sequence[dict[str, Any]], regressions: Sequence[Regression], lines: int
) -> list[LaneChange]:
    """Each lane of ``current`` with a new failure, or that regressed, with what changed since its last good run.

    A good run has no failed check (one failure makes a report's status fail), so with a good run every
    check failing now is a new failure, whether it passed, was skipped or did not run there:
    ``LaneChange.was`` keeps which ("dtype.support skip -> fail"), a skip as much as a pass.
    """
    table = _table([*past, *current])
    good: dict[tuple[str, str], dict[str, Any]] = {}
    for record in past:
        if record["status"] == "pass":
            good[(record["node"], record["backend"])] = record  # oldest first: the last one wins
    regressed: dict[tuple[str, str], list[str]] = {}
    for reg in regressions:
        regressed.setdefault((reg.node_id, reg.backend), []).append(f"{reg.check_id} {reg.metric}")
    out: list[LaneChange] = []
    for record in current:
        lane = (record["node"], record["backend"])
        last = good.get(lane)
        failing = sorted(record["checks"]["fail"])
        was: list[str] = []
        if last is not None:
            before = statuses(last)
            failing = [c for c in failing if before.get(c) != "fail"]  # none did: a good run failed nothing
            was = [before.get(c, NOT_RUN) for c in failing]
        if not failing and lane not in regressed:
            continue
        if last is None:
            since = ChangedSince(None, (), (), "no good run of this lane among the recent runs in the history")
        else:
            since = changed_since(resolve(last.get("inventory"), table), resolve(record.get("inventory"), table), last["at"], WHAT, lines)
        out.append(
            LaneChange(
                lane[0], lane[1], tuple(failing), tuple(regressed.get(lane, ())), since, last.get("run_url") if last else None, tuple(was)
            )
        )
    out.sort(key=lambda c: (not c.failing, c.node_id, c.backend))
    return out


def annotate(charts: Sequence[Series], regressions: Sequence[Regression], changes: Sequence[LaneChange]) -> tuple[Series, ...]:
    """The regressed charts (drawn first, one per regression in order) with their lane's changed-since note."""
    by_lane = {(c.node_id, c.backend): c for c in changes}
    out = list(charts)
    regressed = [i for i, series in enumerate(out) if series.regressed]
    for index, reg in zip(regressed, regressions, strict=False):
        found = by_lane.get((reg.node_id, reg.backend))
        if found is not None and found.words:
            out[index] = replace(out[index], note=found.words)
    return tuple(out)
