"""A gang's reports grouped: every member any report names, as the worst any report saw it, and the gang's figure.

Each ``preflight-gang`` member writes its own report with a ``gang`` record (its view of every member).
Grouped by gang id (the endpoint where a gang never learnt one), a member's state is the worst any
report gives it, and ``reported`` says whether its own report is among the inputs. The summary and the
runtime matrix both show these groups.
"""

from __future__ import annotations

import statistics
from collections.abc import Iterable
from dataclasses import asdict, dataclass
from typing import Any

from preflight_action.preflight.gang_record import GangRecord
from preflight_action.vocab import GangMemberState

# Worst first: a member's own failure says more than another's "it stopped", which says more than "it joined".
WORST_FIRST: tuple[GangMemberState, ...] = ("failed", "stopped", "never_joined", "slow", "joined", "ok")
LABELS: tuple[tuple[GangMemberState, str], ...] = (
    ("never_joined", "never joined"),
    ("stopped", "stopped answering"),
    ("failed", "failed"),
    ("slow", "slow"),
)


@dataclass(frozen=True)
class Observation:
    """One member's report, as far as its gang goes: who wrote it, its verdict, its ``gang`` record."""

    node_id: str
    verdict: str
    record: GangRecord


@dataclass(frozen=True)
class GangMemberView:
    node_rank: int
    name: str
    state: GangMemberState
    reported: bool  # its own report is among the inputs
    verdict: str | None = None  # its own report's verdict (None: no report of its own)


@dataclass(frozen=True)
class GangGroup:
    id: str | None
    launcher: str
    endpoint: str
    size: int
    reports: int
    members: tuple[GangMemberView, ...]
    busbw_gbs: float | None  # the median of the members' figures (they measure one all-reduce)

    @property
    def key(self) -> str:
        return self.id or f"{self.endpoint} (no gang id)"

    @property
    def complete(self) -> bool:
        """Every member reported and every one finished its collectives."""
        return len(self.members) == self.size and all(m.reported and m.state in ("ok", "slow") for m in self.members)

    def names(self, *states: GangMemberState) -> list[str]:
        return [m.name for m in self.members if m.state in states]

    def words(self) -> str:
        """One line: how many reported, the figure, who is missing, failed or slow."""
        said = [f"{sum(m.reported for m in self.members)} of {self.size} members reported"]
        if self.busbw_gbs is not None:
            said.append(f"gang busbw {self.busbw_gbs:.2f} GB/s")
        for state, label in LABELS:
            names = self.names(state)
            if names:
                said.append(f"{label}: {', '.join(names)}")
        return "; ".join(said)

    def to_dict(self) -> dict[str, Any]:
        return {**asdict(self), "members": [asdict(m) for m in self.members], "complete": self.complete, "words": self.words()}

    @classmethod
    def from_dict(cls, document: dict[str, Any]) -> GangGroup:
        members = tuple(GangMemberView(**m) for m in document["members"])
        known = {k: v for k, v in document.items() if k in cls.__dataclass_fields__ and k != "members"}
        return cls(**known, members=members)


def group(observations: Iterable[Observation]) -> tuple[GangGroup, ...]:
    """Every gang among the observations, by gang id (else endpoint)."""
    by_key: dict[str, list[Observation]] = {}
    for seen in observations:
        by_key.setdefault(seen.record.id or f"{seen.record.endpoint} (no gang id)", []).append(seen)
    return tuple(_group(members) for _, members in sorted(by_key.items()))


def _group(observations: list[Observation]) -> GangGroup:
    records = [o.record for o in observations]
    first = records[0]
    own = {o.record.node_rank: o for o in observations if o.record.node_rank is not None}
    seen: dict[int, tuple[str, GangMemberState]] = {}
    for record in records:
        for member in record.members:
            name, state = seen.get(member.node_rank, (member.name, member.state))
            worst = min(state, member.state, key=WORST_FIRST.index)
            # a member's own name (the node id it joined with) beats "node rank N" from a report that never saw it
            seen[member.node_rank] = (member.name if name.startswith("node rank ") else name, worst)
    for rank, observation in own.items():
        seen.setdefault(rank, (observation.node_id, "joined"))
    members = tuple(
        GangMemberView(rank, name, state, rank in own, own[rank].verdict if rank in own else None)
        for rank, (name, state) in sorted(seen.items())
    )
    figures = [r.busbw_gbs for r in records if r.busbw_gbs is not None]
    return GangGroup(
        id=first.id,
        launcher=first.launcher,
        endpoint=first.endpoint,
        size=max(r.size for r in records),
        reports=len(observations),
        members=members,
        busbw_gbs=round(statistics.median(figures), 4) if figures else None,
    )
