"""The runtime matrix snapshot as a compact text grid and as a static accessible HTML page."""

from __future__ import annotations

import re
from datetime import datetime
from typing import Any

from preflight_action.matrix import model as matrix
from preflight_action.matrix.peers import Peers, number
from preflight_action.matrix.snapshot import CODES, Snapshot
from preflight_action.vocab import DIFF_GROUP_TITLES

NO_DATA: dict[str, Any] = {"code": None, "severity": "none", "severity_label": "No data", "label": "No data", "detail": [], "aria_hint": ""}
ATTENTION_LINES = 10


def age(updated: str, now: str | datetime) -> str:
    """How old ``updated`` is at ``now`` (the snapshot's generation time, never the clock): '6 min ago'."""
    moment = now if isinstance(now, datetime) else matrix.parse_time(now)
    seconds = (moment - matrix.parse_time(updated)).total_seconds()
    if seconds < -60:
        return "in the future (clock skew)"
    if seconds < 60:
        return "just now"
    for unit, size in (("d", 86400), ("h", 3600), ("min", 60)):
        if seconds >= size:
            return f"{int(seconds // size)} {unit} ago"
    return "just now"


def headline(status: dict[str, Any]) -> tuple[str, str]:
    """(word, summary) of a status label 'Down - tensor.smoke failed': the word once, then what it is about."""
    word, _, summary = status["label"].partition(" - ")
    return word, summary


def legend() -> list[tuple[str, str]]:
    """(severity slug, the status words it colours), worst last: 'Ready / Skipped', ..., 'Down'."""
    words: dict[str, list[str]] = {}
    for code, (slug, _rank) in sorted(CODES.items(), key=lambda kv: kv[1][1]):
        words.setdefault(slug, []).append(matrix.CODE_WORD[code])
    return [(slug, " / ".join(sorted(set(names), key=names.index))) for slug, names in words.items()]


def cells(snapshot: dict[str, Any] | Snapshot) -> tuple[list[str], list[str], dict[tuple[str, str], dict[str, Any]]]:
    """The snapshot record's cells plus, per cell, whether every lane in it is simulated and a hint for empty cells."""
    record = snapshot if isinstance(snapshot, Snapshot) else Snapshot.from_dict(snapshot)
    occupied = {(c.node, c.backend): c for c in record.cells}
    nodes, backends = list(record.nodes), list(record.backends)
    out: dict[tuple[str, str], dict[str, Any]] = {}
    for node in nodes:
        for backend in backends:
            found = occupied.get((node, backend))
            if found is not None:
                cell = found.status.to_dict()
                cell["simulated"] = found.simulated
                cell["sources"] = list(found.sources)
                item = record.item(node)
                lanes = [ln for ln in item.lanes if ln.backend == backend] if item else []
                cell["updated"] = max((ln.updated for ln in lanes), default=None)
                cell["age"] = age(cell["updated"], record.generated_at) if cell["updated"] else None
            else:
                cell = {**NO_DATA, "aria_hint": f"Runtime status on {node}, {backend}: no report", "simulated": False, "sources": []}
                cell["updated"] = cell["age"] = None
            cell["word"] = matrix.CODE_WORD[cell["code"]] if cell["code"] else "No data"
            out[(node, backend)] = cell
    return nodes, backends, out


def text(snapshot: dict[str, Any], peers: Peers | None = None) -> str:
    """A compact grid (node x backend, worst source wins) with the active ttl, then the outliers among peers and what
    each device group's comparison says (too few peers, reports left out, a fleet split in two)."""
    nodes, backends, grid = cells(snapshot)
    lines = [
        f"runtime matrix: {len(nodes)} node{'s' if len(nodes) != 1 else ''} x {len(backends)} backend{'s' if len(backends) != 1 else ''}, "
        f"generated {snapshot['generated_at']}",
        f"ttl_seconds: {snapshot['ttl_seconds']} (lanes with no report newer than that show as Stale)",
    ]
    if not nodes:
        inputs = snapshot.get("inputs") or {}
        bad, ignored = len(inputs.get("invalid") or ()), len(inputs.get("ignored") or ())
        if bad or ignored:  # files were found: say what became of them, not that there were none
            said = [f"{bad} invalid (named on stderr)"] if bad else []
            said += [f"{ignored} not a preflight, smoke or sweep artifact"] if ignored else []
            lines.append(f"no node to show: the files read were {' and '.join(said)}")
        else:
            lines.append("no preflight, smoke or sweep artifacts found")
        return "\n".join(lines) + "\n"
    words = {key: cell["word"] + ("*" if cell["simulated"] else "") for key, cell in grid.items()}
    node_width = max(len("node"), *(len(n) for n in nodes))
    widths = [max(len(b), *(len(words[(n, b)]) for n in nodes)) for b in backends]
    lines.append("  ".join([f"{'node':<{node_width}}", *(f"{b:<{w}}" for b, w in zip(backends, widths, strict=False))]).rstrip())
    for node in nodes:
        lines.append(
            "  ".join([f"{node:<{node_width}}", *(f"{words[(node, b)]:<{w}}" for b, w in zip(backends, widths, strict=False))]).rstrip()
        )
    if any(cell["simulated"] for cell in grid.values()):
        lines.append("* simulated only: never counted as a real pass")
    attention = [(node, snapshot["items"][node]["status"]) for node in nodes if snapshot["items"][node]["status"]["code"] != "ok"]
    attention.sort(key=lambda item: (-CODES[item[1]["code"]][1], item[0]))
    for node, status in attention[:ATTENTION_LINES]:
        updated = snapshot["items"][node]["runtime"]["updated"]
        lines.append(f"{node}: {status['label']} (updated {updated}, {age(updated, snapshot['generated_at'])})")
    if len(attention) > ATTENTION_LINES:
        lines.append(f"... and {len(attention) - ATTENTION_LINES} more nodes need attention (--json for all)")
    for outlier in (peers.outliers if peers else ())[:ATTENTION_LINES]:
        lines.append(f"slower than its peers: {outlier.words}")
    if peers and len(peers.outliers) > ATTENTION_LINES:
        lines.append(
            f"... and {len(peers.outliers) - ATTENTION_LINES} more figures below their peers' (summarize --output-json lists them all)"
        )
    for group in [g for g in (peers.groups if peers else ()) if g.note][:ATTENTION_LINES]:
        lines.append(f"peers of {group.device_model} ({group.backend}, {group.level}): {group.note}")
    for gang in snapshot.get("gangs", ()):
        lines.append(
            f"gang {gang['id'] or gang['endpoint'] + ' (no gang id)'} ({gang['launcher']}, {gang['size']} members): {gang['words']}"
        )
    inputs = snapshot.get("inputs")
    if inputs:
        read = ", ".join(f"{v} {k}" for k, v in inputs["read"].items())
        lines.append(f"inputs: {read}; {len(inputs['ignored'])} ignored, {len(inputs['invalid'])} invalid")
    return "\n".join(lines) + "\n"


def html(snapshot: dict[str, Any], trends: Any = None, peers: Peers | None = None) -> str:
    """The static dashboard (templates/matrix.html.j2): every cell labelled, severity as colour and word.

    ``trends`` (``history.trends.Trends``, from ``--history``) adds its charts as inline SVG; ``peers``
    (``matrix.peers.compare``) the nodes slower than their peers.
    """
    from markupsafe import Markup

    from preflight_action import templating

    nodes, backends, grid = cells(snapshot)
    charts = []
    if trends is not None:
        from preflight_action.history import charts as history_charts

        # the SVG is built from escaped, reduced-alphabet text only (history.charts), so it is safe markup
        charts = [(series, Markup(history_charts.svg(series))) for series in trends.charts]  # noqa: S704
    env = templating.environment(html=True)
    rows = {
        node: {
            **dict(zip(("word", "summary"), headline(item["status"]), strict=True)),
            "age": age(item["runtime"]["updated"], snapshot["generated_at"]),
        }
        for node, item in snapshot["items"].items()
    }
    anchors, first_lane = _anchors(trends.changes if trends is not None else ())
    return env.get_template("matrix.html.j2").render(
        snapshot=snapshot,
        nodes=nodes,
        backends=backends,
        grid=grid,
        rows=rows,
        legend=legend(),
        trends=trends,
        charts=charts,
        peers=peers,
        number=number,
        anchors=anchors,
        first_lane=first_lane,
        group_titles=DIFF_GROUP_TITLES,
    )


def _anchors(changes: Any) -> tuple[dict[str, str], dict[str, int]]:
    """Per node with a change since its last good run: the id its row links to, and which lane section carries it."""
    anchors: dict[str, str] = {}
    first: dict[str, int] = {}
    for index, change in enumerate(changes):
        if change.node_id not in anchors:
            anchors[change.node_id] = f"changed-{len(anchors)}-{re.sub(r'[^A-Za-z0-9_-]', '-', change.node_id)[:60]}"
            first[change.node_id] = index
    return anchors, first
