"""The PR delta: which failures this run adds, fixes and keeps compared with a baseline summary.

Identity is node x backend x check, so a matrix leg is compared with itself.
A check counts as fixed only where its lane (node x backend) ran again: a lane
missing from this run proves nothing. Without a baseline every failure is new
(a gate on regressions must not pass because the baseline could not be read),
and the delta says so in ``note``.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, replace
from typing import Any

from preflight_action.diff.engine import ChangedSince, changed_since
from preflight_action.diff.parts import Parts
from preflight_action.preflight.severity import BAND_ORDER

Key = tuple[str, str, str]  # node_id, backend, check_id


@dataclass(frozen=True)
class Baseline:
    """A previous summary to compare with, or why there is none (``document`` None, ``note`` set)."""

    source: str  # file | github
    location: str  # the file, or the run page the artifact came from
    document: dict[str, Any] | None
    note: str | None = None
    invalid: bool = False  # it was read but is not a valid summary: bad input (exit 2), not just a note


@dataclass(frozen=True)
class DeltaItem:
    node_id: str
    backend: str
    check_id: str
    band: str | None
    report: str  # the report file (this run's, or the baseline's for a fixed check)
    changed_since_base: ChangedSince | None = None  # a new failure: what changed since the base run on its lane


@dataclass(frozen=True)
class Delta:
    source: str
    location: str
    baseline_generated_at: str | None
    note: str | None
    new_failures: tuple[DeltaItem, ...]
    fixed: tuple[DeltaItem, ...]
    still_failing: tuple[DeltaItem, ...]
    invalid: bool = False

    @property
    def has_baseline(self) -> bool:
        return self.baseline_generated_at is not None

    def to_dict(self) -> dict[str, Any]:
        return {
            "baseline": {"source": self.source, "location": self.location, "generated_at": self.baseline_generated_at},
            "note": self.note,
            "new_failures": [_item(i) for i in self.new_failures],
            "fixed": [_item(i) for i in self.fixed],
            "still_failing": [_item(i) for i in self.still_failing],
        }


def _item(item: DeltaItem) -> dict[str, Any]:
    document: dict[str, Any] = {
        "node_id": item.node_id,
        "backend": item.backend,
        "check_id": item.check_id,
        "band": item.band,
        "report": item.report,
    }
    if item.changed_since_base is not None:
        document["changed_since_base"] = item.changed_since_base.to_dict()
    return document


_RANK: dict[str, int] = {band: index for index, band in enumerate(BAND_ORDER)}


def _rank(band: str | None) -> int:
    return _RANK.get(band or "", len(BAND_ORDER))


def failures(rows: Iterable[Any], fallback_bands: dict[str, str] | None = None) -> tuple[dict[Key, DeltaItem], set[tuple[str, str]]]:
    """Failing checks per (node, backend, check), worst band wins; and every lane the rows cover.

    ``rows`` are summary JSON report rows (dicts) or ``ReportRow`` records; rows written
    before ``failed_bands`` existed take each check's worst band across the matrix
    from ``fallback_bands``.
    """
    out: dict[Key, DeltaItem] = {}
    lanes: set[tuple[str, str]] = set()
    fallback = fallback_bands or {}
    for row in rows:
        if isinstance(row, dict):
            node, backend, checks, bands, path = row["node_id"], row["backend"], row["failed_checks"], row.get("failed_bands"), row["path"]
        else:
            node, backend, checks, bands, path = row.node_id, row.backend, row.failed_checks, row.failed_bands, row.path
        lanes.add((node, backend))
        if not checks:
            continue
        if not bands:
            bands = [fallback.get(c) for c in checks]
        for check_id, band in zip(checks, bands, strict=False):
            key = (node, backend, check_id)
            known = out.get(key)
            if known is None or _rank(band) < _rank(known.band):
                out[key] = DeltaItem(node, backend, check_id, band, path)
    return out, lanes


def compare(
    current_rows: Iterable[Any], baseline: Baseline, inventories: Mapping[str, dict[str, Any]] | None = None, lines: int = 3
) -> Delta:
    """The delta of this run's rows against ``baseline`` (all failures new when it has no document).

    With ``inventories`` (this run's parts by hash), each new failure says what changed since the base run on its lane.
    """
    current_rows = list(current_rows)
    now, now_lanes = failures(current_rows)
    document = baseline.document
    if document is None:
        ordered = _sorted(now.values())
        note = f"{baseline.note or 'no baseline'}; every failure counts as new"
        return Delta(baseline.source, baseline.location, None, note, ordered, (), (), baseline.invalid)
    fallback = {f["check_id"]: f["worst_band"] for f in document.get("top_failed_checks", [])}
    before, _ = failures(document["reports"], fallback)
    new = [item for key, item in now.items() if key not in before]
    if inventories is not None:
        new = _changed_since_base(new, current_rows, inventories, document, lines)
    still = [item for key, item in now.items() if key in before]
    fixed = [item for key, item in before.items() if key not in now and key[:2] in now_lanes]
    return Delta(
        baseline.source,
        baseline.location,
        document.get("generated_at"),
        baseline.note,
        _sorted(new),
        _sorted(fixed),
        _sorted(still),
    )


def _refs(row: Any) -> dict[str, str] | None:
    found = row.get("inventory") if isinstance(row, dict) else getattr(row, "inventory", None)
    return dict(found) if found else None


def _changed_since_base(
    new: list[DeltaItem], rows: list[Any], inventories: Mapping[str, dict[str, Any]], document: dict[str, Any], lines: int
) -> list[DeltaItem]:
    """Each new failure with what changed in its lane's inventory since the base run (the baseline's row of that lane)."""
    mine = {(r["path"] if isinstance(r, dict) else r.path): _refs(r) for r in rows}
    base_rows: dict[tuple[str, str], dict[str, Any]] = {}
    for row in document["reports"]:
        base_rows.setdefault((row["node_id"], row["backend"]), row)
    base_table = document.get("inventories") or {}
    out = []
    for item in new:
        base = base_rows.get((item.node_id, item.backend))
        if base is None:
            found = ChangedSince(None, (), (), "no base run on this lane: what changed cannot be told")
        else:
            before = Parts.resolve(_refs(base), base_table)
            after = Parts.resolve(mine.get(item.report), inventories)
            found = changed_since(before, after, base["path"], "base run on this lane", lines)
        out.append(replace(item, changed_since_base=found))
    return out


def _sorted(items: Iterable[DeltaItem]) -> tuple[DeltaItem, ...]:
    return tuple(sorted(items, key=lambda i: (_rank(i.band), i.node_id, i.backend, i.check_id)))
