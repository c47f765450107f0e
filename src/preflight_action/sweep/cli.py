"""``scripts/sweep.py``: plan, bound, run, report, export, merge and clean flow-driven sweeps.

Parsing and dispatch only; ``inputs``, ``bounds``, ``artifacts``, ``runner`` and ``results`` do the work.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Sequence
from dataclasses import replace
from pathlib import Path
from typing import Any

from preflight_action import __version__, cli_args
from preflight_action.errors import PreflightError, UsageError
from preflight_action.sweep import artifacts, bounds, config, inputs, planner, reporting, sysinfo
from preflight_action.sweep.artifacts import DEFAULT_OUTPUT_ROOT, RunDir, find_run, read_doc, write_doc
from preflight_action.sweep.progress import Progress
from preflight_action.sweep.records import PlannedPoint, SweepPlan
from preflight_action.sweep.results import finish, write_summaries
from preflight_action.sweep.runner import execute
from preflight_action.vocab import DEVICES

PROG = "preflight-sweep"
COMMANDS = ("list-flows", "validate", "plan", "run", "report", "export", "clean", "rerun-last", "merge")


ROOT_HELP = (
    "folder holding flows/ and policy/ (default: this checkout, else the cwd when it has flows/, else the flows shipped with the tool)"
)
OUTPUT_ROOT_HELP = f"where run directories go (default: {DEFAULT_OUTPUT_ROOT})"


def _common(parser: argparse.ArgumentParser, default: object) -> None:
    """--root and --output-root, before the command or after it (``run --flow noop --output-root X``)."""
    parser.add_argument("--root", type=Path, default=default, help=ROOT_HELP)
    parser.add_argument("--output-root", type=cli_args.output_dir, default=default, help=OUTPUT_ROOT_HELP)


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = cli_args.Parser(prog=cli_args.prog(PROG), description="Flow-driven PyTorch runtime sweeps with safety bounds.")
    _common(parser, None)
    parser.add_argument("--version", action="version", version=f"{PROG} {__version__}")
    sub = parser.add_subparsers(dest="command", required=True, metavar="{" + ",".join(COMMANDS) + "}")

    def command(name: str, summary: str, description: str | None = None) -> argparse.ArgumentParser:
        made = sub.add_parser(name, help=summary, description=description or summary[0].upper() + summary[1:] + ".")
        _common(made, argparse.SUPPRESS)  # given after the command, it wins; not given, the one before it stands
        return made

    command(
        "list-flows",
        "the flows in flows/ with their size",
        "List the flows (flows/*.yaml under --root: this checkout's, the cwd's, else the ones shipped with the tool), "
        "each with its points and steps.",
    )
    command(
        "validate",
        "check every flow, adapter manifest, the policy and the profiles; all problems at once",
        "Check every flow, adapter manifest, the safety policy and the hardware profiles under --root against their "
        "schemas and each other; every problem is listed (file and field), exit 2 when there is one, 0 when none.",
    )

    def planning(p: argparse.ArgumentParser) -> None:
        p.add_argument("--flow", help="flow name (flows/<name>.yaml) or path")
        p.add_argument("--policy", type=Path, default=None, help="safety policy (default: policy/safety.yaml)")
        p.add_argument(
            "--profile", default=None, help="hardware profile name to apply; 'auto' detects (run's default), 'none' applies none"
        )
        p.add_argument(
            "--seed",
            type=cli_args.bounded_int(0, inputs.SEED_MAX),
            default=None,
            help="global seed (default: the flow's, else chosen and recorded)",
        )
        p.add_argument(
            "--device",
            type=inputs.device,
            default="auto",
            help=f"value of ${{device}} in flows and the device the probe resolves: {', '.join(DEVICES)} (default: auto)",
        )
        p.add_argument("--python", default=None, help="interpreter the adapters (and the probe) run under (default: this one)")

    plan = command("plan", "print the expansion and write plan.json; nothing runs")
    planning(plan)
    plan.add_argument("--shards", type=cli_args.positive_int, default=1, help="split the points over N shards")
    plan.add_argument("--emit-matrix", action="store_true", help="print only the GitHub strategy.matrix JSON on stdout")

    run = command("run", "run a flow (or --resume a run)")
    planning(run)
    run.add_argument("--dry-run", action="store_true", help="plan, sysinfo, summaries and reports; no adapter is launched")
    run.add_argument("--yes", action="store_true", help="accept the selected profile without asking (needed when stdin is not a terminal)")
    run.add_argument("--shard", default=None, help="run only shard i of n (i/n); needs a fixed seed")
    run.add_argument("--resume", metavar="RUN_ID", default=None, help="finish an interrupted run without redoing finished steps")
    run.add_argument("--no-probe", action="store_true", help="skip the torch probe: host facts only, backend taken as cpu")
    run.add_argument("--plain", action="store_true", help="plain progress lines even on a terminal")
    run.add_argument("--templates", type=Path, default=None, help="folder with sweep_report.md.j2 / sweep_report.html.j2 overrides")

    report = command("report", "re-render report.md and report.html from a run's JSON")
    report.add_argument("--run-id", required=True, help="the run's id (its directory name under --output-root) or its path")
    report.add_argument("--templates", type=Path, default=None, help="folder with sweep_report.md.j2 / sweep_report.html.j2 overrides")

    export = command("export", "export per-step metrics across sub-runs")
    export.add_argument("--run-id", required=True, help="the run's id (its directory name under --output-root) or its path")
    export.add_argument(
        "--format", choices=["csv"], default="csv", help="output format: one row per step, metrics as columns (default: csv)"
    )
    export.add_argument("--output", type=cli_args.output_file, default=None, help="where to write it (default: <run dir>/steps.csv)")

    clean = command("clean", "delete run directories older than N days")
    clean.add_argument(
        "--older-than",
        type=cli_args.non_negative_days,
        required=True,
        metavar="DAYS",
        help="delete runs planned more than DAYS days ago (fractions allowed; 0 deletes every run)",
    )
    clean.add_argument("--dry-run", action="store_true", help="list what would be deleted")

    rerun = command("rerun-last", "run the most recent passed run's flow again with the same seed")
    rerun.add_argument("--yes", action="store_true", help="accept the selected profile without asking")
    rerun.add_argument("--dry-run", action="store_true", help="plan, sysinfo, summaries and reports; no adapter is launched")
    rerun.add_argument("--no-probe", action="store_true", help="skip the torch probe: host facts only, backend taken as cpu")
    rerun.add_argument("--plain", action="store_true", help="plain progress lines even on a terminal")
    rerun.add_argument("--templates", type=Path, default=None, help="folder with sweep_report.md.j2 / sweep_report.html.j2 overrides")

    merge = command(
        "merge",
        "combine shard run directories into one run, summary and report",
        "Combine the run directories of a sharded sweep (run --shard i/n, one per machine) into one run under "
        "--output-root: every step of every shard, one summary and one report; exit 1 unless every step passed.",
    )
    merge.add_argument("run_dirs", nargs="+", type=Path, metavar="RUN_DIR")
    merge.add_argument("--templates", type=Path, default=None, help="folder with sweep_report.md.j2 / sweep_report.html.j2 overrides")
    args = parser.parse_args(argv)
    args.output_root = Path(args.output_root or DEFAULT_OUTPUT_ROOT)
    return args


def cmd_plan(args: argparse.Namespace, root: Path) -> int:
    given = inputs.load(args.flow, args.policy, args.python, root)
    policy = inputs.static_policy(args.profile, given)
    seed, source = inputs.seed(args.seed, given.flow)
    plan = inputs.checked_plan(given, policy, args.device, seed, source, shard_count=args.shards)
    run = RunDir(args.output_root / plan.run_id)
    planner.write_plan(run.plan, plan)
    lines = planner.describe_plan(plan)
    out = sys.stderr if args.emit_matrix else sys.stdout
    print("\n".join(lines), file=out)
    print(f"plan written to {run.plan}", file=out)
    if args.emit_matrix:
        print(json.dumps(planner.matrix(plan, args.flow), separators=(",", ":")))
    return 0


def _interrupted(run: RunDir, signal_name: str) -> int:
    from preflight_action.process import interrupts

    print(
        f"interrupted by {signal_name}: summaries written; finish with `{cli_args.prog(PROG)} run --resume {run.run_id}`", file=sys.stderr
    )
    return interrupts.exit_code(signal_name)


def _execute(args: argparse.Namespace, run: RunDir, plan: SweepPlan, points: Sequence[PlannedPoint], started: str, shard: Any) -> int:
    stopped = execute(run, plan, points, Progress(force_plain=args.plain))
    code = finish(run, plan, points, started, shard, args.templates, interrupted=stopped is not None)
    return _interrupted(run, stopped) if stopped else code


def cmd_resume(args: argparse.Namespace) -> int:
    run = find_run(args.output_root, args.resume)
    plan = planner.read_plan(run.plan)
    previous = read_doc(run.summary, "sweep_summary") if run.summary.is_file() else None
    shard = previous["shard"] if previous else None
    started = previous["started_utc"] if previous else plan.created_utc
    return _execute(args, run, plan, plan.shard_points(shard), started, shard)


def cmd_run(args: argparse.Namespace, root: Path) -> int:
    if args.resume:
        return cmd_resume(args)
    given = inputs.load(args.flow, args.policy, args.python, root)
    shard, shard_count = None, 1
    if args.shard:
        index, shard_count = planner.parse_shard(args.shard)
        shard = {"index": index, "count": shard_count}
        if shard_count > 1 and args.seed is None and given.flow.seed is None:
            raise UsageError("--shard needs --seed (or a seed in the flow) so every shard expands the same points")
    seed, source = inputs.seed(args.seed, given.flow)
    info = sysinfo.collect_host(given.python) if args.no_probe else sysinfo.collect_probe(given.python, args.device)
    for problem in info["errors"]:
        if problem.startswith("device.resolve"):
            raise UsageError(f"--device {args.device}: {problem}")
        print(f"warning: probe: {problem}", file=sys.stderr)
    if args.profile in (None, "auto"):
        selected = bounds.select_profile(config.load_profiles(config.profiles_dir(root)), sysinfo.hardware(info))
        policy = bounds.apply_profile(given.policy, selected)
    else:
        policy = inputs.static_policy(args.profile, given)
    moment = planner.utc_now()
    suffix = f"-shard{shard['index']}of{shard['count']}" if shard else ""
    run_id = planner.make_run_id(given.flow, seed, moment, suffix)
    plan = inputs.checked_plan(given, policy, args.device, seed, source, shard_count=shard_count, moment=moment, run_id=run_id)
    points = plan.shard_points(shard)
    bounds.confirm(policy, sysinfo.describe(info), sum(len(p.steps) for p in points), args.yes, args.dry_run)
    run = artifacts.new_run_dir(args.output_root, plan.run_id)
    plan = replace(plan, run_id=run.run_id)
    points = plan.shard_points(shard)
    planner.write_plan(run.plan, plan)
    write_doc(run.sysinfo, info, "sysinfo")
    started = planner.iso(planner.utc_now())
    write_summaries(run, plan, points, started_utc=started, shard=shard, dry_run=args.dry_run)
    print(f"run {run.run_id}: {len(points)} point(s), seed {seed} ({source})")
    if args.dry_run:
        return finish(run, plan, points, started, shard, args.templates, dry_run=True)
    return _execute(args, run, plan, points, started, shard)


def cmd_rerun_last(args: argparse.Namespace, root: Path) -> int:
    plan, run = artifacts.last_passed(args.output_root)
    print(f"repeating {run.run_id}: flow {plan.flow.path} seed {plan.seed}")
    argv = ["--root", str(root), "--output-root", str(args.output_root), "run", "--flow", plan.flow.path, "--seed", str(plan.seed)]
    argv += ["--policy", plan.policy, "--device", plan.device, "--python", plan.python]
    argv += [
        flag
        for flag, on in (("--yes", args.yes), ("--dry-run", args.dry_run), ("--no-probe", args.no_probe), ("--plain", args.plain))
        if on
    ]
    if args.templates:
        argv += ["--templates", str(args.templates)]
    return cmd_run(parse_args(argv), root)


def cmd_merge(args: argparse.Namespace) -> int:
    from preflight_action.sweep.merge import merge

    merged = merge(list(args.run_dirs), args.output_root)
    reporting.render(merged, args.templates)
    summary = read_doc(merged.summary, "sweep_summary")
    print(f"merged {len(args.run_dirs)} run(s) into {merged.path}: {summary['status']}")
    return 0 if summary["status"] == "passed" else 1


def _refuse_overwriting_the_run(run: RunDir, output: str | None) -> None:
    """``export --output`` over one of the run's own files (its plan, summary, sysinfo, reports, or anything under
    subruns/, which the export reads) would destroy the run: refused before anything is read or written."""
    if not output:
        return  # <run dir>/steps.csv: the export's own file
    import os

    own = [run.plan, run.summary, run.sysinfo, run.report_md, run.report_html]
    subruns = run.path / "subruns"
    inside = os.path.realpath(output).startswith(os.path.realpath(subruns) + os.sep)
    if inside or os.path.realpath(output) == os.path.realpath(subruns):
        raise UsageError(f"--output {output} is inside {subruns}, the run's own records: it would overwrite them")
    if subruns.is_dir():
        own += sorted(p for p in subruns.rglob("*") if p.is_file())  # a hard link elsewhere to one of them
    cli_args.refuse_outputs_over_inputs([("--output", output)], [(f"--run-id {run.run_id}'s {p.relative_to(run.path)}", p) for p in own])


def dispatch(args: argparse.Namespace, root: Path) -> int:
    if args.command == "list-flows":
        print("\n".join(config.flow_listing(root)))
        return 0
    if args.command == "validate":
        from preflight_action.sweep.validate import report

        return report(root)
    if args.command == "plan":
        return cmd_plan(args, root)
    if args.command == "run":
        return cmd_run(args, root)
    if args.command == "report":
        md, html = reporting.render(find_run(args.output_root, args.run_id), args.templates)
        print(f"wrote {md} and {html}")
        return 0
    if args.command == "export":
        from preflight_action.sweep.export import export_csv

        run = find_run(args.output_root, args.run_id)
        _refuse_overwriting_the_run(run, args.output)
        print(f"wrote {export_csv(run, args.output)}")
        return 0
    if args.command == "clean":
        print("\n".join(artifacts.clean(args.output_root, args.older_than, args.dry_run)))
        return 0
    if args.command == "rerun-last":
        return cmd_rerun_last(args, root)
    return cmd_merge(args)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    root = (args.root or config.default_root()).resolve()
    try:
        return dispatch(args, root)
    except PreflightError as error:
        print(f"{cli_args.prog(PROG)}: {' '.join(str(error).split())}", file=sys.stderr)
        return error.exit_code
