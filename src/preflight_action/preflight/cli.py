"""The preflight's flags: argv becomes one typed ``CommandLine`` here, and nothing below sees argparse.

``runtime-preflight`` (``preflight_action.main``) and ``preflight-gate`` (``gates.cli``) share these flags
through ``add_arguments``; what runs them is theirs. This module imports nothing above the preflight.
"""

from __future__ import annotations

import argparse
import os
import shutil
from collections.abc import Sequence
from dataclasses import dataclass

from preflight_action import __version__, cli_args
from preflight_action.errors import PreflightError, UsageError
from preflight_action.preflight.options import DEFAULT_CHECK_TIMEOUT_S, DEFAULT_OUTPUT_PATH, Options
from preflight_action.vocab import BANDS, DEFAULT_DEVICE, DEFAULT_LEVEL, DEVICES, GATES, LEVELS, GateName, Level

PROG = "runtime-preflight"  # the console script; cli_args.prog says it as the user typed it

EPILOG = """\
exit codes:
  0    the preflight ran; without --strict always, with --strict when no failed
       check reached the strict threshold
  1    --strict and a failed check scored at or above the threshold
  2    bad usage or input (unknown flag, --python not found, invalid --policy)
  3    this tool could not run (a missing dependency of its own, an internal error)
  130  interrupted by SIGINT (Ctrl-C) or SIGTERM: a partial report, status "incomplete"
       (or "fail"), its unfinished checks marked, verdict "not judged"

The default strict threshold is the policy's (policy/severity.yaml: "medium"):
critical, high and medium failures block; low ones are reported only.
"""


@dataclass(frozen=True)
class Outputs:
    """Where the report and its renderings go (None: not asked for)."""

    report: str = DEFAULT_OUTPUT_PATH
    markdown: str | None = None
    html: str | None = None
    junit: str | None = None
    prom: str | None = None

    def named(self) -> list[tuple[str, str]]:
        """(flag, path) of every output asked for, the report first."""
        pairs = [("--output-path", self.report), ("--output-md", self.markdown), ("--output-html", self.html)]
        pairs += [("--output-junit", self.junit), ("--output-prom", self.prom)]
        return [(flag, path) for flag, path in pairs if path]

    def validated(self, inputs: Sequence[tuple[str, str | None]] = ()) -> Outputs:
        """A ``UsageError`` when two outputs name one file (the second would destroy the first, the report often), or
        an output names one of ``inputs``, the ``(flag, path)`` files the run reads (the policy, the interpreter)."""
        cli_args.refuse_outputs_over_inputs(self.named(), inputs)
        seen: dict[str, str] = {}
        for flag, path in self.named():
            if path in ("-", os.devnull) or path.startswith("/dev/"):
                continue  # a stream or a device: writing it twice destroys nothing
            key = os.path.realpath(path)
            if key in seen:
                raise UsageError(f"{flag} {path} is the same file as {seen[key]}: each output needs its own path")
            seen[key] = f"{flag} {path}"
        return self


@dataclass(frozen=True)
class CommandLine:
    options: Options
    outputs: Outputs
    quiet: bool = False
    gate: GateName | None = None
    verbose: bool = False


class _Parser(cli_args.Parser):
    def format_help(self) -> str:
        """The epilog names each level's checks and default budget, read from the levels policy only when help is asked for."""
        from preflight_action.preflight import levels

        try:
            listing = levels.help_text(levels.load())
        except PreflightError as error:
            listing = f"levels: the levels policy cannot be read ({error})\n"
        self.epilog = (self.epilog or "") + "\n" + listing
        return super().format_help()


def parser(prog: str | None = None, description: str | None = None, epilog: str = EPILOG) -> argparse.ArgumentParser:
    """The preflight's parser (a gate adds its own flags to it)."""
    made = _Parser(
        prog=prog or cli_args.prog(PROG),
        description=description
        or "Check that this PyTorch runtime can really run: device, capabilities, tensor and dtype smoke, torchvision, "
        "torch.compile, package pairing. Writes a JSON report.",
        epilog=epilog,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    add_arguments(made)
    return made


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Every preflight flag, on ``parser``."""
    add = parser.add_argument
    add("--device", choices=DEVICES, default=DEFAULT_DEVICE, help="device to check; auto picks cuda/rocm > xpu > mps > cpu (default: auto)")
    add("--check-torchvision", action="store_true", help="import torchvision and run torchvision.ops.nms on the device")
    add("--check-compile", action="store_true", help="torch.compile a small function on the device and compare with eager")
    add(
        "--check-distributed",
        action="store_true",
        help="all-reduce across one rank per local device (CPU: 2 gloo ranks; GPUs: NCCL/RCCL): exact results, then bus bandwidth",
    )
    add("--expect-gpus", type=cli_args.positive_int, default=None, metavar="N", help="fail (critical) when fewer than N GPUs are visible")
    add(
        "--level",
        choices=LEVELS,
        default=None,
        help=f"how deep: quick (a gate in seconds), standard (the CI preflight), deep (burn-in) (default: {DEFAULT_LEVEL}; "
        "preflight-gate: quick); the checks of each are listed below (policy/levels.yaml)",
    )
    add(
        "--budget",
        type=cli_args.positive_seconds,
        default=None,
        metavar="SECONDS",
        help="hard cap on the whole run: each check gets a share, the run ends within it plus 10%%; a check the budget stops "
        "is 'not judged', or failed as hung once it ran the policy's hang_after_s (default: the level's budget, below)",
    )
    add("--strict", action="store_true", help="exit 1 when a failed check scores at or above the strict threshold")
    add("--strict-threshold", choices=BANDS, default=None, help="lowest band that fails a --strict run (default: the policy's, medium)")
    add(
        "--output-path",
        type=cli_args.output_file,
        default=DEFAULT_OUTPUT_PATH,
        help=f"where to write the JSON report (default: {DEFAULT_OUTPUT_PATH})",
    )
    add("--output-md", type=cli_args.output_file, default=None, help="also write the report as Markdown here")
    add("--output-html", type=cli_args.output_file, default=None, help="also write the report as an HTML page here")
    add("--output-junit", type=cli_args.output_file, default=None, metavar="PATH", help="also write JUnit XML here: one testcase per check")
    add(
        "--output-prom",
        type=cli_args.prom_file,
        default=None,
        metavar="PATH",
        help="also write a node_exporter textfile here (*.prom, atomic)",
    )
    add("--python", default=None, metavar="PATH", help="interpreter to diagnose; checks run under it (default: this interpreter)")
    add(
        "--check-timeout",
        type=cli_args.check_timeout_seconds,
        default=DEFAULT_CHECK_TIMEOUT_S,
        metavar="SECONDS",
        help=f"kill and fail a check that runs longer than this, at least 1 (default: {DEFAULT_CHECK_TIMEOUT_S:g})",
    )
    add("--policy", default=None, metavar="PATH", help="severity policy YAML (default: the shipped policy/severity.yaml)")
    add("--quiet", action="store_true", help="no progress lines and no report on the terminal; the report files only")
    add("-v", "--verbose", action="store_true", help="on the terminal, list every skipped check with why (folded into one line otherwise)")
    add("--version", action="version", version=f"%(prog)s {__version__}")


def add_gate_argument(parser: argparse.ArgumentParser) -> None:
    """``runtime_preflight --gate``: the same as preflight-gate (see its --help)."""
    parser.add_argument(
        "--gate",
        choices=GATES,
        default=None,
        help="answer a scheduler's or runner's gate contract, quick level by default: exit 0 healthy, 1 blocking, "
        "2 not judged (preflight-gate --help)",
    )


def command_line(args: argparse.Namespace, default_level: Level = DEFAULT_LEVEL) -> CommandLine:
    """The typed record of parsed flags; raises ``UsageError`` for a combination argparse cannot see."""
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
        level=args.level or default_level,
        budget_s=args.budget,
    ).validated()
    outputs = Outputs(args.output_path, args.output_md, args.output_html, args.output_junit, args.output_prom)
    outputs = outputs.validated(read_files(args.python, args.policy))
    return CommandLine(options, outputs, quiet=args.quiet, gate=getattr(args, "gate", None), verbose=args.verbose)


def read_files(python: str | None, policy: str | None) -> list[tuple[str, str | None]]:
    """(flag, path) of the files a run reads that an output must not replace: the policy and the interpreter
    (a bare name as PATH finds it); the interpreter is also compared through its links (realpath)."""
    found = shutil.which(python) if python and os.sep not in python else None
    return [("--policy", policy), ("--python", python), ("--python", found)]


def parse_args(argv: list[str] | None = None, prog: str | None = None) -> argparse.Namespace:
    """argparse's reading of ``argv`` (usage errors exit 2 as always)."""
    made = parser(prog)
    add_gate_argument(made)
    return made.parse_args(argv)


def parse(argv: list[str] | None = None, prog: str | None = None) -> CommandLine:
    """argv as a ``CommandLine``; a bad combination raises ``UsageError``."""
    return command_line(parse_args(argv, prog))
