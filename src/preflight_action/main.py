"""``runtime-preflight``: parse -> run -> write -> show -> exit code, one step each.

Exit codes: 0 the preflight ran and nothing at or above the strict threshold failed (always 0 without
--strict); 1 with --strict when something did; 2 bad usage or input; 3 the tool could not run (see
``preflight_entry``); 130 interrupted (a partial report, verdict "not judged"). ``--gate`` hands the
whole command line to ``preflight-gate``.
"""

from __future__ import annotations

import sys
from typing import TYPE_CHECKING

from preflight_action import cli_args
from preflight_action.errors import PreflightError
from preflight_action.preflight import cli
from preflight_action.vocab import EXIT_BLOCKING, EXIT_OK

if TYPE_CHECKING:
    from preflight_action.preflight.report import Report
    from preflight_action.process.interrupts import Interrupted


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    prog = cli_args.prog(cli.PROG)
    if any(arg == "--gate" or arg.startswith("--gate=") for arg in argv):
        from preflight_action.gates.cli import run_gate

        return run_gate(argv, prog=f"{prog} --gate")
    try:
        line = cli.parse(argv, prog)
    except PreflightError as error:
        print(f"{prog}: error: {error}", file=sys.stderr)
        return error.exit_code
    from preflight_action.process.interrupts import Interrupted

    with Interrupted() as guard:  # Ctrl-C / SIGTERM: a partial report, the worker stopped, exit 130
        try:
            report = _run(line, guard)
        except PreflightError as error:
            print(f"{prog}: error: {error}", file=sys.stderr)
            return error.exit_code
        from preflight_action import outputs

        unwritten = outputs.write_all(report, line.outputs, prog)
    if report.interrupted_by:
        return _interrupted(report, line.outputs.report, prog)
    exit_code = EXIT_BLOCKING if line.options.strict and report.triage.blocking else EXIT_OK
    if not line.quiet:
        from preflight_action.preflight import terminal

        terminal.show(report, exit_code, verbose=line.verbose)
        print(f"report: {line.outputs.report}", file=sys.stderr)
    return unwritten or exit_code


def _run(line: cli.CommandLine, guard: Interrupted) -> Report:
    from preflight_action.preflight.run import run

    if line.quiet:  # a gate's prolog: no terminal library at all (rich costs more start-up than the quick checks)
        return run(line.options, interrupts=guard)
    from preflight_action.preflight import terminal

    with terminal.live_progress() as (progress, starting):
        return run(line.options, progress=progress, starting=starting, interrupts=guard)


def _interrupted(report: Report, path: str, prog: str) -> int:
    from preflight_action.preflight.describe import plural
    from preflight_action.process import interrupts

    signal_name = report.interrupted_by or "SIGINT"  # called only for an interrupted report
    not_run = len(report.unfinished)
    print(f"{prog}: interrupted by {signal_name}: partial report written to {path} ({plural(not_run, 'check')} not run)", file=sys.stderr)
    return interrupts.exit_code(signal_name)


if __name__ == "__main__":
    raise SystemExit(main())
