"""``preflight-export``: JUnit XML and a node_exporter textfile from an existing report, without rerunning anything.

Exit codes: 0 every requested output was written; 2 bad usage, an unreadable
or schema-invalid report, or an output that could not be written (one line each).
"""

from __future__ import annotations

import argparse
import sys

from preflight_action import __version__, cli_args
from preflight_action.errors import PreflightError, UsageError


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = cli_args.Parser(
        prog=cli_args.prog("preflight-export"),
        description="Write a preflight report as JUnit XML (one testcase per check) and/or a node_exporter textfile.",
    )
    parser.add_argument("--from-report", required=True, metavar="PATH", help="the preflight report JSON to export")
    parser.add_argument("--output-junit", type=cli_args.output_file, default=None, metavar="PATH", help="write JUnit XML here")
    parser.add_argument(
        "--output-prom",
        type=cli_args.prom_file,
        default=None,
        metavar="PATH",
        help="write a node_exporter textfile here (a *.prom file, written atomically)",
    )
    parser.add_argument("--version", action="version", version=f"preflight-export {__version__}")
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    try:
        if not (args.output_junit or args.output_prom):
            raise UsageError("nothing to write: pass --output-junit PATH and/or --output-prom PATH")
        _refuse_overwriting_the_input(args)
        from preflight_action.exports.write import write_outputs
        from preflight_action.preflight import report

        for path in write_outputs(report.read(args.from_report), args.output_junit, args.output_prom):
            print(f"wrote {path}", file=sys.stderr)
    except PreflightError as error:
        print(f"{cli_args.prog('preflight-export')}: error: {error}", file=sys.stderr)
        return error.exit_code
    return 0


def _same_file(one: str, other: str) -> bool:
    import os

    try:
        return os.path.samefile(one, other)
    except OSError:  # one of them does not exist yet: compare where they would be
        return os.path.realpath(one) == os.path.realpath(other)


def _refuse_overwriting_the_input(args: argparse.Namespace) -> None:
    """An export written over the report it reads would destroy the report: refused before anything is read."""
    for flag, path in (("--output-junit", args.output_junit), ("--output-prom", args.output_prom)):
        if path and _same_file(path, args.from_report):
            raise UsageError(f"{flag} {path} is the --from-report file itself: writing it would destroy the report")
    if args.output_junit and args.output_prom and _same_file(args.output_junit, args.output_prom):
        raise UsageError(f"--output-junit and --output-prom name one file ({args.output_prom}): each output needs its own path")


if __name__ == "__main__":
    raise SystemExit(main())
