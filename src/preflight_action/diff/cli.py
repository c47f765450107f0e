"""``preflight-diff A.json B.json``: what changed between two preflight reports (two nodes, or one node on two nights)."""

from __future__ import annotations

import argparse
import sys
from typing import TYPE_CHECKING

from preflight_action import __version__, cli_args
from preflight_action.errors import InputError, PreflightError, SchemaError
from preflight_action.vocab import EXIT_CHANGED, EXIT_OK

if TYPE_CHECKING:
    from preflight_action.preflight.report import Report

PROG = "preflight-diff"

EPILOG = """\
groups, in order (most likely to explain a failure first): checks whose outcome changed, the
runtime (torch, torchvision, CUDA, driver, Python), packages upgraded / downgraded / added /
removed, environment variables set / unset / changed, capabilities (OS, kernel, compiler, C
library, CPU, device), performance figures that moved further than their noise
(policy/diff.yaml). Durations and timestamps are never compared.

exit codes:
  0  nothing relevant changed
  1  something changed (listed), or the verdict did
  2  bad input: a file that is not a preflight report (a summary, say), malformed JSON, a
     report that fails its schema, or two reports of different schema majors (one line naming
     the file and the field); or an output that cannot be written or is one of the inputs
"""


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = cli_args.Parser(
        prog=cli_args.prog(PROG),
        description="What changed between two preflight reports: checks, runtime, packages, environment, capabilities, performance.",
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("before", metavar="A.json", help="the earlier report (or the node that passes)")
    parser.add_argument("after", metavar="B.json", help="the later report (or the node that fails)")
    parser.add_argument(
        "--output-json",
        type=cli_args.output_file,
        default=None,
        metavar="PATH",
        help="write the diff here (schemas/preflight_diff.schema.json)",
    )
    parser.add_argument("--output-md", type=cli_args.output_file, default=None, metavar="PATH", help="write the diff as Markdown here")
    parser.add_argument(
        "--policy", default=None, metavar="PATH", help="the diff policy (default: policy/diff.yaml, or $PREFLIGHT_DIFF_POLICY)"
    )
    parser.add_argument("--quiet", action="store_true", help="print nothing; the exit code and the output files say it all")
    parser.add_argument("--version", action="version", version=f"{PROG} {__version__}")
    return parser.parse_args(argv)


def read(path: str) -> Report:
    """The report at ``path``; a file that is not one is one InputError naming the file and the field."""
    from preflight_action import schemas
    from preflight_action.preflight import report
    from preflight_action.summary.load import KIND as SUMMARY_KIND

    try:
        return report.read(path)
    except SchemaError:
        document = schemas.parse_file(path, "json")
        kind = document.get("kind") if isinstance(document, dict) else None
        if kind == SUMMARY_KIND:
            raise InputError(
                f"{path}: /kind: a preflight summary, not a report (give two reports: runtime-preflight --output-path)"
            ) from None
        if kind is not None:
            raise InputError(f"{path}: /kind: a {kind} document, not a preflight report") from None
        raise


def _majors(before: str, after: str) -> None:
    """Two reports of different schema majors are not comparable: one line naming the later file's field."""
    from preflight_action import schemas

    versions = []
    for path in (before, after):
        document = schemas.parse_file(path, "json")
        version = document.get("schema_version") if isinstance(document, dict) else None
        versions.append(str(version).split(".", 1)[0] if isinstance(version, str) else None)
    if versions[0] and versions[1] and versions[0] != versions[1]:
        raise InputError(f"{after}: /schema_version: major {versions[1]} cannot be compared with {before}'s major {versions[0]}")


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    try:
        return _run(args)
    except PreflightError as error:
        print(f"{cli_args.prog(PROG)}: error: {error}", file=sys.stderr)
        return error.exit_code


def _refuse_overwriting_inputs(args: argparse.Namespace) -> None:
    """An output over a report or the policy it reads (or over the other output) would destroy it: refused before reading."""
    import os

    from preflight_action.diff.policy import DIFF

    named = "--policy" if args.policy else f"${DIFF.env_var}" if os.environ.get(str(DIFF.env_var)) else "the shipped diff policy"
    policy = (named, str(DIFF.path(args.policy)))
    inputs = [("A.json", args.before), ("B.json", args.after), policy]
    cli_args.refuse_outputs_over_inputs([("--output-json", args.output_json), ("--output-md", args.output_md)], inputs)
    cli_args.refuse_outputs_over_inputs([("--output-md", args.output_md)], [("--output-json", args.output_json)])


def _run(args: argparse.Namespace) -> int:
    from preflight_action import atomic
    from preflight_action.diff import engine, render
    from preflight_action.diff import policy as diff_policy

    _refuse_overwriting_inputs(args)
    _majors(args.before, args.after)
    before, after = read(args.before), read(args.after)
    found = engine.diff(engine.Side.of_report(before, args.before), engine.Side.of_report(after, args.after), diff_policy.load(args.policy))
    document = render.to_dict(found)
    outputs = []
    if args.output_json:
        outputs.append(("--output-json", args.output_json, lambda: atomic.write_json(args.output_json, document)))
    if args.output_md:
        outputs.append(("--output-md", args.output_md, lambda: atomic.write_text(args.output_md, render.markdown(found))))
    unwritten = cli_args.write_outputs(cli_args.prog(PROG), outputs)
    if not args.quiet:
        sys.stdout.write(render.text(found))
    if unwritten:
        return unwritten
    return EXIT_CHANGED if found.changed else EXIT_OK


if __name__ == "__main__":
    raise SystemExit(main())
