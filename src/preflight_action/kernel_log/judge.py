"""The kernel.log verdict: the log's events and the ports' state as findings, new ones apart from history.

One finding per kind of event (an Xid storm of 500 lines is one finding with its count and its first
and last time), judged by policy/kernel_log.yaml. An event the node's last healthy run of this check
already read is history, reported but not judged. A run with no blocking finding records how far it
read (``watermark``), so what it saw is history next time. A log with none of the events' words costs
one substring scan per word: no policy, no state file, no split into lines.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, NamedTuple

from preflight_action.errors import InputError
from preflight_action.kernel_log import links, parse, read
from preflight_action.vocab import BANDS

if TYPE_CHECKING:  # the policy and the state file load only when there is something to judge
    from preflight_action.kernel_log.links import Port
    from preflight_action.kernel_log.parse import Event, Stamp
    from preflight_action.kernel_log.policy import KernelLogPolicy, Rule
    from preflight_action.kernel_log.watermark import Mark

EVENT_WORDS = "Xid, SXid, PCIe AER or fallen-off-the-bus"


class Finding(NamedTuple):
    kind: str  # xid | sxid | aer | fallen_off_bus | port_not_active | link_downed | rate_below
    code: int | None
    variant: str | None
    rule: Rule
    events: int  # how many lines told it (a storm is one finding)
    devices: tuple[str, ...]
    first: Stamp | None
    last: Stamp | None
    example: str  # one line's own words (the last one)
    process: str | None = None

    @property
    def title(self) -> str:
        if self.kind == "xid":
            return f"Xid {self.code}"
        if self.kind == "sxid":
            return f"SXid {self.code}" + (f" ({self.variant.replace('_', '-')})" if self.variant else "")
        if self.kind == "aer":
            return f"PCIe AER {(self.variant or '').replace('_', '-')}"
        if self.kind == "fallen_off_bus":
            return "NVRM message"
        return "InfiniBand/RoCE"


class Verdict(NamedTuple):
    status: str  # pass | fail | skip
    message: str  # fail: the findings, worst first; pass: a summary; skip: why
    details: dict[str, Any]
    worst_band: str | None = None
    remedy: str | None = None


def blocks(band: str, threshold: str) -> bool:
    return BANDS.index(band) <= BANDS.index(threshold)


def judge(threshold: str, timeout_s: float, load_policy: Callable[[], KernelLogPolicy] | None = None) -> Verdict:
    """Read the log and the ports, and judge them; ``threshold`` is the band from which a finding blocks."""
    started = time.perf_counter()
    try:
        log = read.read(timeout_s)
    except InputError as error:
        return Verdict("fail", str(error), {"error_kind": "input"})
    port_list = links.ports()
    read_ms = round((time.perf_counter() - started) * 1000.0, 3)
    scanned = parse.scan(log.text) if isinstance(log, read.Log) else parse.Scan((), None)
    details: dict[str, Any] = {"read_ms": read_ms}
    if isinstance(log, read.Log):
        details.update(source=log.source, lines=log.text.count("\n"))
    else:
        details.update(source=None, unreadable=log.reason)
    if port_list:
        details["sysfs_root"] = str(links.sysfs_root())
    if isinstance(log, read.Unreadable) and not port_list:
        return Verdict("skip", f"cannot read the kernel log ({log.reason}), and no InfiniBand/RoCE port is in sysfs", details)
    if not scanned.events and not port_list:
        details["summary"] = f"no {EVENT_WORDS} line in {details['lines']} lines of {log.source}"  # type: ignore[union-attr]
        return Verdict("pass", details["summary"], details)
    from preflight_action.kernel_log import watermark

    try:
        if load_policy is None:
            from preflight_action.kernel_log import policy as kernel_policy

            load_policy = kernel_policy.load
        policy: KernelLogPolicy = load_policy()
    except InputError as error:
        return Verdict("fail", f"kernel log policy: {error}", {**details, "error_kind": "input"})
    key = log.key() if isinstance(log, read.Log) else f"boot:{read.boot_id()}"
    mark, state_note = watermark.read(key)
    boot_epoch = log.boot_epoch if isinstance(log, read.Log) else None
    new, history = _events(scanned.events, policy, mark)
    port_new, port_history, counters = _ports(port_list, policy, mark)
    new += port_new
    history += port_history
    new.sort(key=_rank)
    history.sort(key=_rank)
    blocking = [f for f in new if blocks(f.rule.band, threshold)]
    details.update(
        policy=policy.source,
        state_key=key,
        last_healthy=_when(mark.through, boot_epoch) if mark and mark.through else None,
        findings=[_plain(f, boot_epoch, blocks(f.rule.band, threshold)) for f in new],
        history=[_plain(f, boot_epoch, False) for f in history],
    )
    if port_list:
        details["ports"] = [_port(p, counters) for p in port_list]
    if state_note:
        details["state_note"] = state_note
    if not blocking and (scanned.events or any(counters.values())):
        moved = mark is None or mark.through != scanned.last or mark.link_downed != counters
        if moved:
            why = watermark.write(key, watermark.now_mark(scanned.last, counters))
            if why:
                details["state_note"] = why
    if new:
        worst = new[0]
        lines = [_line(f, boot_epoch) for f in new]
        if history:
            lines.append(f"({len(history)} earlier finding{'s' if len(history) != 1 else ''} from before the last healthy run: history)")
        remedy = f"{policy.actions[worst.rule.action]} (what {worst.title} means: {worst.rule.source})"
        return Verdict("fail", "\n".join(lines), details, worst.rule.band, remedy)
    details["summary"] = _summary(details, scanned, port_list, history)
    return Verdict("pass", details["summary"], details)


def _rank(finding: Finding) -> tuple[int, int, str, int]:
    return (BANDS.index(finding.rule.band), -finding.events, finding.kind, finding.code or 0)


def _bare(device: str | None) -> str:
    """0000:3b:00.0 and 0000:3b:00 name one GPU (Xid lines print no PCI function)."""
    return (device or "").split(".")[0]


def _events(events: tuple[Event, ...], policy: KernelLogPolicy, mark: Mark | None) -> tuple[list[Finding], list[Finding]]:
    """(new, history) findings of the log's events, one per kind of event."""
    off_bus = {_bare(e.device) for e in events if e.kind == "xid" and e.code == 79}
    last_154 = {_bare(e.device): e.offset for e in events if e.kind == "xid" and e.code == 154}
    # The driver's own word that a GPU needs no recovery any more (Xid 154 "to 0x0 (None)", printed after a reset):
    # what that GPU logged before it is over.
    recovered = {_bare(e.device): e.offset for e in events if e.kind == "xid" and e.code == 154 and (e.variant or "").lower() == "none"}
    new: dict[tuple[Any, ...], list[Event]] = {}
    old: dict[tuple[Any, ...], list[Event]] = {}
    for event in events:
        if event.kind == "fallen_off_bus" and _bare(event.device) in off_bus:
            continue  # the driver's words for the Xid 79 already counted
        gpu = _bare(event.device)
        superseded = (event.kind == "xid" and event.code == 154 and event.offset < last_154[gpu]) or (
            event.kind in ("xid", "fallen_off_bus") and event.offset < recovered.get(gpu, -1)
        )
        target = old if superseded or (mark is not None and mark.covers(event.stamp)) else new
        rule = policy.rule(event)
        target.setdefault((event.kind, event.code, event.variant, rule.meaning), []).append(event)
    return [_group(g, policy) for g in new.values()], [_group(g, policy) for g in old.values()]


def _group(events: list[Event], policy: KernelLogPolicy) -> Finding:
    head, tail = events[0], events[-1]
    devices = tuple(sorted({e.device for e in events if e.device}))
    stamps = [e.stamp for e in events if e.stamp is not None]
    process = next((e.process for e in reversed(events) if e.process), None)
    return Finding(
        head.kind,
        head.code,
        head.variant,
        policy.rule(head),
        len(events),
        devices,
        stamps[0] if stamps else None,
        stamps[-1] if stamps else None,
        tail.detail,
        process,
    )


def _ports(ports: list[Port], policy: KernelLogPolicy, mark: Mark | None) -> tuple[list[Finding], list[Finding], dict[str, int]]:
    new: list[Finding] = []
    history: list[Finding] = []
    counters = {p.name: p.link_downed for p in ports if p.link_downed is not None}
    before = mark.link_downed if mark else {}
    for port in ports:
        example = f"{port.name}: state {port.state}, physical state {port.phys_state}, {port.rate or 'rate unknown'} ({port.link_layer})"
        if port.state != "ACTIVE" and port.phys_state not in policy.unused_phys_states:
            new.append(Finding("port_not_active", None, port.state, policy.port_not_active, 1, (port.name,), None, None, example))
        floor = policy.min_rate_gbps
        if port.state == "ACTIVE" and floor is not None and port.rate_gbps is not None and port.rate_gbps < floor:
            new.append(
                Finding("rate_below", None, None, policy.rate_below, 1, (port.name,), None, None, f"{example}; expected {floor:g} Gb/s")
            )
        downed = port.link_downed or 0
        seen = before.get(port.name, 0)
        fresh = downed - seen if downed >= seen else downed  # a smaller counter: the driver reloaded and counts again
        if fresh > 0:
            new.append(Finding("link_downed", None, None, policy.link_downed, fresh, (port.name,), None, None, example))
        if downed - fresh > 0:
            history.append(Finding("link_downed", None, None, policy.link_downed, downed - fresh, (port.name,), None, None, example))
    return new, history, {k: v for k, v in counters.items() if v is not None}


def _when(stamp: Stamp | None, boot_epoch: float | None) -> str | None:
    """A time people read: UTC where the log's clock is this boot's, else as the log printed it."""
    if stamp is None:
        return None
    if stamp.clock == "monotonic" and boot_epoch is not None:
        from datetime import datetime, timezone

        moment = datetime.fromtimestamp(boot_epoch + stamp.value, tz=timezone.utc)
        return moment.isoformat(timespec="seconds").replace("+00:00", "Z")
    return stamp.text


def _line(finding: Finding, boot_epoch: float | None) -> str:
    where = f" on {', '.join(finding.devices[:4])}{' …' if len(finding.devices) > 4 else ''}" if finding.devices else ""
    count = f"{finding.events} event{'s' if finding.events != 1 else ''}"
    first, last = _when(finding.first, boot_epoch), _when(finding.last, boot_epoch)
    span = f" from {first} to {last}" if first and last and first != last else f" at {first}" if first else ""
    return f"{finding.title} ({finding.rule.meaning}){where}: {finding.rule.action}; {count}{span} (vendor: {finding.rule.vendor})"


def _plain(finding: Finding, boot_epoch: float | None, blocking: bool) -> dict[str, Any]:
    return {
        "kind": finding.kind,
        "code": finding.code,
        "variant": finding.variant,
        "title": finding.title,
        "meaning": finding.rule.meaning,
        "band": finding.rule.band,
        "action": finding.rule.action,
        "vendor_action": finding.rule.vendor,
        "source": finding.rule.source,
        "count": finding.events,
        "devices": list(finding.devices),
        "first_seen": _when(finding.first, boot_epoch),
        "last_seen": _when(finding.last, boot_epoch),
        "example": finding.example,
        "process": finding.process,
        "blocking": blocking,
    }


def _port(port: Port, counters: dict[str, int]) -> dict[str, Any]:
    return {
        "port": port.name,
        "state": port.state,
        "phys_state": port.phys_state,
        "rate": port.rate,
        "rate_gbps": port.rate_gbps,
        "link_layer": port.link_layer,
        "link_downed": counters.get(port.name),
    }


def _summary(details: dict[str, Any], scanned: parse.Scan, ports: list[Port], history: list[Finding]) -> str:
    parts = []
    if details.get("source"):
        parts.append(f"no new {EVENT_WORDS} line in {details['lines']} lines of {details['source']}")
    else:
        parts.append(f"kernel log unreadable ({details.get('unreadable')})")
    if ports:
        active = sum(1 for p in ports if p.state == "ACTIVE")
        parts.append(f"{active} of {len(ports)} InfiniBand/RoCE port{'s' if len(ports) != 1 else ''} ACTIVE")
    if history:
        since = f" at {details['last_healthy']}" if details.get("last_healthy") else ""
        parts.append(f"{len(history)} finding{'s' if len(history) != 1 else ''} from before the last healthy run{since} (history)")
    return "; ".join(parts)
