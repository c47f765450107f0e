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
# Why an event is history (reported, not judged), as details.history[].why says it.
HISTORY_REASONS = {
    "read_healthy": "read by the last healthy run",
    "previous_boot": "logged before the node's last reboot",
    "superseded": "superseded by the driver's later Xid 154 for this GPU",
    "recovered": "the driver says this GPU needs no recovery",
}
CUT_REMEDY = (
    "read the node's whole kernel log (dmesg, or journalctl -k -b): this copy ends inside an Xid line, so its code, "
    "and what it asks of an operator, are not known"
)


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
    why_history: str | None = None  # a history finding: why it is not judged (HISTORY_REASONS)

    @property
    def title(self) -> str:
        if self.kind == "xid":
            return f"Xid {self.code}" if self.code is not None else "Xid (code cut off)"
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
    text = log.text if isinstance(log, read.Log) else ""
    read_through, reach_note = _reach(mark, text, key)
    if reach_note and not state_note:
        state_note = reach_note
    new, history = _events(scanned, policy, threshold, read_through)
    port_new, port_history, counters = _ports(port_list, policy, mark, threshold)
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
    if scanned.boots > 1:
        details["boots"] = scanned.boots  # only the last one is judged
    if port_list:
        details["ports"] = [_port(p, counters) for p in port_list]
    if state_note:
        details["state_note"] = state_note
    if not blocking and (scanned.events or any(counters.values())):
        moved = mark is None or mark.anchor != scanned.anchor or mark.anchor_at != scanned.anchor_at or mark.link_downed != counters
        if moved:
            why = watermark.write(key, watermark.now_mark(scanned.last, counters, scanned.anchor, scanned.anchor_at))
            if why:
                details["state_note"] = why
    if new:
        worst = new[0]
        lines = [_line(f, boot_epoch) for f in new]
        if history:
            lines.append(f"({len(history)} earlier finding{'s' if len(history) != 1 else ''}: history, not judged)")
        if worst.kind == "xid" and worst.code is None:
            remedy = CUT_REMEDY
        else:
            remedy = f"{policy.actions[worst.rule.action]} (what {worst.title} means: {worst.rule.source})"
        return Verdict("fail", "\n".join(lines), details, worst.rule.band, remedy)
    details["summary"] = _summary(details, scanned, port_list, history)
    return Verdict("pass", details["summary"], details)


def _rank(finding: Finding) -> tuple[int, int, str, int]:
    return (BANDS.index(finding.rule.band), -finding.events, finding.kind, finding.code or 0)


def _bare(device: str | None) -> str:
    """0000:3b:00.0 and 0000:3b:00 name one GPU (Xid lines print no PCI function)."""
    return (device or "").split(".")[0]


def _reach(mark: Mark | None, text: str, key: str) -> tuple[Callable[[Event], bool], str | None]:
    """Which events the last healthy run already read, and a note when its place is gone from the log."""
    if mark is None:
        return (lambda _event: False), None
    if mark.anchor:
        end = mark.reach(text)
        if end is None:
            note = (
                "the line the last healthy run read up to is not in this log (rewritten, rotated or rebooted since): every event is judged"
            )
            return (lambda _event: False), note
        return (lambda event: event.offset < end), None
    if key.startswith("boot:"):  # a schema 1.0 entry: this boot's clock only goes forward
        return (lambda event: mark.covers(event.stamp)), None
    return (lambda _event: False), None


def _events(
    scanned: parse.Scan, policy: KernelLogPolicy, threshold: str, read_through: Callable[[Event], bool]
) -> tuple[list[Finding], list[Finding]]:
    """(new, history) findings of the log's events, one per kind of event (and, for history, per reason).

    A healthy run's mark makes history only of what does not block at this run's threshold: a run under a
    looser ``--strict-threshold`` passed what this one blocks on, and its mark must not hide it."""
    events = tuple(e for e in scanned.events if e.offset >= scanned.boot_at)
    earlier = [e for e in scanned.events if e.offset < scanned.boot_at]
    off_bus = {_bare(e.device) for e in events if e.kind == "xid" and e.code == 79}
    last_154 = {_bare(e.device): e.offset for e in events if e.kind == "xid" and e.code == 154}
    # The driver's own word that a GPU needs no recovery any more (Xid 154 "to 0x0 (None)", printed after a reset):
    # what that GPU logged before it is over.
    recovered = {_bare(e.device): e.offset for e in events if e.kind == "xid" and e.code == 154 and (e.variant or "").lower() == "none"}
    new: dict[tuple[Any, ...], list[Event]] = {}
    old: dict[tuple[Any, ...], list[Event]] = {}
    for event in earlier:
        rule = policy.rule(event)
        old.setdefault((event.kind, event.code, event.variant, rule.meaning, "previous_boot"), []).append(event)
    for event in events:
        if event.kind == "fallen_off_bus" and _bare(event.device) in off_bus:
            continue  # the driver's words for the Xid 79 already counted
        gpu = _bare(event.device)
        rule = policy.rule(event)
        why: str | None = None
        if event.kind == "xid" and event.code == 154 and event.offset < last_154[gpu]:
            why = "superseded"
        elif event.kind == "xid" and event.code == 154 and (event.variant or "").lower() == "none":
            why = "recovered"  # the driver's all-clear is no finding of its own
        elif event.kind in ("xid", "fallen_off_bus") and event.offset < recovered.get(gpu, -1):
            why = "recovered"
        elif read_through(event) and not blocks(rule.band, threshold):
            why = "read_healthy"
        if why is None:
            new.setdefault((event.kind, event.code, event.variant, rule.meaning), []).append(event)
        else:
            old.setdefault((event.kind, event.code, event.variant, rule.meaning, why), []).append(event)
    history = [_group(g, policy, key[4]) for key, g in old.items()]
    return [_group(g, policy) for g in new.values()], history


def _group(events: list[Event], policy: KernelLogPolicy, why_history: str | None = None) -> Finding:
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
        why_history,
    )


def _ports(
    ports: list[Port], policy: KernelLogPolicy, mark: Mark | None, threshold: str
) -> tuple[list[Finding], list[Finding], dict[str, int]]:
    new: list[Finding] = []
    history: list[Finding] = []
    counters = {p.name: p.link_downed for p in ports if p.link_downed is not None}
    # As for log events: a count a healthy run saw is history only where it does not block at this threshold.
    before = mark.link_downed if mark and not blocks(policy.link_downed.band, threshold) else {}
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
            history.append(
                Finding(
                    "link_downed", None, None, policy.link_downed, downed - fresh, (port.name,), None, None, example, None, "read_healthy"
                )
            )
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
        **({"why": HISTORY_REASONS[finding.why_history]} if finding.why_history else {}),
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
    since = f" at {details['last_healthy']}" if details.get("last_healthy") else ""
    phrases = {
        "read_healthy": f"from before the last healthy run{since}",
        "previous_boot": "from before the node's last reboot",
        "superseded": "superseded by a later Xid 154",
        "recovered": "on a GPU the driver says needs no recovery",
    }
    for reason, phrase in phrases.items():
        count = sum(1 for f in history if (f.why_history or "read_healthy") == reason)
        if count:
            parts.append(f"{count} finding{'s' if count != 1 else ''} {phrase} (history)")
    return "; ".join(parts)
