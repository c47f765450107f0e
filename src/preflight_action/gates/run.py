"""Run a gate: the preflight in-process (or an existing report), its verdict, then the engine's adapter.

The preflight runs through ``preflight.run.run`` and the verdict is read from the returned ``Report``:
no stderr is parsed and no file's timestamp is compared. Every failure of the tool itself is
"not judged", never "blocking".
"""

from __future__ import annotations

import argparse
import os
import sys
from dataclasses import dataclass, replace
from pathlib import Path
from typing import TYPE_CHECKING

from preflight_action import cli_args
from preflight_action.errors import PreflightError
from preflight_action.gates import policy as gate_policy
from preflight_action.gates import verdict as gate_verdict
from preflight_action.gates.verdict import GateVerdict
from preflight_action.preflight import cli as preflight_cli
from preflight_action.vocab import EXIT_INTERRUPTED, GATE_LEVEL, GATES

if TYPE_CHECKING:
    from preflight_action.gates import slurm as slurm_gate

GATE_FLAGS = ("--gate", "--from-report", "--node", "--report-node", "--max-report-age", "--max-drained")

EPILOG = """\
verdicts (one line names which, worst finding first):
  healthy      every check the level requires ran to its end and nothing blocking failed   exit 0
  blocking     a failed check at or above the strict threshold (the node should not run    exit 1
               jobs); a check that hangs past the policy's hang_after_s is a failure
  not judged   the run could not judge the node: a check cut by the budget or never         exit 2
               reached, an interrupted run, a refused --from-report, a bad flag; the
               node is left as it is (never drained for the tool's own fault)
  tool broken  this tool itself could not run (a missing dependency, a broken install,      exit 3
               an internal error): never a verdict on the node
  breaker      slurm only: blocking, but the drain circuit breaker is open (--max-drained   exit 4
               nodes of this node's partitions already drained by preflight): NOT drained
  130          interrupted by SIGINT/SIGTERM before a verdict: nothing applied

each engine's contract:
  slurm          healthy: resume the node if preflight drained it; blocking: drain it with a
                 "preflight: <check> <band>: <error>" reason (never over someone else's reason);
                 not judged / tool broken / breaker open: the node is left as it is. Every line
                 goes to stderr; deploy/slurm's scripts send it to syslog and their log file.
                 scontrol and sinfo: $SLURM_BIN_DIR, else PATH, else /bin:/usr/bin.
  npd            exit 0 OK, 1 NonOK (the condition turns True with the line as its message),
                 anything else Unknown (the condition is left as it was)
  github-runner  0 the job runs, 1 it fails before its first step; deploy/github-runner's hook
                 turns every other code into a warning and lets the job run
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
    gate.add_argument(
        "--report-node",
        default=None,
        metavar="NAME",
        help="--from-report: the node the report must come from (default: this node: the slurm gate's --node, else "
        "$PREFLIGHT_NODE_ID, $RUNNER_NAME or the hostname); a report from another node is not judged",
    )
    gate.add_argument(
        "--max-report-age",
        type=cli_args.positive_seconds,
        default=None,
        metavar="SECONDS",
        help="--from-report: refuse (not judged) a report that finished longer ago than this (default: the gates "
        "policy's from_report.max_age_s, below)",
    )
    gate.add_argument(
        "--max-drained",
        type=gate_policy.drain_limit_type,
        default=None,
        metavar="N|P%",
        help="slurm: the drain circuit breaker: with N nodes (or P%% of this node's partitions, rounded up) already "
        "drained by preflight, drain no more: log the finding and exit 4 (default: the gates policy's slurm.max_drained, below)",
    )
    _with_policy_in_help(parser)
    return parser


def _with_policy_in_help(parser: argparse.ArgumentParser) -> None:
    """--help ends with the gates policy's numbers, read only when help is asked for."""
    shown = parser.format_help

    def format_help() -> str:
        try:
            policy = gate_policy.load()
            text = (
                f"gates policy ({policy.source}; $PREFLIGHT_GATES_POLICY replaces it):\n"
                f"  --from-report refuses a report older than {gate_policy.duration(policy.max_report_age_s)} "
                f"(from_report.max_age_s {policy.max_report_age_s:g}) or {policy.future_skew_s:g} s in the future\n"
                f"  --gate slurm drains no more with {policy.max_drained} already drained (slurm.max_drained)\n"
            )
        except PreflightError as error:
            text = f"gates policy: cannot be read ({error})\n"
        return shown() + "\n" + text

    parser.format_help = format_help  # type: ignore[method-assign]


@dataclass(frozen=True)
class Judged:
    verdict: GateVerdict
    report_path: str | None
    interrupted_by: str | None = None
    prom_path: str | None = None  # the textfile is written after the adapter, which adds its own state (the breaker)


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
    try:
        if args.max_drained is not None and args.gate != "slurm":
            return Judged(gate_verdict.could_not_run(f"--max-drained applies to --gate slurm only, not --gate {args.gate}"), None)
        if args.from_report:
            return _from_report(args, argv)
        for flag, value in (("--report-node", args.report_node), ("--max-report-age", args.max_report_age)):
            if value is not None:
                return Judged(gate_verdict.could_not_run(f"{flag} applies to --from-report only"), None)
        return _run(args, prog)
    except PreflightError as error:
        return Judged(gate_verdict.could_not_run(str(error)), None)
    except ModuleNotFoundError:  # a dependency of this tool: the entry point says which and how to install it (exit 3)
        raise
    except Exception as exc:  # our own bug must never drain or fail a node
        return Judged(gate_verdict.could_not_run(f"internal error: {type(exc).__name__}: {exc}"), None)


def _from_report(args: argparse.Namespace, argv: list[str]) -> Judged:
    """Judge an existing report, only when it is this node's (or --report-node's), recent, and valid."""
    from datetime import datetime, timezone

    from preflight_action.gates import from_report
    from preflight_action.preflight import report as report_module

    given = _preflight_flags_given(argv)
    if given:
        return Judged(gate_verdict.could_not_run(f"--from-report judges an existing report; {' '.join(given)} need a run"), None)
    report = report_module.read(args.from_report)  # schema and version: an InputError is one line, not judged
    policy = gate_policy.load()
    gate_node = args.node or (_slurm_node() if args.gate == "slurm" else None)
    refused = from_report.refusal(
        report,
        args.from_report,
        args.report_node or from_report.this_node(gate_node),
        args.max_report_age if args.max_report_age is not None else policy.max_report_age_s,
        policy.future_skew_s,
        datetime.now(timezone.utc),
        "--max-report-age" if args.max_report_age is not None else f"{Path(policy.source).name} from_report.max_age_s",
    )
    if refused:
        return Judged(gate_verdict.could_not_run(refused), None)
    return Judged(gate_verdict.from_report(report), args.from_report)


def _slurm_node() -> str:
    from preflight_action.gates import slurm

    return slurm.node_name()


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
        # an output that fails is one line; the verdict stands. The textfile waits for the adapter's state.
        outputs.write_all(report, replace(line.outputs, prom=None), prog)
    if not line.quiet:
        from preflight_action.preflight import terminal

        terminal.show(report, 0, terminal.console(stderr=True), verbose=line.verbose)  # the gate's stdout is the engine's (NPD's message)
    return Judged(gate_verdict.from_report(report), line.outputs.report, report.interrupted_by, line.outputs.prom)


def apply(args: argparse.Namespace, verdict: GateVerdict, report_path: str | None, prom_path: str | None = None) -> int:
    """Hand the verdict to the engine's adapter, then write the textfile with what it found; returns the gate's exit code."""
    if args.gate == "slurm":
        from preflight_action.gates import slurm

        given = getattr(args, "max_drained", None)  # absent when argparse refused the flags (then nothing is drained)
        limit = given if given is not None else gate_policy.load().max_drained
        outcome = slurm.apply(verdict, args.node or slurm.node_name(), limit)
        _write_prom(verdict, prom_path, outcome.breaker)
        return outcome.code
    _write_prom(verdict, prom_path, None)
    if args.gate == "npd":
        from preflight_action.gates import npd

        return npd.apply(verdict)
    from preflight_action.gates import github_runner

    node = args.node or os.environ.get("RUNNER_NAME") or verdict_node(verdict)
    return github_runner.apply(verdict, node, report_path)


def _write_prom(verdict: GateVerdict, path: str | None, breaker: slurm_gate.Breaker | None) -> None:
    """--output-prom after the adapter: the report's figures and verdict, and the Slurm drain breaker's state."""
    if not path or verdict.report is None:
        return
    from preflight_action.exports import prometheus

    state = prometheus.DrainBreaker(breaker.open, len(breaker.drained), breaker.limit) if breaker is not None else None
    report = verdict.report
    cli_args.write_outputs("preflight-gate", [("--output-prom", path, lambda: prometheus.write(report, path, breaker=state))])


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
    if judged.verdict.code == gate_verdict.NOT_JUDGED or args.gate == "slurm":  # slurm's only output is stderr (its scripts log it)
        print(judged.verdict.line, file=sys.stderr, flush=True)
    try:
        return apply(args, judged.verdict, judged.report_path, judged.prom_path)
    except Exception as exc:
        print(f"preflight gate: not judged: internal error in the {args.gate} adapter: {type(exc).__name__}: {exc}", file=sys.stderr)
        return gate_verdict.NOT_JUDGED
