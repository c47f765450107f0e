"""Run a gate: the preflight (or an existing report), then the engine adapter; every internal error is "could not run".

``gate_main`` takes the preflight's own ``main`` and ``parse_args`` as arguments,
so neither the preflight CLI nor this module imports the other at load time.
"""

from __future__ import annotations

import argparse
import contextlib
import io
import os
import sys
from collections.abc import Callable
from pathlib import Path
from typing import TextIO

from preflight_action.gates import verdict as gate_verdict
from preflight_action.gates.verdict import COULD_NOT_RUN, GateVerdict

GATES = ("slurm", "npd", "github-runner")
DEFAULT_LEVEL = "quick"

RunPreflight = Callable[[list[str]], int]
ParsePreflight = Callable[[list[str]], argparse.Namespace]


def gate_parser(prog: str) -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog=prog,
        description="Run the preflight (quick level by default) and answer a scheduler's or runner's gate contract. "
        "Every other flag goes to the preflight (see runtime-preflight --help).",
        epilog="exit codes: 0 pass (warnings included), 1 a blocking finding, 2 could not run (the node is left as it is)",
    )
    parser.add_argument("--gate", required=True, choices=GATES, help="which engine's contract to answer")
    parser.add_argument("--from-report", default=None, metavar="PATH", help="judge this existing report instead of running the preflight")
    parser.add_argument("--node", default=None, help="slurm: the node to drain/resume (default: $SLURMD_NODENAME, else the short hostname)")
    return parser


def _with_default_level(argv: list[str], parse_preflight: ParsePreflight) -> list[str]:
    if any(arg == "--level" or arg.startswith("--level=") for arg in argv):
        return argv
    # Levels arrive with the preflight's --level flag; pass it only once that flag exists.
    if hasattr(parse_preflight([]), "level"):
        return ["--level", DEFAULT_LEVEL, *argv]
    return argv


class _ErrorLines(io.TextIOBase):
    """Passes everything to ``stream`` and keeps the preflight's last ``error:`` line for the gate's verdict."""

    MARK = "runtime_preflight: error: "

    def __init__(self, stream: TextIO) -> None:
        self.stream = stream
        self.last: str | None = None

    def write(self, text: str) -> int:
        for line in text.splitlines():
            if line.startswith(self.MARK):
                self.last = line[len(self.MARK) :]
        return self.stream.write(text)

    def flush(self) -> None:
        self.stream.flush()

    def isatty(self) -> bool:
        return self.stream.isatty()


def _run_preflight(argv: list[str], run_preflight: RunPreflight, parse_preflight: ParsePreflight) -> tuple[GateVerdict, str | None]:
    from preflight_action.preflight import report as report_module

    argv = _with_default_level(argv, parse_preflight)
    output = Path(parse_preflight(argv).output_path)
    before = output.stat().st_mtime_ns if output.exists() else None
    # The gate's stdout is the engine's (NPD reads it as the condition message): the table goes to stderr.
    errors = _ErrorLines(sys.stderr)
    with contextlib.redirect_stdout(sys.stderr), contextlib.redirect_stderr(errors):
        code = run_preflight(argv)
    if code not in (0, 1, 2):  # 130: interrupted, the report is partial
        return gate_verdict.could_not_run(f"the preflight exited {code} before finishing"), None
    if not output.exists() or output.stat().st_mtime_ns == before:
        return gate_verdict.could_not_run(errors.last or f"the preflight exited {code} and wrote no report at {output}"), None
    # Exit 2 with a fresh report: an extra output (Markdown, JUnit, textfile) failed; the verdict stands.
    return gate_verdict.from_report(report_module.read(output)), str(output)


def _verdict(
    args: argparse.Namespace, rest: list[str], run_preflight: RunPreflight, parse_preflight: ParsePreflight
) -> tuple[GateVerdict, str | None]:
    from preflight_action.errors import PreflightError
    from preflight_action.preflight import report as report_module

    try:
        if args.from_report:
            if rest:
                return gate_verdict.could_not_run(
                    f"--from-report judges an existing report; preflight flags {' '.join(rest)} need a run"
                ), None
            return gate_verdict.from_report(report_module.read(args.from_report)), args.from_report
        return _run_preflight(rest, run_preflight, parse_preflight)
    except PreflightError as error:
        return gate_verdict.could_not_run(str(error)), None
    except SystemExit as stop:  # argparse inside the preflight: the message is already on stderr
        return gate_verdict.could_not_run(f"the preflight's flags were rejected (exit {stop.code})"), None
    except Exception as exc:  # our own bug must never drain or fail a node
        return gate_verdict.could_not_run(f"internal error: {type(exc).__name__}: {exc}"), None


def _apply(args: argparse.Namespace, verdict: GateVerdict, report_path: str | None) -> int:
    if args.gate == "slurm":
        from preflight_action.gates import slurm

        return slurm.apply(verdict, args.node or slurm.node_name())
    if args.gate == "npd":
        from preflight_action.gates import npd

        return npd.apply(verdict)
    from preflight_action.gates import github_runner

    node = args.node or os.environ.get("RUNNER_NAME") or verdict_node(verdict)
    return github_runner.apply(verdict, node, report_path)


def verdict_node(verdict: GateVerdict) -> str:
    from preflight_action.host import node_id

    if verdict.report is not None:
        return str(verdict.report.host.get("node_id") or node_id())
    return node_id()


def gate_main(argv: list[str], run_preflight: RunPreflight, parse_preflight: ParsePreflight, prog: str = "preflight-gate") -> int:
    args, rest = gate_parser(prog).parse_known_args(argv)
    verdict, report_path = _verdict(args, rest, run_preflight, parse_preflight)
    if verdict.code == COULD_NOT_RUN:
        print(verdict.line, file=sys.stderr)
    try:
        return _apply(args, verdict, report_path)
    except Exception as exc:
        print(f"preflight gate: could not run: internal error in the {args.gate} adapter: {type(exc).__name__}: {exc}", file=sys.stderr)
        return COULD_NOT_RUN
