"""``preflight-gang``: parse -> run (the quick level plus ``gang.allreduce``) -> write -> show -> exit with the verdict.

Started once per node by a launcher the team already has (torchrun's flags, ``srun``, a Kubernetes Indexed
Job); each member writes its own normal preflight report, whose ``gang`` names the gang, its members and
its figure. Exit codes: 0 healthy, 1 blocking, 2 not judged (a member never joined or stopped answering,
the budget cut a check, or bad usage), 3 the tool itself could not run, 130 interrupted.
"""

from __future__ import annotations

import argparse
import os
import sys
from dataclasses import replace
from typing import TYPE_CHECKING

from preflight_action import cli_args
from preflight_action.errors import PreflightError
from preflight_action.gang import launchers
from preflight_action.preflight import cli as preflight_cli
from preflight_action.preflight.gang_record import CHECK_ID
from preflight_action.preflight.options import DEFAULT_CHECK_TIMEOUT_S
from preflight_action.vocab import EXIT_BLOCKING, EXIT_NOT_JUDGED, EXIT_OK, GATE_LEVEL, VERDICT_WORDS, Verdict

if TYPE_CHECKING:
    from preflight_action.preflight.report import Report
    from preflight_action.process.interrupts import Interrupted

PROG = "preflight-gang"
EXIT_FOR: dict[Verdict, int] = {"healthy": EXIT_OK, "blocking": EXIT_BLOCKING, "not_judged": EXIT_NOT_JUDGED}

EPILOG = """\
how members find each other (each flag wins over what the launcher says):
  torchrun's flags   --rdzv-endpoint HOST:PORT --nnodes N [--node-rank R] [--rdzv-id ID]: a member on HOST
                     serves the c10d store, the others connect; without --node-rank ranks go by arrival
  srun               one task per member: node rank SLURM_PROCID, the step's tasks, gang id slurm-JOB.STEP,
                     endpoint the step's first node on SLURM_STEP_RESV_PORTS (else 29400 + job id mod 1000)
  Indexed Job/JobSet node rank JOB_COMPLETION_INDEX, endpoint the pod of index 0 (<job>-0.<subdomain>:29400);
                     pass --nnodes (the Job's completions)

nothing waits without a bound: the rendezvous waits at most the join timeout (policy
gang.join_timeout_s, or --rdzv-conf join_timeout=SECONDS), counted from the ranks' start; every
step after it (process-group init, the exact collectives, each timed size, the link ring) at most
the collective timeout (--collective-timeout), after which a rank still in it is killed as hung.
A member that never joins is named by the others when their join timeout ends.

verdicts and exit codes (the report's verdict, one line on stderr says which):
  0    healthy: the gang formed, every collective was exact, this member's links are not the slow ones
  1    blocking: this member's own ranks got wrong results, died or hung, or it is the gang's slow member
  2    not judged: another member never joined, stopped answering or got wrong results (it is named),
       or a flag was refused
  3    this tool could not run; 130 interrupted
"""


def parser() -> argparse.ArgumentParser:
    """The preflight's flags (quick level by default) plus the gang's, named as torchrun names them."""
    made = preflight_cli.parser(
        PROG,
        description="Join a gang of nodes and run one all-reduce across them (one rank per local device: gloo on the CPU, "
        "NCCL on GPUs): exact results, the gang's bus bandwidth, each member's links. Writes this member's report.",
        epilog=EPILOG,
    )
    made.set_defaults(check_timeout=None)  # None: long enough for the gang's own timeouts (see _room_for_gang)
    gang = made.add_argument_group("gang (torchrun's flag names; '_' spellings accepted too)")
    add = gang.add_argument
    add(
        "--rdzv-endpoint",
        "--rdzv_endpoint",
        dest="rdzv_endpoint",
        metavar="HOST:PORT",
        help="where the members meet (port 29400 if omitted)",
    )
    add("--nnodes", default=None, metavar="N", help="how many members (nodes) the gang has (N, or torchrun's N:N)")
    add(
        "--node-rank",
        "--node_rank",
        dest="node_rank",
        type=cli_args.bounded_int(0),
        default=None,
        help="this member's rank (default: by arrival)",
    )
    add("--rdzv-id", "--rdzv_id", dest="rdzv_id", default=None, metavar="ID", help="the gang's id in every member's report")
    add("--rdzv-backend", "--rdzv_backend", dest="rdzv_backend", default="c10d", help="c10d (the only one preflight-gang speaks)")
    add("--rdzv-conf", "--rdzv_conf", dest="rdzv_conf", default=None, metavar="K=V,...", help="join_timeout=SECONDS, is_host=true|false")
    add(
        "--nproc-per-node",
        "--nproc_per_node",
        dest="nproc_per_node",
        default=None,
        metavar="auto|N",
        help="local ranks (default: one per GPU, one on the CPU)",
    )
    add(
        "--collective-timeout",
        type=cli_args.positive_seconds,
        default=None,
        metavar="SECONDS",
        help="each step's timeout after the rendezvous (default: policy gang.collective_timeout_s)",
    )
    return made


def command_line(args: argparse.Namespace, environ: dict[str, str] | None = None) -> preflight_cli.CommandLine:
    """The typed run: the preflight's options with ``gang`` set, and room in the budget for the gang's timeouts."""
    flags = launchers.GangFlags(
        rdzv_endpoint=args.rdzv_endpoint,
        nnodes=args.nnodes,
        node_rank=args.node_rank,
        rdzv_id=args.rdzv_id,
        rdzv_backend=args.rdzv_backend,
        rdzv_conf=args.rdzv_conf,
        nproc_per_node=args.nproc_per_node,
        collective_timeout=args.collective_timeout,
    )
    gang = launchers.resolve(flags, dict(os.environ if environ is None else environ))
    explicit_timeout = args.check_timeout
    args.check_timeout = explicit_timeout or DEFAULT_CHECK_TIMEOUT_S
    line = preflight_cli.command_line(args, default_level=GATE_LEVEL)
    from preflight_action.preflight.gang import with_room

    options = with_room(
        replace(line.options, gang=gang), keep_check_timeout=explicit_timeout is not None, keep_budget=args.budget is not None
    )
    return replace(line, options=options.validated())


def main(argv: list[str] | None = None) -> int:
    try:
        line = command_line(parser().parse_args(argv))
    except PreflightError as error:
        print(f"{PROG}: error: {error}", file=sys.stderr)
        return error.exit_code
    from preflight_action.process.interrupts import Interrupted

    with Interrupted() as guard:
        try:
            report = _run(line, guard)
        except PreflightError as error:
            print(f"{PROG}: error: {error}", file=sys.stderr)
            return error.exit_code
        from preflight_action import outputs

        unwritten = outputs.write_all(report, line.outputs, PROG)
    if report.interrupted_by:
        from preflight_action.process import interrupts

        print(f"{PROG}: interrupted by {report.interrupted_by}: partial report written to {line.outputs.report}", file=sys.stderr)
        return interrupts.exit_code(report.interrupted_by)
    code = EXIT_FOR[report.verdict]
    if not line.quiet:
        from preflight_action.preflight import terminal

        terminal.show(report, code, terminal.console(stderr=True))
    print(verdict_line(report), file=sys.stderr)
    return code if code != EXIT_OK else unwritten


def _run(line: preflight_cli.CommandLine, guard: Interrupted) -> Report:
    from preflight_action.preflight.run import run

    if line.quiet:
        return run(line.options, interrupts=guard)
    from preflight_action.preflight import terminal

    with terminal.live_progress() as (progress, starting):
        return run(line.options, progress=progress, starting=starting, interrupts=guard)


def verdict_line(report: Report) -> str:
    """``preflight-gang: <verdict>: gang <id> (<members>): <the gang check's own words>``."""
    gang = report.gang
    check = report.check(CHECK_ID)
    said = (check.details.get("summary") or check.error or check.skip_reason or "") if check else "the gang check did not run"
    where = (
        f"gang {gang.id or '(no id)'} at {gang.endpoint}, member {gang.node_rank if gang.node_rank is not None else '?'} of {gang.size}"
        if gang
        else ""
    )
    head = f"{PROG}: {VERDICT_WORDS[report.verdict]}"
    if report.verdict == "blocking" and report.triage.blocking_checks and report.triage.blocking_checks != [CHECK_ID]:
        head += f" ({', '.join(report.triage.blocking_checks)})"
    return f"{head}: {where}: {said}"


if __name__ == "__main__":
    raise SystemExit(main())
