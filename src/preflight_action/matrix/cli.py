"""``runtime_matrix status``: one snapshot from the preflight, smoke and sweep artifacts of many nodes.

Exit codes: 0 the snapshot was built from every input; 2 bad usage, no file
matching the globs, an output that cannot be written, or some input was malformed
or failed its schema (each named on one line; the snapshot of the other inputs is
still printed and written).
"""

from __future__ import annotations

import argparse
import glob
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from preflight_action import __version__, cli_args, schemas
from preflight_action.errors import InputError, PreflightError, UsageError
from preflight_action.matrix import model as matrix

PROG = "preflight-matrix"
DEFAULT_GLOBS = (
    "outputs/runtime_preflight/*.json",
    "outputs/smoke/run.*/smoke_run.json",
    "outputs/sweeps/*/summary.json",
)
SNAPSHOT_SCHEMA = "runtime_matrix"
STATUS_DESCRIPTION = """\
Build one snapshot from the preflight, smoke and sweep artifacts of many nodes
and print it (a compact grid, or --json).

exit codes:
  0  the snapshot was built from every input
  2  bad usage, no file matches the globs, an output cannot be written or is
     one of the inputs, or an
     input is malformed or fails its schema (each named on one line; the
     snapshot of the other inputs is still printed and written)
"""


@dataclass
class Inputs:
    lanes: list[matrix.Lane] = field(default_factory=list)
    reports: list[tuple[Any, str]] = field(default_factory=list)  # (preflight Report, path): the peers' comparison reads them
    read: dict[str, int] = field(default_factory=lambda: {"preflight": 0, "smoke": 0, "sweep": 0})
    ignored: list[str] = field(default_factory=list)
    invalid: list[dict[str, str]] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)  # inputs read with their unsafe characters shown as escapes

    def summary(self) -> dict[str, Any]:
        return {"read": dict(self.read), "ignored": list(self.ignored), "invalid": list(self.invalid)}


def kind_of(document: Any) -> str | None:
    """preflight | smoke | sweep | None, from the document's shape (validated afterwards)."""
    if not isinstance(document, dict):
        return None
    if document.get("kind") == "smoke_run":
        return "smoke"
    if "checks" in document or "triage" in document:  # either: a report missing the other fails its schema, by name
        return "preflight"
    if "points" in document and "flow" in document and "counts" in document:  # plan.json has no counts
        return "sweep"
    return None


def expand(patterns: list[str]) -> list[Path]:
    """Files matching any pattern, once each, sorted (directories that match are skipped when read)."""
    found = {p for pattern in patterns for p in glob.glob(pattern, recursive=True)}
    return [Path(p) for p in sorted(found)]


def load(paths: list[Path], local_node: str) -> Inputs:
    """Every readable artifact as lanes; a bad one is recorded (file + JSON pointer) and skipped."""
    from preflight_action import documents
    from preflight_action.preflight.report import Report

    inputs = Inputs()
    for path in paths:
        if path.is_dir():
            continue
        try:
            parsed = documents.read(path)
            document = parsed.value
            if not isinstance(document, dict):  # no artifact is null, a list, a string or a number: as summarize says
                raise InputError(f"{path}: /: {type(document).__name__ if document is not None else 'null'}, not a JSON object")
            kind = kind_of(document)
            if kind is None:
                inputs.ignored.append(str(path))
                continue
            if kind == "preflight":
                schemas.validate(document, "preflight_report", str(path))
                report = Report.from_dict(document)
                lane = matrix.lane_from_report(report, str(path))
                inputs.reports.append((report, str(path)))
            elif kind == "smoke":
                schemas.validate(document, "smoke_run", str(path))
                lane = matrix.lane_from_smoke(document, str(path))
            else:
                schemas.validate(document, "sweep_summary", str(path))
                lane = matrix.lane_from_sweep(document, str(path), local_node, _sweep_backend(path.parent / "sysinfo.json"))
            _refuse_future(lane, path, kind)
        except InputError as error:
            inputs.invalid.append({"path": str(path), "error": str(error)})
            continue
        if parsed.note:
            inputs.notes.append(parsed.note)
        inputs.lanes.append(lane)
        inputs.read[kind] += 1
    return inputs


def _refuse_future(lane: matrix.Lane, path: Path, kind: str) -> None:
    """A lane finished beyond the gates' clock-skew allowance in the future would show Ready and never go stale."""
    from preflight_action.host import from_the_future

    why = from_the_future(lane.updated, "/finished_at" if kind in ("preflight", "smoke") else "/finished_utc", str(path))
    if why:
        raise InputError(why)


def _sweep_backend(sysinfo: Path) -> str | None:
    from preflight_action import documents

    if not sysinfo.is_file():
        return None
    try:
        document = documents.read(sysinfo).value
    except InputError:
        return None
    backend = document.get("backend") if isinstance(document, dict) else None
    return str(backend) if backend else "cpu"


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = cli_args.Parser(
        prog=cli_args.prog(PROG),
        description="The runtime matrix read model: node x backend status from preflight, smoke and sweep artifacts.",
    )
    parser.add_argument("--version", action="version", version=f"preflight-matrix {__version__}")
    commands = parser.add_subparsers(dest="command", required=True)
    status = commands.add_parser(
        "status",
        help="build the snapshot and print it (compact grid, or --json)",
        description=STATUS_DESCRIPTION,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    status.add_argument("--json", action="store_true", help="print the snapshot as JSON (schemas/runtime_matrix.schema.json)")
    status.add_argument(
        "--ttl-seconds",
        type=cli_args.bounded_int(1, int(cli_args.MAX_SECONDS), what="a whole number of seconds"),
        default=matrix.DEFAULT_TTL_SECONDS,
        help=f"lanes older than this show as stale (default: {matrix.DEFAULT_TTL_SECONDS})",
    )
    status.add_argument(
        "--html", type=cli_args.output_file, default=None, metavar="PATH", help="also write the static accessible dashboard here"
    )
    status.add_argument(
        "--history", default=None, metavar="PATH", help="add trend charts of this run history (summarize --history) to the --html dashboard"
    )
    status.add_argument("--output-json", type=cli_args.output_file, default=None, metavar="PATH", help="also write the snapshot JSON here")
    status.add_argument(
        "--input-glob",
        action="append",
        default=None,
        metavar="GLOB",
        help="artifacts to read (repeatable; default: " + ", ".join(DEFAULT_GLOBS) + ")",
    )
    status.add_argument(
        "--node-id",
        default=None,
        help="node id for sweep summaries, which carry none (default: PREFLIGHT_NODE_ID, RUNNER_NAME or the hostname)",
    )
    return parser.parse_args(argv)


def refuse_overwriting_inputs(outputs: list[tuple[str, str | None]], paths: list[Path], patterns: list[str]) -> None:
    """A ``UsageError`` when an output is one of the artifacts the globs match (a report, a smoke record, a sweep summary):
    it would be read, then overwritten. An earlier snapshot or dashboard there is ours to replace (it is not read)."""
    import os

    targets: dict[tuple[int, int], tuple[str, str]] = {}
    for flag, output in outputs:
        try:
            info = os.stat(output) if output and not cli_args.is_stream(output) else None
        except (OSError, ValueError):
            info = None  # not there yet: no glob matches it
        if info is not None and output:
            targets[(info.st_dev, info.st_ino)] = (flag, output)
    if not targets:
        return
    from preflight_action import documents

    for path in paths:
        try:
            info = os.stat(path)
        except OSError:
            continue
        hit = targets.get((info.st_dev, info.st_ino))
        if hit is None or path.is_dir():
            continue
        try:
            ours = kind_of(documents.read(path).value) is None
        except InputError:
            ours = hit[0] == "--html"  # an earlier dashboard is not JSON
        if not ours:
            flag, output = hit
            raise UsageError(
                f"{flag} {output} is the same file as {path}, which --input-glob {' '.join(patterns)} matches: it would be overwritten"
            )


def build(
    patterns: list[str], ttl_seconds: int, local_node: str, outputs: list[tuple[str, str | None]] | None = None
) -> tuple[dict[str, Any], Inputs]:
    """Read the artifacts and build the schema-checked snapshot (refused first when an output is one of them)."""
    paths = expand(patterns)
    refuse_overwriting_inputs(outputs or [], paths, patterns)
    if not any(path.is_file() for path in paths):
        raise UsageError(f"--input-glob {' '.join(patterns)}: no file matches (did the artifacts download?)")
    inputs = load(paths, local_node)
    snapshot = matrix.build_snapshot(inputs.lanes, ttl_seconds=ttl_seconds, inputs=inputs.summary())
    schemas.validate(snapshot, SNAPSHOT_SCHEMA, "runtime matrix snapshot")
    return snapshot, inputs


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    prog = cli_args.prog(PROG)
    if args.history and not args.html:
        print(f"{prog}: {cli_args.unused('--history', '--html PATH (its trend charts go into the dashboard)')}", file=sys.stderr)
    try:
        from preflight_action.host import node_id

        outputs = [("--output-json", args.output_json), ("--html", args.html)]
        cli_args.refuse_outputs_over_inputs(outputs, [("--history", args.history)])
        cli_args.refuse_outputs_over_inputs([("--html", args.html)], [("--output-json", args.output_json)])
        snapshot, inputs = build(args.input_glob or list(DEFAULT_GLOBS), args.ttl_seconds, args.node_id or node_id(), outputs)
        from preflight_action import atomic
        from preflight_action.matrix import view as matrix_view

        written: list[tuple[str, str, Any]] = []  # one failing anyway is one line and exit 2; the others are written
        if args.output_json:
            written.append(("--output-json", args.output_json, lambda: atomic.write_json(args.output_json, snapshot)))
        trends = None
        if args.history:
            from preflight_action.history import policy as history_policy
            from preflight_action.history import update as history

            trends = history.latest(args.history, history_policy.load())
        from preflight_action.matrix import peers as fleet_peers

        peers = fleet_peers.compare(
            inputs.reports, fleet_peers.load(), max_age_hours=args.ttl_seconds / 3600
        )  # stale lanes' reports: no part
        if args.html:
            written.append(("--html", args.html, lambda: atomic.write_text(args.html, matrix_view.html(snapshot, trends, peers))))
        unwritten = cli_args.write_outputs(prog, written)
        print(atomic.dumps(snapshot) if args.json else matrix_view.text(snapshot, peers), end="")
    except PreflightError as error:
        print(f"{prog}: error: {error}", file=sys.stderr)
        return error.exit_code
    for bad in inputs.invalid:
        print(f"{prog}: error: {bad['error']}", file=sys.stderr)
    for note in inputs.notes:
        print(f"{prog}: warning: {note}", file=sys.stderr)
    return 2 if inputs.invalid or unwritten else 0


if __name__ == "__main__":
    raise SystemExit(main())
