"""The summary as JSON: the document shape, validated text out, validated documents in.

Imports run one way: ``serialise`` reads ``load`` (the document kind) and the
``model`` (its records, for types); neither of them imports ``serialise``.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING, Any

from preflight_action import __version__, schemas
from preflight_action.summary.load import KIND

if TYPE_CHECKING:
    from preflight_action.summary.model import Summary

SCHEMA_NAME = "preflight_summary"
SCHEMA_VERSION = "1.2"  # 1.2: peers, gangs; a report row's status incomplete, verdict, unfinished; counts.not_judged
MAX_BYTES = 64 * 1024 * 1024  # a summary of 10,000 reports is a few MiB; a reader refuses anything absurd


def to_dict(summary: Summary) -> dict[str, Any]:
    """The summary document (schemas/preflight_summary.schema.json), not yet validated."""
    document: dict[str, Any] = {
        "schema_version": SCHEMA_VERSION,
        "kind": KIND,
        "tool": {"name": "preflight-action", "version": __version__},
        "generated_at": summary.generated_at,
        "status": summary.status,
        "highest_band": summary.highest_band,
        "blocking": summary.blocking,
        "freshness_hours": summary.freshness_hours,
        "counts": dict(summary.counts),
        "links": {"run_url": summary.run_url, "artifact_url": summary.artifact_url},
        "reports": [_row(row) for row in summary.rows],
        "top_failed_checks": [{**plain(f), "backends": list(f.backends)} for f in summary.top_failed],
        "by_backend": [{**plain(g), "checks": list(g.checks)} for g in summary.by_backend],
        "matrix": summary.matrix.summary_dict(),
        "invalid_inputs": [{"path": i.path, "reason": i.reason, "problems": list(i.problems)} for i in summary.invalid],
        "ignored_inputs": [{"path": i.path, "reason": i.reason} for i in summary.ignored],
    }
    if summary.inventories:
        document["inventories"] = summary.inventories
    if summary.matrix.gangs:
        document["gangs"] = [g.to_dict() for g in summary.matrix.gangs]
    if summary.delta is not None:
        document["delta"] = summary.delta.to_dict()
    if summary.trends is not None:
        document.update(summary.trends.to_dict())
    if summary.peers is not None:
        document["peers"] = summary.peers.to_dict()
    if summary.history_error is not None:
        document["history_error"] = summary.history_error
    return document


def _row(row: Any) -> dict[str, Any]:
    document = {**plain(row), "failed_checks": list(row.failed_checks), "failed_bands": list(row.failed_bands)}
    if document["inventory"] is None:
        del document["inventory"]
    return document


def plain(record: Any) -> dict[str, Any]:
    """A flat dataclass record as a dict of its fields (no deep copy: fields are JSON values or tuples)."""
    return {name: getattr(record, name) for name in record.__dataclass_fields__}


def dumps(summary: Summary) -> str:
    """The summary as validated JSON text: sorted keys, one record per line (fast to write, easy to diff)."""
    document = to_dict(summary)
    schemas.validate(document, SCHEMA_NAME, "summary JSON")
    return lines(document, 0) + "\n"


def lines(value: Any, level: int) -> str:
    """Objects indented by two spaces; a list of records as one compact record per line.

    ``json.dumps`` with ``indent`` uses the pure-Python encoder (slow for 10,000
    rows); each record here goes through the C encoder instead.
    """
    pad, inner = "  " * level, "  " * (level + 1)
    if isinstance(value, dict) and value:
        items = [f"{inner}{json.dumps(k, ensure_ascii=False)}: {lines(value[k], level + 1)}" for k in sorted(value)]
        return "{\n" + ",\n".join(items) + f"\n{pad}}}"
    if isinstance(value, list) and any(isinstance(v, (dict, list)) for v in value):
        records = [inner + json.dumps(v, ensure_ascii=False, sort_keys=True) for v in value]
        return "[\n" + ",\n".join(records) + f"\n{pad}]"
    return json.dumps(value, ensure_ascii=False, sort_keys=True)


def read(path: str | Path) -> dict[str, Any]:
    """Read and validate a summary JSON file."""
    result: dict[str, Any] = schemas.read_json(path, SCHEMA_NAME, MAX_BYTES)
    return result
