"""The kernel log policy (policy/kernel_log.yaml): each event's meaning, band, action class and public source."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from preflight_action import policy_files
from preflight_action.errors import InputError
from preflight_action.kernel_log.parse import Event

KERNEL_LOG = policy_files.PolicySource("kernel_log_policy", "kernel_log.yaml", "PREFLIGHT_KERNEL_LOG_POLICY")


@dataclass(frozen=True)
class Rule:
    meaning: str
    band: str  # a severity band (vocab.BANDS)
    action: str  # an action class (vocab.KERNEL_ACTIONS)
    source: str  # the URL the meaning comes from
    vendor: str  # what that source itself says to do


@dataclass(frozen=True)
class KernelLogPolicy:
    source: str
    actions: dict[str, str]  # action class -> what it asks of an operator
    xid: dict[int, Rule]
    xid_default: Rule
    xid154: dict[str, Rule]  # recovery action (lower case) -> rule
    sxid: dict[int, Rule]
    sxid_by_severity: dict[str, Rule]  # fatal | non_fatal | unknown
    fallen_off_bus: Rule
    aer: dict[str, Rule]  # corrected | non_fatal | fatal
    port_not_active: Rule
    unused_phys_states: frozenset[str]
    link_downed: Rule
    min_rate_gbps: float | None
    rate_below: Rule

    def rule(self, event: Event) -> Rule:
        """What ``event`` means and asks for."""
        if event.kind == "xid":
            if event.code == 154 and event.variant and event.variant.lower() in self.xid154:
                return self.xid154[event.variant.lower()]
            return self.xid.get(event.code or -1, self.xid_default)
        if event.kind == "sxid":
            return self.sxid.get(event.code or -1) or self.sxid_by_severity[event.variant or "unknown"]
        if event.kind == "aer":
            return self.aer[event.variant or "non_fatal"]
        return self.fallen_off_bus


def from_document(document: dict[str, Any], source: str) -> KernelLogPolicy:
    sources: dict[str, str] = document["sources"]

    actions: dict[str, str] = document["actions"]

    def rule(entry: dict[str, Any], pointer: str) -> Rule:
        if entry["source"] not in sources:
            known = ", ".join(sorted(sources))
            raise InputError(f"{source}: {pointer}/source: {entry['source']!r} is not under /sources ({known})")
        if entry["action"] not in actions:  # monitor is optional under /actions: a rule that uses it needs its words
            raise InputError(f"{source}: {pointer}/action: {entry['action']!r} has no words under /actions")
        return Rule(entry["meaning"], entry["band"], entry["action"], sources[entry["source"]], entry["vendor"])

    def by_code(entries: list[dict[str, Any]], pointer: str) -> dict[int, Rule]:
        out: dict[int, Rule] = {}
        for index, entry in enumerate(entries):
            if entry["code"] in out:
                raise InputError(f"{source}: {pointer}/{index}/code: {entry['code']} is listed twice")
            out[entry["code"]] = rule(entry, f"{pointer}/{index}")
        return out

    sxid, aer, ib = document["sxid"], document["aer"], document["infiniband"]
    return KernelLogPolicy(
        source=source,
        actions=dict(actions),
        xid=by_code(document["xid"], "/xid"),
        xid_default=rule(document["xid_default"], "/xid_default"),
        xid154={e["recovery"].lower(): rule(e, f"/xid154/{i}") for i, e in enumerate(document["xid154"])},
        sxid=by_code(sxid["codes"], "/sxid/codes"),
        sxid_by_severity={name: rule(sxid[name], f"/sxid/{name}") for name in ("fatal", "non_fatal", "unknown")},
        fallen_off_bus=rule(document["fallen_off_bus"], "/fallen_off_bus"),
        aer={name: rule(aer[name], f"/aer/{name}") for name in ("corrected", "non_fatal", "fatal")},
        port_not_active=rule(ib["port_not_active"], "/infiniband/port_not_active"),
        unused_phys_states=frozenset(ib["unused_phys_states"]),
        link_downed=rule(ib["link_downed"], "/infiniband/link_downed"),
        min_rate_gbps=ib["min_rate_gbps"],
        rate_below=rule(ib["rate_below"], "/infiniband/rate_below"),
    )


def load(path: str | Path | None = None) -> KernelLogPolicy:
    """``path``, else $PREFLIGHT_KERNEL_LOG_POLICY, else the shipped policy/kernel_log.yaml (validated, cached)."""
    return policy_files.load(KERNEL_LOG, from_document, path)
