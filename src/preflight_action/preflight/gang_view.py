"""The gang as planned for this member's ranks (``GangPlan``) and as those ranks saw it (``View``).

``gang`` makes the plan, ``ranks`` runs it, ``gang_judge`` and ``gang_links`` read the view: the types they
share live here, so none of the three imports another for its types.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, ClassVar

from preflight_action.preflight.options import GangOptions
from preflight_action.preflight.ranks import RankRun
from preflight_action.vocab import GangMemberState


@dataclass(frozen=True)
class GangPlan:
    """What this member's ranks do (``ranks.Launch``)."""

    entry: ClassVar[str] = "gang_rank"
    forwards_port: ClassVar[bool] = False  # every rank finds the store at the endpoint itself
    gang: GangOptions
    backend: str  # gloo | nccl (RCCL on ROCm)
    device: str  # cpu | cuda
    world_size: int  # this member's local ranks
    settings: dict[str, Any]  # the policy's gang.cpu or gang.accelerator
    elements: int
    join_timeout_s: float
    collective_timeout_s: float
    deadline_s: float
    may_host: bool
    node_id: str
    hostname: str
    token: str  # this member's own, so its local ranks learn its node rank

    @property
    def sizes(self) -> tuple[int, ...]:
        return tuple(self.settings["sizes_bytes"])

    def argv(self, python: str, boot: str, rank: int) -> list[str]:
        gang, settings = self.gang, self.settings
        return [
            python,
            boot,
            *("--local-rank", str(rank), "--local-world", str(self.world_size), "--host", gang.host, "--port", str(gang.port)),
            *("--nnodes", str(gang.nnodes), "--node-rank", str(-1 if gang.node_rank is None else gang.node_rank)),
            *("--rdzv-id", gang.rdzv_id or "none", "--token", self.token, "--may-host", "1" if self.may_host else "0"),
            *("--join-timeout", f"{self.join_timeout_s:g}", "--collective-timeout", f"{self.collective_timeout_s:g}"),
            *("--backend", self.backend, "--device", self.device, "--elements", str(self.elements)),
            *("--sizes", ",".join(str(s) for s in self.sizes), "--warmup", str(settings["warmup"]), "--iters", str(settings["iterations"])),
            *("--link-bytes", str(settings["link_bytes"]), "--link-iters", str(settings["link_iterations"])),
            *("--node-id", self.node_id, "--hostname", self.hostname),
        ]


@dataclass
class View:
    """The gang as this member's ranks saw it."""

    run: RankRun[GangPlan]
    member: dict[str, Any]  # the ``member`` line (empty: the gang never formed)
    members: dict[int, dict[str, Any]] = field(default_factory=dict)  # node rank -> the record in the report

    @property
    def plan(self) -> GangPlan:
        return self.run.plan

    @property
    def node_rank(self) -> int | None:
        rank = self.member.get("node_rank", self.plan.gang.node_rank)
        return int(rank) if rank is not None else None

    def name(self, node_rank: int | None) -> str:
        if node_rank is None:
            return "an unknown member"
        row = self.members.get(node_rank)
        if row is not None:
            return str(row["name"])
        names = self.plan.gang.names
        return names[node_rank] if node_rank < len(names) else f"node rank {node_rank}"

    def named(self, node_ranks: list[int]) -> str:
        return ", ".join(
            f"{self.name(r)} (node rank {r})" if not self.name(r).startswith("node rank") else self.name(r) for r in node_ranks
        )

    def mark(self, node_rank: int | None, state: GangMemberState) -> None:
        if node_rank is None:
            return
        row = self.members.setdefault(node_rank, member_row(node_rank, self.name(node_rank), None))
        row["state"] = state

    def owner(self, global_rank: int) -> int | None:
        """The node rank of the member a global rank belongs to."""
        for member in self.member.get("members") or []:
            if member["first_rank"] <= global_rank < member["first_rank"] + member["ranks"]:
                return int(member["node_rank"])
        return None

    def mine(self, global_rank: int) -> bool:
        return self.owner(global_rank) == self.node_rank


def member_row(node_rank: int, name: str, ranks: int | None, state: GangMemberState = "joined") -> dict[str, Any]:
    return {"node_rank": node_rank, "name": name, "state": state, "ranks": ranks, "in_gbs": None, "out_gbs": None}
