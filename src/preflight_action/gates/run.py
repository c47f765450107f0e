"""Run a gate: the preflight in-process (or an existing report), its verdict, then the engine's adapter.

The preflight runs through ``preflight.run.run`` and the verdict is read from the returned ``Report``:
no stderr is parsed and no file's timestamp is compared. Every failure of the tool itself is
"not judged", never "blocking".
"""

from __future__ import annotations

import argparse
import os
import sys
from dataclasses import dataclass

from preflight_action.gates import verdict as gate_verdict
from preflight_action.gates.verdict import GateVerdict
from preflight_action.preflight import cli as preflight_cli
from preflight_action.vocab import EXIT_INTERRUPTED, GATE_LEVEL, GATES

GATE_FLAGS = ("--gate", "--from-report", "--node")

EPILOG = """\
verdicts (one line names which, worst finding first):
  healthy      every check the level requires ran to its end and nothing blocking failed   exit 0
  blocking     a failed check at or above the strict threshold (the node should not run    exit 1
               jobs); a check that hangs past the policy's hang_after_s is a failure
  not judged   the run could not judge the node: a check cut by the budget or never         exit 2
               reached, an interrupted run, a bad flag, or this tool's own failure; the
               node is left as it is (never drained for the tool's own fault)
  130          interrupted by SIGINT/SIGTERM before a verdict: nothing applied
"""


def gate_parser(prog: str) -> argparse.ArgumentParser:
    """The preflight's flags plus the gate's own."""
    parser = preflight_cli.parser(
        prog,
        description="Run the preflight (quick level by default) and answer a scheduler's or runner's gate contract.",
        epilog=EPILOG + "\n" + preflight_cli.EPILOG.split("\n\n", 1)[-1],
    )
    gate = parser.add_argument_group("gate")
    gate.add_argument("--gate", required=True, choices=GATES, help="which engine's contract to answer")
    gate.add_argument("--from-report", default=None, metavar="PATH", help="judge this existing report instead of running the preflight")
    gate.add_argument("--node", default=None, help="slurm: the node to drain/resume (default: $SLURMD_NODENAME, else the short hostname)")
    return parser


@dataclass(frozen=True)
class Judged:
    verdict: GateVerdict
    report_path: str | None
    interrupted_by: str | None = None


class _Refused(Exception):
    """argparse refused the flags: its message is already on stderr."""


def _parse(argv: list[str], prog: str) -> argparse.Namespace:
    parser = gate_parser(prog)

    def refuse(message: str) -> None:
        print(f"{prog}: error: {message}", file=sys.stderr)  # one line, no usage dump (--help has it)
        raise _Refused(message)

    parser.error = refuse  # type: ignore[method-assign,assignment]
    return parser.parse_args(argv)


def _preflight_flags_given(argv: list[str]) -> list[str]:
    """The preflight flags among ``argv`` (a --from-report judges a report: they would change nothing)."""
    flags = [arg.partition("=")[0] for arg in argv if arg.startswith("--")]
    return [flag for flag in flags if flag not in GATE_FLAGS]


def judge(args: argparse.Namespace, argv: list[str], prog: str) -> Judged:
    """The gate's verdict: from ``--from-report``, else from a preflight run in this process."""
    from preflight_action.errors import PreflightError

    try:
        if args.from_report:
            given = _preflight_flags_given(argv)
            if given:
                return Judged(gate_verdict.could_not_run(f"--from-report judges an existing report; {' '.join(given)} need a run"), None)
            from preflight_action.preflight import report as report_module

            return Judged(gate_verdict.from_report(report_module.read(args.from_report)), args.from_report)
        return _run(args, prog)
    except PreflightError as error:
        return Judged(gate_verdict.could_not_run(str(error)), None)
    except ModuleNotFoundError:  # a dependency of this tool: the entry point says which and how to install it (exit 3)
        raise
    except Exception as exc:  # our own bug must never drain or fail a node
        return Judged(gate_verdict.could_not_run(f"internal error: {type(exc).__name__}: {exc}"), None)


def _run(args: argparse.Namespace, prog: str) -> Judged:
    from preflight_action import outputs
    from preflight_action.preflight.run import run
    from preflight_action.process.interrupts import Interrupted

    line = preflight_cli.command_line(args, default_level=GATE_LEVEL)
    with Interrupted() as guard:
        if line.quiet:
            report = run(line.options, interrupts=guard)
        else:
            from preflight_action.preflight import terminal

            with terminal.live_progress() as (progress, starting):
                report = run(line.options, progress=progress, starting=starting, interrupts=guard)
        outputs.write_all(report, line.outputs, prog)  # an output that fails is one line; the verdict stands
    if not line.quiet:
        from preflight_action.preflight import terminal

        terminal.show(report, 0, terminal.console(stderr=True), verbose=line.verbose)  # the gate's stdout is the engine's (NPD's message)
    return Judged(gate_verdict.from_report(report), line.outputs.report, report.interrupted_by)


def apply(args: argparse.Namespace, verdict: GateVerdict, report_path: str | None) -> int:
    """Hand the verdict to the engine's adapter; returns the gate's exit code."""
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

    return verdict.report.host.node_id if verdict.report is not None else node_id()


def gate_main(argv: list[str], prog: str = "preflight-gate") -> int:
    """Parse, judge, apply: the one flow of every gate."""
    try:
        args = _parse(argv, prog)
    except _Refused as refused:
        verdict = gate_verdict.could_not_run(f"the flags were refused: {refused}")
        fallback = _fallback_args(argv)
        if fallback is None:
            return gate_verdict.NOT_JUDGED
        return _apply_safely(fallback, Judged(verdict, None))
    judged = judge(args, argv, prog)
    if judged.interrupted_by:
        print(f"{prog}: interrupted by {judged.interrupted_by}: no verdict applied, the node was left as it is", file=sys.stderr)
        return EXIT_INTERRUPTED
    return _apply_safely(args, judged)


def _fallback_args(argv: list[str]) -> argparse.Namespace | None:
    """The gate and node from flags argparse refused as a whole, so the engine still hears "not judged"."""
    parser = argparse.ArgumentParser(add_help=False, exit_on_error=False)
    parser.add_argument("--gate", choices=GATES)
    parser.add_argument("--node")
    try:
        known, _ = parser.parse_known_args(argv)
    except argparse.ArgumentError:
        return None
    return known if known.gate else None


def _apply_safely(args: argparse.Namespace, judged: Judged) -> int:
    if judged.verdict.code == gate_verdict.NOT_JUDGED:
        print(judged.verdict.line, file=sys.stderr)
    try:
        return apply(args, judged.verdict, judged.report_path)
    except Exception as exc:
        print(f"preflight gate: not judged: internal error in the {args.gate} adapter: {type(exc).__name__}: {exc}", file=sys.stderr)
        return gate_verdict.NOT_JUDGED
