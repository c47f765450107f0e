"""The runtime matrix snapshot as one typed record, shared by the matrix CLI, its view and the summary.

``Snapshot.to_dict()`` is the schema's JSON (schemas/runtime_matrix.schema.json);
``Snapshot.from_dict`` reads it back. ``grid()`` is the node x backend view
(worst source wins) that the summary and the HTML dashboard both show.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property
from typing import Any

from preflight_action.matrix.gangs import GangGroup

# code -> (severity slug, rank); higher rank is worse and wins a rollup. A skipped lane (stub,
# simulated, dry run) carries no evidence either way, so any real observation outranks it.
CODES = {
    "skipped": ("info", 0),
    "ok": ("info", 1),
    "not_judged": ("warning", 2),  # 1.1: a run that never finished its required checks: never ok
    "stale": ("warning", 3),
    "degraded": ("warning", 4),
    "error": ("error", 5),
    "down": ("critical", 6),
}


@dataclass(frozen=True)
class Status:
    """The accessible status strings of a node, a lane or a cell."""

    code: str
    severity: str
    severity_label: str
    label: str
    detail: tuple[str, ...]
    aria_hint: str

    @property
    def rank(self) -> int:
        return CODES[self.code][1]

    def to_dict(self) -> dict[str, Any]:
        return {
            "code": self.code,
            "severity": self.severity,
            "severity_label": self.severity_label,
            "label": self.label,
            "detail": list(self.detail),
            "aria_hint": self.aria_hint,
        }

    @classmethod
    def from_dict(cls, document: dict[str, Any]) -> Status:
        return cls(
            document["code"],
            document["severity"],
            document["severity_label"],
            document["label"],
            tuple(document["detail"]),
            document["aria_hint"],
        )


@dataclass(frozen=True)
class LaneEntry:
    backend: str
    accelerator: str
    source: str
    simulated: bool
    updated: str
    path: str
    status: Status

    def to_dict(self) -> dict[str, Any]:
        return {
            "backend": self.backend,
            "accelerator": self.accelerator,
            "source": self.source,
            "simulated": self.simulated,
            "updated": self.updated,
            "path": self.path,
            "status": self.status.to_dict(),
        }

    @classmethod
    def from_dict(cls, document: dict[str, Any]) -> LaneEntry:
        fields = {k: document[k] for k in ("backend", "accelerator", "source", "simulated", "updated", "path")}
        return cls(**fields, status=Status.from_dict(document["status"]))


@dataclass(frozen=True)
class NodeItem:
    node: str
    status: Status
    runtime: dict[str, Any]  # total, states (code -> count), updated
    accelerators: dict[str, Any]  # CPU/GPU/NPU -> available, lanes, states
    lanes: tuple[LaneEntry, ...]

    def to_dict(self) -> dict[str, Any]:
        return {
            "status": self.status.to_dict(),
            "runtime": dict(self.runtime),
            "accelerators": dict(self.accelerators),
            "lanes": [lane.to_dict() for lane in self.lanes],
        }


@dataclass(frozen=True)
class Cell:
    """One node x backend cell: the worst lane's status, and what the lanes in it were."""

    node: str
    backend: str
    status: Status
    simulated: bool
    sources: tuple[str, ...]

    @property
    def code(self) -> str:
        return self.status.code

    @property
    def severity(self) -> str:
        return self.status.severity

    @property
    def label(self) -> str:
        return self.status.label


@dataclass(frozen=True)
class Snapshot:
    generated_at: str
    ttl_seconds: int
    backends: tuple[str, ...]
    items: tuple[NodeItem, ...]  # sorted by node
    inputs: dict[str, Any] | None = None
    schema_version: str = "1.1"  # 1.1: the code not_judged, gangs
    gangs: tuple[GangGroup, ...] = ()  # 1.1: preflight-gang reports grouped by gang id

    @property
    def nodes(self) -> tuple[str, ...]:
        return tuple(item.node for item in self.items)

    def item(self, node: str) -> NodeItem | None:
        return next((i for i in self.items if i.node == node), None)

    @cached_property
    def cells(self) -> tuple[Cell, ...]:
        """Every occupied cell, sorted by (node, backend); the worst lane's status wins a cell."""
        out: list[Cell] = []
        for item in self.items:
            by_backend: dict[str, list[LaneEntry]] = {}
            for lane in item.lanes:
                by_backend.setdefault(lane.backend, []).append(lane)
            for backend in sorted(by_backend):
                mine = by_backend[backend]
                worst = mine[0].status
                for lane in mine[1:]:
                    if lane.status.rank > worst.rank:
                        worst = lane.status
                out.append(Cell(item.node, backend, worst, all(ln.simulated for ln in mine), tuple(sorted({ln.source for ln in mine}))))
        return tuple(out)

    def cell(self, node: str, backend: str) -> Cell | None:
        return self._by_key.get((node, backend))

    @cached_property
    def _by_key(self) -> dict[tuple[str, str], Cell]:
        return {(c.node, c.backend): c for c in self.cells}

    def to_dict(self) -> dict[str, Any]:
        document: dict[str, Any] = {
            "schema_version": self.schema_version,
            "generated_at": self.generated_at,
            "ttl_seconds": self.ttl_seconds,
            "backends": list(self.backends),
            "items": {item.node: item.to_dict() for item in self.items},
        }
        if self.gangs:
            document["gangs"] = [g.to_dict() for g in self.gangs]
        if self.inputs is not None:
            document["inputs"] = self.inputs
        return document

    def summary_dict(self) -> dict[str, Any]:
        """The summary JSON's ``matrix`` section: nodes, backends, ttl and one flat record per cell."""
        return {
            "nodes": list(self.nodes),
            "backends": list(self.backends),
            "ttl_seconds": self.ttl_seconds,
            "cells": [{"node": c.node, "backend": c.backend, "code": c.code, "severity": c.severity, "label": c.label} for c in self.cells],
        }

    @classmethod
    def from_dict(cls, document: dict[str, Any]) -> Snapshot:
        """The record of a schema-valid snapshot document."""
        items = tuple(
            NodeItem(
                node,
                Status.from_dict(item["status"]),
                dict(item["runtime"]),
                dict(item["accelerators"]),
                tuple(LaneEntry.from_dict(lane) for lane in item["lanes"]),
            )
            for node, item in sorted(document["items"].items())
        )
        return cls(
            generated_at=document["generated_at"],
            ttl_seconds=document["ttl_seconds"],
            backends=tuple(document["backends"]),
            items=items,
            inputs=document.get("inputs"),
            schema_version=document.get("schema_version", "1.0"),
            gangs=tuple(GangGroup.from_dict(g) for g in document.get("gangs", ())),
        )
