"""The link ring of ``gang.allreduce``: every link's figure, each member's in and out, and the slow member.

Each rank timed its receive from the rank before it, one link at a time (``gang_rank.links``). A link between
two members is inter-node; a member both of whose inter-node links are below ``slow_fraction`` (policy) of
the median of the links that do not touch it is the slow member. With two members every link touches both
ends, so no one is named.
"""

from __future__ import annotations

import statistics
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from preflight_action.preflight.distributed import size_words

if TYPE_CHECKING:
    from preflight_action.preflight.gang_view import View


@dataclass(frozen=True)
class Link:
    """One link of the ring: ``sender`` -> ``receiver`` (global ranks), timed by the receiver."""

    sender: int
    receiver: int
    seconds: float
    nbytes: int
    from_member: int | None
    to_member: int | None

    @property
    def inter_node(self) -> bool:
        return self.from_member != self.to_member

    @property
    def gbs(self) -> float:
        return self.nbytes / self.seconds / 1e9 if self.seconds > 0 else 0.0

    def touches(self, node_rank: int) -> bool:
        return node_rank in (self.from_member, self.to_member)

    def record(self, view: View) -> dict[str, Any]:
        return {
            "from_rank": self.sender,
            "to_rank": self.receiver,
            "from": view.name(self.from_member),
            "to": view.name(self.to_member),
            "inter_node": self.inter_node,
            "time_us": round(self.seconds * 1e6, 3),
            "gbs": round(self.gbs, 4),
        }


def judge(view: View, details: dict[str, Any]) -> tuple[str, list[int], bool]:
    """The link ring as figures per link and per member; (sentence, slow members, whether this member is one)."""
    line = view.run.ranks[0].lines.get("links")
    if not line:
        return "no link ring (one rank)", [], False
    nbytes, recv_s = int(line["bytes"]), [float(t) for t in line["recv_s"]]
    world = len(recv_s)
    ring = [Link((to - 1) % world, to, recv_s[to], nbytes, view.owner((to - 1) % world), view.owner(to)) for to in range(world)]
    details["link_bytes"], details["links"] = nbytes, [link.record(view) for link in ring]
    inter = [link for link in ring if link.inter_node and link.seconds > 0]
    for link in inter:
        if link.to_member in view.members and link.from_member in view.members:
            view.members[link.to_member]["in_gbs"] = round(link.gbs, 4)
            view.members[link.from_member]["out_gbs"] = round(link.gbs, 4)
    if not inter:
        return "no inter-node link (one member)", [], False
    median = statistics.median(link.gbs for link in inter)
    details["median_inter_node_gbs"] = round(median, 4)
    fraction = slow_fraction(view)
    slow = [r for r in sorted(view.members) if is_slow(r, inter, fraction)]
    for rank in slow:
        view.members[rank]["state"] = "slow"
    details["slow_members"] = [view.name(r) for r in slow]
    said = f"inter-node links ({size_words(nbytes)} transfers, median of {line['iterations']}) median {median:.2f} GB/s: "
    said += ", ".join(f"{view.name(link.from_member)}->{view.name(link.to_member)} {link.gbs:.2f}" for link in inter)
    speeds = [link.gbs for link in inter]
    if slow:
        said += f"; slow: {view.named(slow)} (both its links below {fraction:.0%} of the median of the links not touching it)"
    elif len(view.members) == 2 and min(speeds) < fraction * max(speeds):
        said += f"; one direction is below {fraction:.0%} of the other: with two members the slow end cannot be told"
    return said, slow, view.node_rank in slow


def is_slow(node_rank: int, inter: list[Link], fraction: float) -> bool:
    """Both of a member's inter-node links below ``fraction`` of the median of the links that do not touch it."""
    touching = [link for link in inter if link.touches(node_rank)]
    others = [link.gbs for link in inter if not link.touches(node_rank)]
    if len(touching) < 2 or not others:
        return False  # two members: every link touches both
    floor = fraction * statistics.median(others)
    return all(link.gbs < floor for link in touching)


def slow_fraction(view: View) -> float:
    return float(view.plan.settings.get("slow_fraction") or 0.5)
