"""``--from-report``: a gate judges an existing report only when it speaks for this node, now.

The schema is checked when the report is read (``report.read``); completeness is the report's own verdict
(an interrupted or budget-cut report is "not judged"). What only the gate can check is here: whose report
it is and how old. Each refusal is one line, and the gate's verdict is "not judged".
"""

from __future__ import annotations

from datetime import datetime
from pathlib import Path

from preflight_action.gates.policy import duration
from preflight_action.preflight.report import Report


def _short(name: str | None) -> str:
    return (name or "").strip().split(".")[0].lower()


def this_node(gate_node: str | None = None) -> str:
    """The node a gate speaks for: its ``--node`` (Slurm), else $PREFLIGHT_NODE_ID / the runner's name / the hostname."""
    from preflight_action.host import node_id

    return gate_node or node_id()


def _finished(report: Report) -> datetime | None:
    from preflight_action.host import parse_utc

    return parse_utc(report.finished_at)


def refusal(report: Report, path: str, node: str, max_age_s: float, future_skew_s: float, now: datetime, limit_source: str) -> str | None:
    """Why the gate must not judge ``report`` for ``node`` at ``now`` (one line), or None when it may."""
    name = Path(path).name  # the line must fit NPD's message: the file's name, not its directory
    names = {_short(report.host.node_id), _short(report.host.hostname)} - {""}
    wanted = _short(node)
    if wanted not in names:
        shown = report.host.node_id or report.host.hostname or "an unnamed node"
        return f"--from-report {name} is from node {shown}, not {node} (--report-node {shown} judges it anyway)"
    finished = _finished(report)
    if finished is None:
        return f"--from-report {name}: finished_at {report.finished_at!r} is not a time"
    age = (now - finished).total_seconds()
    if age < -future_skew_s:
        return f"--from-report {name} finished {duration(-age)} in the future: the clock here or on the reporting node is wrong"
    if age > max_age_s:
        return f"--from-report {name} finished {duration(age)} ago, older than the {duration(max_age_s)} accepted ({limit_source})"
    return None
