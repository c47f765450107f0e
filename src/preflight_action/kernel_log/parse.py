"""Kernel log text to events: NVIDIA Xid and SXid lines, PCIe AER errors, GPUs fallen off the bus.

The text is what ``/dev/kmsg``, ``dmesg`` (plain, ``-x``, ``-T``, ``--time-format iso``) or ``journalctl -k``
(``short``, ``short-iso``, ``short-monotonic``) print, or a saved copy of any of them; each line's
timestamp is read where it has one. A log without any of the few words the events contain is
answered after one substring scan per word, before a line is split: most logs are such logs.
"""

from __future__ import annotations

import re
from functools import cache
from itertools import pairwise
from typing import NamedTuple

# Every event line holds one of these ("SXid" holds "Xid"); a log holding none has no event. Not "AER:" alone:
# every root port logs "AER: enabled with IRQ" at boot, and that is no error.
KEYWORDS = ("Xid", "fallen off the bus", "PCIe Bus Error", "error received", "error message received")
DETAIL_LIMIT = 200  # characters of a line's own words kept with an event
SXID_DETAIL = ("Severity", "Data")  # how the lines after an SXid's main line start
LOOK_BACK = 3  # lines before a "fallen off the bus" line that may name the GPU (the message spans lines)
ANCHOR_LIMIT = 2000  # characters of the log's last stamped line kept to find the place again
# How a saved log that spans reboots says a boot began: journalctl without -b prints "-- Boot <id> --" (older
# versions "-- Reboot --"); the kernel's first line of every boot is "Linux version ...". A kernel clock that
# goes back by more than REBOOT_SLACK_S between two lines says the same (the clock starts again at boot).
BOOT_MARKERS = ("-- Boot ", "-- Reboot --", "Linux version ")
REBOOT_SLACK_S = 1.0

_MONTHS = {m: i for i, m in enumerate(("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"), start=1)}
_PCI = r"[0-9A-Fa-f]{4}:[0-9A-Fa-f]{2}:[0-9A-Fa-f]{2}(?:\.[0-7])?"


class _Patterns:
    """The line patterns, compiled on first use: a log with no event never pays for them (milliseconds)."""

    def __init__(self) -> None:
        self.kmsg = re.compile(r"(\d+),(\d+),(\d+),[^;]*;")  # /dev/kmsg: priority,sequence,microseconds,flags;message
        self.mono = re.compile(r"\[\s*(\d+\.\d+)\]\s?")  # dmesg, journalctl -o short-monotonic, kern.log: [  123.456789]
        self.ctime = re.compile(r"\[(?:[A-Z][a-z]{2} )?([A-Z][a-z]{2}) +(\d{1,2}) (\d\d):(\d\d):(\d\d) (\d{4})\]\s?")  # dmesg -T
        self.iso = re.compile(r"(\d{4})-(\d\d)-(\d\d)[T ](\d\d):(\d\d):(\d\d)(?:[.,](\d+))?(Z|[+-]\d\d:?\d\d)?\s+")
        self.short = re.compile(r"([A-Z][a-z]{2}) +(\d{1,2}) (\d\d):(\d\d):(\d\d)\s+")  # journalctl short / syslog: no year
        self.dmesg_x = re.compile(r"[a-z]+ *:[a-z]+ *: ")  # dmesg -x: "kern  :err   : "
        self.journal_host = re.compile(r"(?:\S+ )?kernel: ")  # journalctl and syslog: "HOST kernel: "
        self.xid = re.compile(rf"NVRM: Xid \((?:PCI:)?({_PCI})\): (\d+)(.*)")
        self.process = re.compile(r",\s*pid=('[^']*'|[^,]*),\s*name=([^,]*)")
        self.xid154 = re.compile(r"to 0x[0-9A-Fa-f]+ \(([^)]+)\)")
        self.sxid = re.compile(rf"(?:(\S+): )?SXid \((?:PCI:)?({_PCI})\): (\d+),?\s*(.*)")
        self.gpu_address = re.compile(rf"GPU (?:at )?(?:PCI:)?({_PCI})")
        self.aer_detail = re.compile(rf"({_PCI}): (?:AER: )?PCIe Bus Error: severity=([^,]+),\s*type=([^,(]+)")
        self.aer_summary = re.compile(
            rf"AER: (?:Multiple )?(Corrected|Uncorrected|Uncorrectable)( \((?:Non-)?Fatal\))? error (?:message )?received(?: from|:) ({_PCI})"
        )


@cache
def _re() -> _Patterns:
    return _Patterns()


# The records here are NamedTuples, not frozen dataclasses: defining a dataclass costs a millisecond or two, and
# these modules load on every preflight's start-up (kernel.log runs at every level).
class Stamp(NamedTuple):
    """When a line was logged: ``value`` seconds on ``clock`` (comparable only within one clock), and as printed."""

    clock: str  # monotonic (since boot) | wall (UTC epoch) | yearless (syslog "Mar  3 10:22:01": seconds into a year)
    value: float
    text: str


class Event(NamedTuple):
    kind: str  # xid | sxid | aer | fallen_off_bus
    code: int | None  # the Xid or SXid number
    variant: str | None  # AER and SXid: fatal | non_fatal | corrected; Xid 154: the recovery action it changed to
    device: str | None  # PCI address as printed (lower case)
    detail: str  # the line's own words after the code, cleaned and capped
    stamp: Stamp | None
    offset: int  # where the line starts in the log (orders events)
    process: str | None = None  # "pid=4242, name=python" where the driver printed it


class Scan(NamedTuple):
    events: tuple[Event, ...]
    last: Stamp | None  # the log's last timestamp: how far it reaches
    anchor: str | None = None  # the log's last stamped line (capped): where a later run finds this place again
    anchor_at: int | None = None  # where that line starts
    boot_at: int = 0  # where the log's last boot starts (0: the log holds one boot, or says nothing of others)
    boots: int = 1  # how many boots the log holds (a saved journal or kern.log can span several)


def split(line: str) -> tuple[Stamp | None, str]:
    """A line's timestamp (or None) and its message, with the kmsg, dmesg and journal prefixes removed."""
    stamp: Stamp | None = None
    rest = line
    if match := _re().dmesg_x.match(rest):
        rest = rest[match.end() :]
    if match := _re().kmsg.match(rest):
        stamp = Stamp("monotonic", int(match.group(3)) / 1e6, f"{int(match.group(3)) / 1e6:.6f} s after boot")
        rest = rest[match.end() :]
    elif match := _re().mono.match(rest):
        stamp = Stamp("monotonic", float(match.group(1)), f"{float(match.group(1)):.6f} s after boot")
        rest = rest[match.end() :]
    elif match := _re().ctime.match(rest):
        import calendar

        month, day, hh, mm, ss, year = match.groups()
        value = calendar.timegm((int(year), _MONTHS.get(month, 1), int(day), int(hh), int(mm), int(ss), 0, 0, 0))
        stamp = Stamp("wall", float(value), match.group(0).strip().strip("[]"))
        rest = rest[match.end() :]
    elif match := _re().iso.match(rest):
        stamp = Stamp("wall", _iso_seconds(match), match.group(0).strip())
        rest = rest[match.end() :]
    elif match := _re().short.match(rest):
        month, day, hh, mm, ss = match.groups()
        days = (_MONTHS.get(month, 1) - 1) * 31 + int(day)
        stamp = Stamp("yearless", float(days * 86400 + int(hh) * 3600 + int(mm) * 60 + int(ss)), match.group(0).strip())
        rest = rest[match.end() :]
    if stamp is not None and stamp.clock != "monotonic" and (match := _re().journal_host.match(rest)):
        rest = rest[match.end() :]
        if inner := _re().mono.match(rest):  # kern.log keeps the kernel's own seconds-since-boot: the steadier clock
            stamp = Stamp("monotonic", float(inner.group(1)), f"{stamp.text} ({float(inner.group(1)):.6f} s after boot)")
            rest = rest[inner.end() :]
    elif stamp is not None and (match := _re().journal_host.match(rest)):  # journalctl -o short-monotonic
        rest = rest[match.end() :]
    return stamp, rest


def _iso_seconds(match: re.Match[str]) -> float:
    import calendar

    year, month, day, hh, mm, ss, fraction, zone = match.groups()
    value = float(calendar.timegm((int(year), int(month), int(day), int(hh), int(mm), int(ss), 0, 0, 0)))
    if fraction:
        value += float(f"0.{fraction}")
    if zone and zone != "Z":
        sign = -1 if zone[0] == "+" else 1
        digits = zone[1:].replace(":", "")
        value += sign * (int(digits[:2]) * 3600 + int(digits[2:4]) * 60)
    return value


def scan(text: str) -> Scan:
    """Every event in ``text``, in log order, and the log's last timestamp."""
    if not any(word in text for word in KEYWORDS):
        return Scan((), None)
    events: list[Event] = []
    summaries: list[Event] = []
    switches: set[tuple[str | None, int | None]] = set()  # (device, SXid) whose main line was seen
    for start in _hit_lines(text):
        stamp, message, begin = _record(text, start)
        found = _event(message, stamp, begin, text, cut=text.find("\n", start) == -1)
        if found is None:
            continue
        if found.kind == "sxid":
            if found.variant is not None:
                switches.add((found.device, found.code))
            elif (found.device, found.code) in switches and found.detail.split(": ", 1)[-1].startswith(SXID_DETAIL):
                continue  # the "Severity N ..." / "Data {...}" lines after an SXid's main line tell the same error
        (summaries if found.kind == "aer" and found.detail.startswith("AER: ") else events).append(found)
    detailed = {e.variant for e in events if e.kind == "aer"}
    # The "error received" line and its "PCIe Bus Error" lines tell one error: count the details where there are any.
    events.extend(e for e in summaries if e.variant not in detailed)
    unique = {e.offset: e for e in events}  # a record spanning lines is found once per keyword line
    ordered = tuple(sorted(unique.values(), key=lambda e: e.offset))
    last, anchor_at, anchor = last_line(text)
    starts = boot_starts(text, ordered, last, anchor_at)
    return Scan(ordered, last, anchor, anchor_at, starts[-1] if starts else 0, len(starts) + 1 if starts else 1)


def boot_starts(text: str, events: tuple[Event, ...], last: Stamp | None, last_at: int | None) -> list[int]:
    """Where each boot after the log's first one starts: a boot marker line, or the kernel clock starting again.

    The clock is compared between the events and the log's last line only (not every line: a log with events
    is read once more for its few markers, not split). A marker at the very start of the log is not a
    second boot."""
    found: set[int] = set()
    for marker in BOOT_MARKERS:
        at = text.find(marker)
        while at != -1:
            start = text.rfind("\n", 0, at) + 1
            line = _line(text, start)
            if line.lstrip().startswith(marker) if marker.startswith("--") else split(line)[1].startswith(marker):
                found.add(start)
            end = text.find("\n", at)
            if end == -1:
                break
            at = text.find(marker, end)
    starts: set[int] = set()
    since = 0  # a marker starts a boot only with a stamped line between it and the last start (or the log's head):
    for start in sorted(found):  # a header is no boot, and "-- Boot" then "Linux version" are one
        _, stamped_at, _ = last_line(text, start)
        if stamped_at is not None and stamped_at >= since:
            starts.add(start)
            since = start
    points = [(e.offset, e.stamp) for e in events if e.stamp is not None and e.stamp.clock == "monotonic"]
    if last is not None and last.clock == "monotonic" and last_at is not None:
        points.append((last_at, last))
    points.sort(key=lambda point: point[0])
    for (was_at, before), (at, after) in pairwise(points):
        if after.value < before.value - REBOOT_SLACK_S and not any(was_at < start <= at for start in starts):
            starts.add(at)  # somewhere between the two the clock started again: the later line is in the new boot
    return sorted(starts)


def last_stamp(text: str) -> Stamp | None:
    """The timestamp of the log's last line that has one."""
    return last_line(text)[0]


def last_line(text: str, end: int | None = None) -> tuple[Stamp | None, int | None, str | None]:
    """The log's last line (before ``end``) that has a timestamp: (its stamp, where it starts, the line capped
    at ANCHOR_LIMIT)."""
    end = len(text) if end is None else end
    for _ in range(64):  # a trailing run of unstamped lines longer than this has no useful end
        while end > 0 and text[end - 1] in "\r\n":
            end -= 1
        if end == 0:
            return None, None, None
        start = text.rfind("\n", 0, end) + 1
        line = text[start:end]
        stamp, _ = split(line)
        if stamp is not None:
            return stamp, start, line[:ANCHOR_LIMIT]
        end = start
    return None, None, None


def _hit_lines(text: str) -> list[int]:
    """The start offsets of the lines holding a keyword."""
    starts: set[int] = set()
    for word in KEYWORDS:
        at = text.find(word)
        while at != -1:
            start = text.rfind("\n", 0, at) + 1
            starts.add(start)
            end = text.find("\n", at)
            if end == -1:
                break
            at = text.find(word, end)
    return sorted(starts)


def _line(text: str, start: int) -> str:
    end = text.find("\n", start)
    return text[start : len(text) if end == -1 else end].rstrip("\r")


def _record(text: str, start: int) -> tuple[Stamp | None, str, int]:
    """(stamp, message, start) of the logical record holding the line at ``start``: dmesg prints a message's
    further lines indented and without a timestamp, so they are joined to the line that has one."""
    line = _line(text, start)
    stamp, message = split(line)
    begin = start
    if stamp is None and line[:1].isspace():
        for _ in range(LOOK_BACK):
            if begin == 0:
                break
            head_start = text.rfind("\n", 0, begin - 1) + 1
            head = _line(text, head_start)
            head_stamp, head_message = split(head)
            message = f"{head_message} {message.strip()}"
            begin = head_start
            if head_stamp is not None or not head[:1].isspace():
                stamp = head_stamp
                break
    end = text.find("\n", start)
    while end != -1:  # continuation lines after the hit belong to it too
        nxt = _line(text, end + 1)
        if not nxt[:1].isspace() or not nxt.strip() or split(nxt)[0] is not None:
            break
        message = f"{message} {nxt.strip()}"
        end = text.find("\n", end + 1)
    return stamp, message, begin


def _clean(words: str) -> str:
    from preflight_action import untrusted

    return untrusted.clean(" ".join(words.split()), DETAIL_LIMIT)


def _event(message: str, stamp: Stamp | None, offset: int, text: str, cut: bool = False) -> Event | None:
    """The event ``message`` tells, or None; ``cut``: the line is the log's last and has no line end (a copy
    taken while the kernel wrote it), so an Xid code that runs to its end may have lost digits."""
    if match := _re().sxid.search(message):
        switch, device, code, rest = match.groups()
        head = rest.split(",", 1)[0].strip().lower().replace("-", "")
        variant = "non_fatal" if head == "nonfatal" else "fatal" if head == "fatal" else None
        detail = f"{switch}: {rest}" if switch else rest
        return Event("sxid", int(code), variant, device.lower(), _clean(detail), stamp, offset)
    if match := _re().xid.search(message):
        device, code, rest = match.groups()
        if cut and not rest.strip():
            # "...: 7" at the very end of a copy may be 79 or 74: the code is not known, and no rule is guessed.
            return Event(
                "xid", None, None, device.lower(), _clean(f"the log ends inside this line, after the digits {code}"), stamp, offset
            )
        process = None
        if found := _re().process.match(rest):
            process = _clean(f"pid={found.group(1)}, name={found.group(2).strip()}")
            rest = rest[found.end() :]
        detail = rest.lstrip(", ").strip()
        variant = None
        if code == "154" and (action := _re().xid154.search(detail)):
            variant = action.group(1).strip()
        return Event("xid", int(code), variant, device.lower(), _clean(detail), stamp, offset, process)
    if "fallen off the bus" in message:
        found_at = _re().gpu_address.search(message) or _look_back(text, offset)
        device = found_at.group(1).lower() if found_at else None
        return Event("fallen_off_bus", None, None, device, _clean(message), stamp, offset)
    if match := _re().aer_detail.search(message):
        device, severity, kind = match.groups()
        return Event("aer", None, _aer_severity(severity), device.lower(), _clean(f"{severity}, {kind.strip()}"), stamp, offset)
    if match := _re().aer_summary.search(message):
        word, qualifier, device = match.groups()
        severity = f"{word}{qualifier or ''}"
        return Event("aer", None, _aer_severity(severity), device.lower(), _clean(f"AER: {severity} error received"), stamp, offset)
    return None


def _aer_severity(words: str) -> str:
    if words.strip().startswith("Corrected"):
        return "corrected"
    return "non_fatal" if "Non-Fatal" in words or "Fatal" not in words else "fatal"


def _look_back(text: str, offset: int) -> re.Match[str] | None:
    """The GPU a multi-line "fallen off the bus" message names on one of its earlier lines (journalctl splits it)."""
    at = offset
    for _ in range(LOOK_BACK):
        if at == 0:
            return None
        at = text.rfind("\n", 0, at - 1) + 1
        if found := _re().gpu_address.search(_line(text, at)):
            return found
    return None
