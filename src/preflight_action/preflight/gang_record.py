"""A report's ``gang``: which gang this node ran with, each member as this node saw it, and the gang's figure.

Built from ``gang.allreduce``'s result (``preflight.gang`` writes the facts into its details) so the summary and
the matrix group a gang's reports by ``id`` without reading a check's free-form details.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import TYPE_CHECKING, Any

from preflight_action.vocab import GangLauncher, GangMemberState

if TYPE_CHECKING:
    from preflight_action.preflight.options import GangOptions

CHECK_ID = "gang.allreduce"
ABSENT: tuple[GangMemberState, ...] = ("never_joined", "stopped")


@dataclass(frozen=True)
class GangMember:
    node_rank: int
    name: str  # the node id it joined with; else the launcher's name for it; else "node rank N"
    state: GangMemberState
    ranks: int | None = None  # its local ranks (None: it never joined)
    in_gbs: float | None = None  # its inter-node links, from the link ring (None: not measured)
    out_gbs: float | None = None


@dataclass(frozen=True)
class GangRecord:
    id: str | None  # --rdzv-id, the launcher's job id, or the one the serving member made up (None: never learnt)
    launcher: GangLauncher
    endpoint: str
    size: int  # the members the gang was to have (--nnodes)
    node_rank: int | None  # this member's (None: it never got one)
    members: list[GangMember] = field(default_factory=list)
    busbw_gbs: float | None = None  # the gang all-reduce's peak bus bandwidth (None: not measured)

    @property
    def missing(self) -> list[GangMember]:
        """Members that never joined or stopped answering."""
        return [m for m in self.members if m.state in ABSENT]

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, document: dict[str, Any]) -> GangRecord:
        """The record of a schema-valid ``gang`` object; fields a later 1.x adds are dropped."""
        members = [GangMember(**{k: v for k, v in m.items() if k in GangMember.__dataclass_fields__}) for m in document["members"]]
        known = {k: v for k, v in document.items() if k in cls.__dataclass_fields__ and k != "members"}
        return cls(**known, members=members)


def build(options: GangOptions | None, details: dict[str, Any] | None) -> GangRecord | None:
    """The report's ``gang`` for a run with gang options: what ``gang.allreduce`` learnt, else what the options say."""
    if options is None:
        return None
    facts = details or {}
    members = [GangMember(**m) for m in facts.get("members") or []]
    return GangRecord(
        id=facts.get("gang_id") or options.rdzv_id,
        launcher=options.launcher,
        endpoint=options.endpoint,
        size=options.nnodes,
        node_rank=facts.get("node_rank", options.node_rank),
        members=members,
        busbw_gbs=facts.get("peak_busbw_gbs"),
    )
