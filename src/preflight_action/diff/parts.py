"""An inventory as three comparable parts (packages, environment, platform), each JSON and named by a hash.

The summary and the history keep an inventory by reference: each part once per distinct content, each report
row or history record its three hashes. Paths do not enter a part (two nodes, or two venvs, in different
folders run the same packages); where a distribution came from does, as its kind (site-packages, .pth,
PYTHONPATH, editable, conda-meta). A report written before the inventory gives partial parts from its
environment fingerprint (four packages, the variables it recorded): compared on what both sides know.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from dataclasses import dataclass
from functools import cached_property
from typing import Any

from preflight_action.preflight.inventory import PLATFORM_FACTS, Inventory, allowed
from preflight_action.preflight.report import Report
from preflight_action.vocab import FINGERPRINT_ENV_NAMES, FINGERPRINT_ENV_PREFIXES

PART_NAMES = ("packages", "environment", "platform")
SITE_PACKAGES = "site-packages"


@dataclass(frozen=True)
class Parts:
    """One run's inventory as comparable parts; a part is None where the run recorded nothing of it."""

    packages: dict[str, Any] | None
    environment: dict[str, Any] | None
    platform: dict[str, Any] | None

    def part(self, name: str) -> dict[str, Any] | None:
        value: dict[str, Any] | None = getattr(self, name)
        return value

    @cached_property
    def refs(self) -> dict[str, str]:
        """Part name -> its hash, for the parts this run has (computed once: a fleet's reports share their parts)."""
        return {name: ref(part) for name in PART_NAMES if (part := self.part(name)) is not None}

    @classmethod
    def resolve(cls, refs: Mapping[str, str] | None, table: Mapping[str, dict[str, Any]]) -> Parts | None:
        """The parts ``refs`` names, looked up in ``table``; None when no part can be found."""
        if not refs:
            return None
        found = {name: table.get(refs[name]) if name in refs else None for name in PART_NAMES}
        if all(v is None for v in found.values()):
            return None
        parts = cls(**found)
        parts.__dict__["refs"] = {name: refs[name] for name in PART_NAMES if found[name] is not None}  # known: no hashing again
        return parts


def ref(part: Mapping[str, Any]) -> str:
    """A part's name: 16 hex digits of the sha256 of its canonical JSON."""
    try:
        import orjson

        data = orjson.dumps(part, option=orjson.OPT_SORT_KEYS)
    except ImportError:  # declared dependency; stay correct without it
        data = json.dumps(part, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode("utf-8")
    return hashlib.sha256(data).hexdigest()[:16]


def packages(inventory: Inventory) -> dict[str, Any] | None:
    """The packages part: each name's version (the copy an import takes), its source where not site-packages, shadowed copies."""
    if not inventory.scanned:
        return None
    versions: dict[str, str | None] = {}
    sources: dict[str, str] = {}
    shadowed: dict[str, list[str | None]] = {}
    for dist in inventory.distributions:
        if dist.shadowed or dist.name in versions:
            shadowed.setdefault(dist.name, []).append(dist.version)
            continue
        versions[dist.name] = dist.version
        if dist.source != SITE_PACKAGES:
            sources[dist.name] = dist.source
    part: dict[str, Any] = {"versions": versions}
    if sources:
        part["sources"] = sources
    if shadowed:
        part["shadowed"] = shadowed
    if inventory.omitted:
        part["omitted"] = inventory.omitted
        part["digest"] = inventory.digest
    return part


def of_report(report: Report) -> Parts:
    """A report's parts: from its inventory, else (a report written before it) from its environment fingerprint."""
    if report.inventory is not None:
        inventory = report.inventory
        return Parts(packages(inventory), {"variables": inventory.environment}, {"facts": inventory.platform})
    return legacy(report.env_fingerprint.payload)


def legacy(payload: Mapping[str, Any]) -> Parts:
    """Partial parts from an environment fingerprint's payload (an old report's four packages and recorded variables)."""
    installed = payload.get("packages")
    caps = payload.get("capabilities")
    env = payload.get("environment")
    pkgs = (
        {"versions": {name: version for name, version in installed.items() if version is not None}, "partial": True}
        if isinstance(installed, dict)
        else None
    )
    variables = {k: str(v) for k, v in env.items() if allowed(k)} if isinstance(env, dict) else None
    facts = {k: caps[k] for k in PLATFORM_FACTS if k in caps} if isinstance(caps, dict) else None
    return Parts(
        pkgs,
        {"variables": variables, "partial": True} if variables is not None else None,
        {"facts": facts, "partial": True} if facts is not None else None,
    )


def legacy_variable(name: str) -> bool:
    """Whether a report without an inventory would have recorded ``name``."""
    return name in FINGERPRINT_ENV_NAMES or name.startswith(FINGERPRINT_ENV_PREFIXES)  # what a report without an inventory recorded


MAX_TABLE_PARTS = 256  # distinct parts a summary keeps (a fleet shares a few); rows past it keep only their hashes


class Table:
    """Distinct parts by hash, as a summary keeps them: each report row names its parts, each part is stored once."""

    def __init__(self, limit: int = MAX_TABLE_PARTS) -> None:
        self.limit = limit
        self.parts: dict[str, dict[str, Any]] = {}
        self.dropped: set[str] = set()
        self._seen: dict[bytes, dict[str, str]] = {}  # the raw inventory's bytes -> its refs (reports of one fleet repeat)

    def add(self, parts: Parts) -> dict[str, str]:
        refs = parts.refs
        for name, key in refs.items():
            if key not in self.parts:
                if len(self.parts) < self.limit:
                    self.parts[key] = parts.part(name) or {}
                else:
                    self.dropped.add(key)
        return refs

    def add_document(self, document: Mapping[str, Any]) -> dict[str, str] | None:
        """The refs of a report document's inventory (its fingerprint's, for a report written before the inventory)."""
        raw = document.get("inventory")
        if raw is None:
            payload = (document.get("env_fingerprint") or {}).get("payload") or {}
            return self.add(legacy(payload)) or None
        key = _raw_key(raw)
        known = self._seen.get(key)
        if known is None:
            known = self._seen[key] = self.add(
                Parts(
                    packages(Inventory(raw)), {"variables": dict(raw.get("environment") or {})}, {"facts": dict(raw.get("platform") or {})}
                )
            )
        return known

    def used(self, refs: list[dict[str, str] | None]) -> dict[str, dict[str, Any]]:
        """The stored parts some row names (a summary keeps no part nobody refers to)."""
        wanted = {key for row in refs if row for key in row.values()}
        return {key: part for key, part in self.parts.items() if key in wanted}


def _raw_key(raw: Mapping[str, Any]) -> bytes:
    """What names a raw inventory's parts, cheaply: the probe's digest stands for the distributions (it covers every
    name, version and source; a report that lies about it lies about its versions as much), then where each path's
    copies came from, which are editable, the variables and the platform facts (paths themselves do not count)."""
    listed = [[p.get("source"), sorted(p.get("editable") or ())] for p in raw.get("paths") or ()]
    core = [raw.get("digest"), raw.get("omitted"), listed, raw.get("environment"), raw.get("platform")]
    try:
        import orjson

        return orjson.dumps(core)
    except ImportError:  # declared dependency; stay correct without it
        return json.dumps(core, separators=(",", ":")).encode("utf-8")
