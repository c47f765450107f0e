"""``smoke``: forward + one training step of small real models per dtype, with a memory guard.

Exit codes: 0 the smoke ran and nothing failed (a simulated or skipped run is
not a pass, but exits 0 unless --require-real); 1 a case failed, the timeout
guard fired, the memory guard aborted, or --require-real and the run was not a
real pass; 2 bad usage or input.
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Callable
from pathlib import Path

from preflight_action import __version__, cli_args
from preflight_action.errors import PreflightError, UsageError
from preflight_action.smoke import guard, modes, record
from preflight_action.smoke.session import SmokeOptions, run
from preflight_action.vocab import DEVICES
from preflight_probe import smoke_models as models

DTYPES = ("float32", "float16", "bfloat16")
DEFAULT_ROOT = "outputs/smoke"
EPILOG = f"""\
modes:
  real       build the models with random weights (nothing downloaded) and run them on the device
  simulated  the same guard and dtype policy against a capability profile (--profile); never a pass
  stub       no torch at all: the worker protocol, guard, record and retention only

memory guard: need = params x bytes per param x MEM_FACTOR + MEM_OVERHEAD must fit in
available memory minus MEM_RESERVE; otherwise the run falls back to simulated, or
aborts with --require-real. Environment: {guard.ENV_PREFIX}MEM_FACTOR, _MEM_OVERHEAD_GB,
_MEM_RESERVE_GB, _ALLOW_HIGH_MEM, _REQUIRE_REAL, _TIMEOUT_SECS, _ROOT, _KEEP_RECENT,
_RETENTION_SECS, _MODE (flags win).

exit codes:
  0  the smoke ran and nothing failed (simulated and skipped runs are not passes)
  1  a case failed, the timeout guard fired, the guard aborted, or --require-real
     and the run was not a real pass
  2  bad usage or input
  130       interrupted by SIGINT (Ctrl-C) or SIGTERM: a partial record, unfinished cases not run
"""


def _csv(allowed: tuple[str, ...], what: str) -> Callable[[str], tuple[str, ...]]:
    def parse(text: str) -> tuple[str, ...]:
        items = tuple(dict.fromkeys(part.strip() for part in text.split(",") if part.strip()))
        bad = [item for item in items if item not in allowed]
        if bad or not items:
            raise argparse.ArgumentTypeError(f"{what} must be a comma list of {', '.join(allowed)}; got {text!r}")
        return items

    return parse


def _env_number(name: str, default: float) -> float:
    raw = os.environ.get(guard.ENV_PREFIX + name, "")
    if not raw:
        return default
    try:
        return cli_args.non_negative_seconds(raw) if name.endswith("SECS") else float(cli_args.non_negative_int(raw))
    except argparse.ArgumentTypeError as why:
        raise UsageError(f"{guard.ENV_PREFIX}{name}={raw!r}: {why}") from None


def _output_root(flag: str | None) -> Path:
    """--output-root (checked when parsed), else $PREFLIGHT_SMOKE_ROOT, else the default; checked before any run."""
    root = flag or os.environ.get(guard.ENV_PREFIX + "ROOT") or DEFAULT_ROOT
    problem = None if flag else cli_args.dir_problem(root)
    if problem:
        source = f"{guard.ENV_PREFIX}ROOT" if os.environ.get(guard.ENV_PREFIX + "ROOT") else "--output-root (default)"
        raise UsageError(f"{source} {root}: {problem}")
    return Path(root)


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = cli_args.Parser(
        prog=cli_args.prog("preflight-smoke"),
        description="Smoke-run small real models (torchvision resnet18, a torch.nn transformer encoder): forward and one "
        "training step per dtype, checked against a float32 reference; throughput and peak memory recorded.",
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--mode", choices=modes.MODES, default=None, help="real (default), simulated or stub")
    parser.add_argument("--device", choices=DEVICES, default="auto", help="device for a real run (default: auto)")
    parser.add_argument("--dtypes", type=_csv(DTYPES, "--dtypes"), default=DTYPES, help="comma list (default: float32,float16,bfloat16)")
    parser.add_argument(
        "--models", type=_csv(models.MODELS, "--models"), default=models.MODELS, help="comma list (default: resnet18,transformer)"
    )
    parser.add_argument(
        "--batch-size", type=cli_args.positive_int, default=None, help="batch size (default: 2 on CPU, 32 on an accelerator)"
    )
    parser.add_argument(
        "--image-size", type=cli_args.positive_int, default=None, help="resnet18 input size (default: 64 on CPU, 224 on an accelerator)"
    )
    parser.add_argument("--iterations", type=cli_args.positive_int, default=3, help="timed forward iterations per case (default: 3)")
    parser.add_argument("--seed", type=cli_args.non_negative_int, default=0, help="seed for weights and inputs (default: 0)")
    parser.add_argument("--profile", default=modes.DEFAULT_PROFILE, help=f"simulated capability profile (default: {modes.DEFAULT_PROFILE})")
    parser.add_argument("--python", default=None, metavar="PATH", help="interpreter whose torch runs the models (default: this one)")
    parser.add_argument(
        "--timeout",
        type=cli_args.non_negative_seconds,
        default=None,
        metavar="SECONDS",
        help="end the whole smoke after this long, recording what finished; 0 disables (default: 600)",
    )
    parser.add_argument(
        "--output-root",
        type=cli_args.output_dir,
        default=None,
        metavar="DIR",
        help=f"where run.<time>-<id> directories go (default: {DEFAULT_ROOT})",
    )
    parser.add_argument("--keep-recent", type=cli_args.non_negative_int, default=None, help="keep the newest N unpinned runs (default: 6)")
    parser.add_argument(
        "--retention-secs",
        type=cli_args.non_negative_seconds,
        default=None,
        help="also prune unpinned runs older than this; 0 disables (default: 0)",
    )
    parser.add_argument("--keep", action="store_true", help="pin this run: retention never removes it")
    parser.add_argument(
        "--mem-factor",
        type=cli_args.finite_float(0.0, 1000.0, above=True, what="a multiplier"),
        default=None,
        help=f"guard: multiplier on the weights' bytes (default: {guard.DEFAULT_FACTOR:g})",
    )
    parser.add_argument(
        "--mem-overhead-gb",
        type=cli_args.finite_float(0.0, 1e6, what="a number of GiB", unit="GiB"),
        default=None,
        help=f"guard: fixed extra need in GiB (default: {guard.DEFAULT_OVERHEAD_GB:g})",
    )
    parser.add_argument(
        "--mem-reserve-gb",
        type=cli_args.finite_float(0.0, 1e6, what="a number of GiB", unit="GiB"),
        default=None,
        help=f"guard: GiB left for the rest of the machine (default: {guard.DEFAULT_RESERVE_GB:g})",
    )
    parser.add_argument("--allow-high-mem", action="store_true", help="run for real even when the guard says it does not fit")
    parser.add_argument("--require-real", action="store_true", help="never fall back to simulated; exit 1 unless the run is a real pass")
    parser.add_argument("--quiet", action="store_true", help="no progress lines")
    parser.add_argument("--version", action="version", version=f"preflight-smoke {__version__}")
    return parser.parse_args(argv)


def options_from(args: argparse.Namespace) -> SmokeOptions:
    from preflight_action.process.probe_client import resolve_python

    try:
        python, source = resolve_python(args.python)
    except FileNotFoundError:
        raise UsageError(f"--python {args.python}: no such interpreter") from None
    mode = args.mode or os.environ.get(guard.ENV_PREFIX + "MODE") or "real"
    if mode not in modes.MODES:
        raise UsageError(f"{guard.ENV_PREFIX}MODE={mode!r}: not one of {', '.join(modes.MODES)}")
    timeout = args.timeout if args.timeout is not None else _env_number("TIMEOUT_SECS", 600.0)
    keep_recent = args.keep_recent if args.keep_recent is not None else int(_env_number("KEEP_RECENT", 6))
    retention_secs = args.retention_secs if args.retention_secs is not None else _env_number("RETENTION_SECS", 0.0)
    for flag, value in (("--timeout", timeout), ("--keep-recent", keep_recent), ("--retention-secs", retention_secs)):
        if value < 0:
            raise UsageError(f"{flag} must not be negative, got {value:g}")
    for flag, number in (("--batch-size", args.batch_size), ("--image-size", args.image_size), ("--iterations", args.iterations)):
        if number is not None and number < 1:
            raise UsageError(f"{flag} must be at least 1, got {number}")
    if args.image_size is not None and args.image_size < 32:
        raise UsageError(f"--image-size must be at least 32 for resnet18, got {args.image_size}")
    knobs = guard.knobs_from(args.mem_factor, args.mem_overhead_gb, args.mem_reserve_gb, args.allow_high_mem, args.require_real)
    return SmokeOptions(
        mode=mode,
        device=args.device,
        dtypes=tuple(args.dtypes),
        models=tuple(args.models),
        batch_size=args.batch_size,
        image_size=args.image_size,
        iterations=args.iterations,
        seed=args.seed,
        profile=args.profile,
        python=python,
        python_source=source,
        timeout_s=timeout,
        knobs=knobs,
        output_root=_output_root(args.output_root),
        keep_recent=keep_recent,
        retention_secs=retention_secs,
        keep=args.keep,
    )


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    try:
        options = options_from(args)
        if options.mode == "simulated" or options.profile != modes.DEFAULT_PROFILE:
            modes.target(options.profile)  # an unknown profile is a usage error before anything runs
        from preflight_action.preflight import terminal as render_terminal

        out = render_terminal.console(stderr=True)

        def say(line: str) -> None:
            if not args.quiet:
                out.print(line, markup=False)

        document, run_dir = run(options, say)
    except PreflightError as error:
        print(f"{cli_args.prog('preflight-smoke')}: error: {error}", file=sys.stderr)
        return error.exit_code
    if document.get("interrupted_by"):
        not_run = document["counts"]["not_run"]
        print(
            f"smoke: interrupted by {document['interrupted_by']}: partial record written to {run_dir / record.RECORD_NAME} "
            f"({not_run} case{'s' if not_run != 1 else ''} not run)",
            file=sys.stderr,
        )
        return int(document["exit_code"])
    counts = ", ".join(f"{v} {k}" for k, v in document["counts"].items() if v)
    real = "" if document["outcome"] == "pass" else " (not a real pass)"
    print(
        f"smoke: outcome {document['outcome']}{real} [{document['mode']}; {counts}]; record: {run_dir / record.RECORD_NAME}",
        file=sys.stderr,
    )
    return int(document["exit_code"])


if __name__ == "__main__":
    raise SystemExit(main())
