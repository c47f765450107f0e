"""``runtime_preflight``: check the runtime, write the JSON report, show the verdict.

Exit codes: 0 the preflight ran and nothing at or above the strict threshold
failed (always 0 without --strict); 1 with --strict when something did;
2 bad usage or input (unknown flag, missing --python, bad --policy file).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any

from preflight_action import __version__, cli_args
from preflight_action.errors import PreflightError
from preflight_action.gates.run import GATES
from preflight_action.preflight.options import DEFAULT_CHECK_TIMEOUT_S, DEFAULT_OUTPUT_PATH, DEVICES, LEVELS, Options

if TYPE_CHECKING:
    from preflight_action.preflight.report import CheckResult, Report
    from preflight_action.preflight.session import Session
    from preflight_action.preflight.severity import SeverityPolicy
    from preflight_action.process.interrupts import Interrupted

EPILOG = """\
exit codes:
  0  the preflight ran; without --strict always, with --strict when no failed
     check reached the strict threshold
  1  --strict and a failed check scored at or above the threshold
  2  bad usage or input (unknown flag, --python not found, invalid --policy)
  130       interrupted by SIGINT (Ctrl-C) or SIGTERM: a partial report, unfinished checks skipped as not run

The default strict threshold is the policy's (policy/severity.yaml: "medium"):
critical, high and medium failures block; low ones are reported only.
"""


def textfile_path(text: str) -> str:
    """``exports.write.textfile_path``, imported when --output-prom is given: the report modules load after the worker starts."""
    from preflight_action.exports.write import textfile_path as check

    return check(text)


class _Parser(argparse.ArgumentParser):
    def format_help(self) -> str:
        """The epilog names each level's default budget, read from the levels policy only when help is asked for."""
        from preflight_action.preflight import levels

        try:
            listing = levels.help_text(levels.load())
        except PreflightError as error:
            listing = f"levels: the levels policy cannot be read ({error})\n"
        self.epilog = EPILOG + "\n" + listing
        return super().format_help()


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = _Parser(
        prog="runtime_preflight",
        description="Check that this PyTorch runtime can really run: device, capabilities, "
        "tensor and dtype smoke, torchvision, torch.compile, package pairing. Writes a JSON report.",
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument(
        "--device", choices=DEVICES, default="auto", help="device to check; auto picks cuda/rocm > xpu > mps > cpu (default: auto)"
    )
    parser.add_argument("--check-torchvision", action="store_true", help="import torchvision and run torchvision.ops.nms on the device")
    parser.add_argument("--check-compile", action="store_true", help="torch.compile a small function on the device and compare with eager")
    parser.add_argument(
        "--check-distributed",
        action="store_true",
        help="all-reduce across one rank per local device (CPU: 2 gloo ranks; GPUs: NCCL/RCCL): exact results, then bus bandwidth",
    )
    parser.add_argument(
        "--expect-gpus", type=cli_args.positive_int, default=None, metavar="N", help="fail (critical) when fewer than N GPUs are visible"
    )
    parser.add_argument(
        "--level",
        choices=LEVELS,
        default="standard",
        help="how deep: quick (a gate in seconds), standard (the CI preflight), deep (burn-in); checks per level: policy/levels.yaml",
    )
    parser.add_argument(
        "--budget",
        type=cli_args.positive_seconds,
        default=None,
        metavar="SECONDS",
        help="hard cap on the whole run: each check gets a share, the run ends within it plus 10%%, a check cut short says so "
        "(default: the level's budget, listed below)",
    )
    parser.add_argument("--strict", action="store_true", help="exit 1 when a failed check scores at or above the strict threshold")
    parser.add_argument(
        "--strict-threshold",
        choices=("critical", "high", "medium", "low"),
        default=None,
        help="lowest band that fails a --strict run (default: the policy's, medium)",
    )
    parser.add_argument(
        "--output-path",
        type=cli_args.output_file,
        default=DEFAULT_OUTPUT_PATH,
        help=f"where to write the JSON report (default: {DEFAULT_OUTPUT_PATH})",
    )
    parser.add_argument("--output-md", type=cli_args.output_file, default=None, help="also write the report as Markdown here")
    parser.add_argument("--output-html", type=cli_args.output_file, default=None, help="also write the report as an HTML page here")
    parser.add_argument(
        "--output-junit", type=cli_args.output_file, default=None, metavar="PATH", help="also write JUnit XML here: one testcase per check"
    )
    parser.add_argument(
        "--output-prom", type=textfile_path, default=None, metavar="PATH", help="also write a node_exporter textfile here (*.prom, atomic)"
    )
    parser.add_argument(
        "--gate",
        choices=GATES,
        default=None,
        help="answer a scheduler's or runner's gate contract, quick level by default: exit 0 pass, 1 blocking, 2 could not run "
        "(preflight-gate --help)",
    )
    parser.add_argument(
        "--python", default=None, metavar="PATH", help="interpreter to diagnose; checks run under it (default: this interpreter)"
    )
    parser.add_argument(
        "--check-timeout",
        type=cli_args.positive_seconds,
        default=DEFAULT_CHECK_TIMEOUT_S,
        metavar="SECONDS",
        help=f"kill and fail a check that runs longer than this (default: {DEFAULT_CHECK_TIMEOUT_S:g})",
    )
    parser.add_argument("--policy", default=None, metavar="PATH", help="severity policy YAML (default: the shipped policy/severity.yaml)")
    parser.add_argument("--quiet", action="store_true", help="no progress lines and no table; the report files only")
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    if any(arg == "--gate" or arg.startswith("--gate=") for arg in argv):
        from preflight_action.gates.run import gate_main

        return gate_main(argv, main, parse_args, prog="runtime_preflight --gate")  # runs main without --gate
    args = parse_args(argv)
    options = Options(
        device=args.device,
        check_torchvision=args.check_torchvision,
        check_compile=args.check_compile,
        strict=args.strict,
        strict_threshold=args.strict_threshold,
        check_timeout=args.check_timeout,
        python=args.python,
        policy_path=args.policy,
        check_distributed=args.check_distributed,
        expect_gpus=args.expect_gpus,
        level=args.level,
        budget_s=args.budget,
    )
    from preflight_action.process.interrupts import Interrupted

    try:
        with Interrupted() as guard:  # Ctrl-C / SIGTERM: a partial report, the worker stopped, exit 130
            return _run(options, args, guard)
    except PreflightError as error:
        print(f"runtime_preflight: error: {error}", file=sys.stderr)
        return error.exit_code


def _run(options: Options, args: argparse.Namespace, guard: Interrupted) -> int:
    # The worker (and its torch import) starts first; our heavier imports, the session's
    # included, then overlap with it instead of adding to it.
    from preflight_action.preflight import early

    started = early.start(options.python)
    from preflight_action.preflight.session import Session

    try:
        session = Session(options, guard, started)
    except BaseException:
        if started is not None:  # refused before it took the worker over (closing twice is harmless)
            started.close()
        raise
    try:
        return _run_session(session, options, args)
    finally:
        session.close()  # the worker was killed when the last check ended; reaped here, after the writes


def _run_session(session: Session, options: Options, args: argparse.Namespace) -> int:
    from preflight_action.preflight import severity as policy_module

    policy = policy_module.load(options.policy_path)
    # --quiet (a gate's prolog): no terminal library at all; rich costs more start-up than the quick level's checks.
    report_obj = session.run(policy) if args.quiet else _run_shown(session, policy)
    from preflight_action.preflight import report as report_module
    from preflight_action.preflight.session import finalize

    extras = session.extras()
    document = finalize({**report_obj.to_dict(), **extras})
    # An output that fails to be written anyway (a full disk) is one line and exit 2; the others are still written.
    unwritten = cli_args.write_outputs(
        "runtime_preflight", [("--output-path", args.output_path, lambda: report_module.write(document, args.output_path))]
    )
    final = report_module.Report.from_dict(document)
    exit_code = 1 if options.strict and final.triage.blocking else 0
    unwritten = max(unwritten, _write_renderings(final, args))
    from preflight_action.exports.write import write_requested

    unwritten = max(unwritten, write_requested(final, args.output_junit, args.output_prom, "runtime_preflight"))
    if extras.get("interrupted_by"):
        return _interrupted(extras["interrupted_by"], document, args.output_path)
    if not args.quiet:
        from preflight_action.preflight import terminal as render_terminal

        render_terminal.show(final, exit_code)
        print(f"report: {args.output_path}", file=sys.stderr)
    return unwritten or exit_code


def _run_shown(session: Session, policy: SeverityPolicy) -> Report:
    """``session.run`` with progress on stderr: on a terminal a spinner names the check in flight (compile takes
    tens of seconds); CI logs get one plain line per finished check."""
    from preflight_action.preflight import terminal as render_terminal

    progress_out = render_terminal.console(stderr=True)
    status = progress_out.status("") if progress_out.is_terminal else None

    def starting(check_id: str, index: int, total: int) -> None:
        if status is not None:
            status.update(f"[{index}/{total}] running {check_id}")
            status.start()

    def progress(result: CheckResult, index: int, total: int) -> None:
        if status is not None:
            status.stop()
        progress_out.print(render_terminal.progress_line(result, index, total))

    try:
        return session.run(policy, progress, starting)
    finally:
        if status is not None:
            status.stop()


def _interrupted(signal_name: str, document: dict[str, Any], path: str) -> int:
    from preflight_action.process import interrupts

    not_run = sum(1 for c in document["checks"] if c["skip_reason"] == interrupts.not_run_reason(signal_name))
    print(f"runtime_preflight: interrupted by {signal_name}: partial report written to {path} ({not_run} checks not run)", file=sys.stderr)
    return interrupts.exit_code(signal_name)


def _write_renderings(final: object, args: argparse.Namespace) -> int:
    if not (args.output_md or args.output_html):
        return 0
    from preflight_action import atomic, templating
    from preflight_action.preflight import describe

    outputs = []
    for flag, path, template in (("--output-md", args.output_md, "report.md.j2"), ("--output-html", args.output_html, "report.html.j2")):
        if path:
            text = templating.render(template, filters={"words": describe.words}, report=final)
            outputs.append((flag, path, lambda path=path, text=text: atomic.write_text(Path(path), text)))
    return cli_args.write_outputs("runtime_preflight", outputs)


if __name__ == "__main__":
    raise SystemExit(main())
