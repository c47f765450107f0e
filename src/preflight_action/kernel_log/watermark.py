"""How far each kernel log was read by this node's last healthy run of kernel.log, kept in the cache folder.

An event logged at or before that point is history: the node has run healthy since, so a fixed node
stops being blamed for what its log still holds. The live log is keyed by this boot's id (a reboot
starts a new log, and a cache folder shared by many nodes keeps them apart); a saved log by its path.

The place is the log's last stamped line as that run read it (the anchor), found again in the text: a
timestamp alone cannot say it, since the kernel's seconds-since-boot start again at every reboot and a
syslog time has no year. A file rewritten after a reboot, rotated, or replaced no longer holds the
anchor, so nothing in it is history. (Entries written before anchors, schema 1.0, fall back to the
timestamp for this boot's live log only, where its clock cannot go back.)
File: ``$PREFLIGHT_CACHE_DIR/kernel_log/state.json`` (else the user's cache folder), schema ``kernel_log_state``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from preflight_action import atomic, schemas
from preflight_action.errors import InputError
from preflight_action.host import utc_now
from preflight_action.kernel_log.parse import ANCHOR_LIMIT, Stamp
from preflight_action.process.probe_cache import cache_base

SCHEMA_NAME = "kernel_log_state"
SCHEMA_VERSION = "1.1"
KIND = "kernel_log_state"
MAX_ENTRIES = 64  # boots and saved files remembered (the oldest recorded go first)


@dataclass(frozen=True)
class Mark:
    """A healthy run's reach: events at or before ``through`` are history; the port counters it saw."""

    through: Stamp | None
    recorded_at: str
    link_downed: dict[str, int] = field(default_factory=dict)
    anchor: str | None = None  # the log's last stamped line as that run read it (capped)
    anchor_at: int | None = None  # where it started then

    def reach(self, text: str) -> int | None:
        """Where in ``text`` the part that healthy run read ends, or None when the anchor is not in it."""
        if not self.anchor:
            return None
        size = len(self.anchor)
        whole = size < ANCHOR_LIMIT  # a capped anchor is a line's start: its end is not checked

        def fits(at: int) -> bool:
            starts_line = at == 0 or text[at - 1] == "\n"
            return starts_line and (not whole or text[at + size : at + size + 1] in ("", "\n", "\r"))

        if self.anchor_at is not None and text.startswith(self.anchor, self.anchor_at) and fits(self.anchor_at):
            return self.anchor_at + size  # the same file, grown (the usual case: one comparison)
        at = text.find(self.anchor)  # the head was cut (a ring buffer, a trimmed copy): the first match, never a later one
        while at != -1:
            if fits(at):
                return at + size
            at = text.find(self.anchor, at + 1)
        return None

    def covers(self, stamp: Stamp | None) -> bool:
        """Whether an event at ``stamp`` was already in the log that healthy run read, by its time alone
        (schema 1.0 entries, which have no anchor; this boot's live log only)."""
        if stamp is None or self.through is None or stamp.clock != self.through.clock:
            return False  # an event without a comparable time is never assumed old
        return stamp.value <= self.through.value


def path() -> Path | None:
    base = cache_base()
    return Path(base) / "kernel_log" / "state.json" if base else None


def _document(file: Path) -> dict[str, Any]:
    if not file.exists():
        return {"schema_version": SCHEMA_VERSION, "kind": KIND, "entries": {}}
    document: dict[str, Any] = schemas.read_json(file, SCHEMA_NAME)
    return document


def read(key: str) -> tuple[Mark | None, str | None]:
    """The mark for ``key`` and None, or None and why the state could not be read (then nothing is history)."""
    file = path()
    if file is None:
        return None, "no cache folder (set PREFLIGHT_CACHE_DIR)"
    try:
        entry = _document(file)["entries"].get(key)
    except InputError as error:
        return None, f"state ignored: {error}"
    if entry is None:
        return None, None
    through = Stamp(entry["clock"], entry["healthy_through"], entry["text"] or "") if entry["clock"] else None
    return Mark(through, entry["recorded_at"], dict(entry["link_downed"]), entry.get("anchor"), entry.get("anchor_at")), None


def write(key: str, mark: Mark) -> str | None:
    """Record ``mark`` for ``key``; why it could not be written, else None (a cache never fails a check)."""
    file = path()
    if file is None:
        return "no cache folder (set PREFLIGHT_CACHE_DIR)"
    try:
        document = _document(file)
    except InputError:
        document = {"schema_version": SCHEMA_VERSION, "kind": KIND, "entries": {}}  # ours, and unreadable: start again
    entries = document["entries"]
    entries[key] = {
        "recorded_at": mark.recorded_at,
        "clock": mark.through.clock if mark.through else None,
        "healthy_through": mark.through.value if mark.through else None,
        "text": mark.through.text[:200] if mark.through else None,
        "link_downed": dict(sorted(mark.link_downed.items())),
        "anchor": mark.anchor,
        "anchor_at": mark.anchor_at,
    }
    for old in sorted(entries, key=lambda k: entries[k]["recorded_at"])[: max(0, len(entries) - MAX_ENTRIES)]:
        del entries[old]
    document["schema_version"] = SCHEMA_VERSION
    try:
        schemas.validate(document, SCHEMA_NAME, str(file))
        atomic.write_json(file, document)
    except (OSError, InputError) as error:
        return f"state not written: {getattr(error, 'strerror', None) or error}"
    return None


def now_mark(through: Stamp | None, link_downed: dict[str, int], anchor: str | None = None, anchor_at: int | None = None) -> Mark:
    return Mark(through, utc_now(), link_downed, anchor, anchor_at)
