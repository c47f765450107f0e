"""``scripts/sweep.py``: plan, bound, run, report, export, merge and clean flow-driven sweeps."""

from __future__ import annotations

import argparse
import json
import shutil
import sys
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

from preflight_action.errors import InputError, PreflightError, SchemaError, UsageError
from preflight_action.sweep import bounds as safety
from preflight_action.sweep import config, planner, reporting, sysinfo
from preflight_action.sweep.adapters import load_adapters
from preflight_action.sweep.artifacts import DEFAULT_OUTPUT_ROOT, RunDir, find_run, list_runs, read_doc, write_doc
from preflight_action.sweep.progress import Progress
from preflight_action.sweep.records import Adapter, Flow, SafetyPolicy
from preflight_action.sweep.results import write_summaries
from preflight_action.sweep.runner import execute

COMMANDS = ("list-flows", "validate", "plan", "run", "report", "export", "clean", "rerun-last", "merge")


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="sweep.py", description="Flow-driven PyTorch runtime sweeps with safety bounds.")
    parser.add_argument(
        "--root", type=Path, default=None, help="repository holding flows/ and policy/ (default: this checkout, else the cwd)"
    )
    parser.add_argument("--output-root", type=Path, default=DEFAULT_OUTPUT_ROOT, help="where run directories go (default: %(default)s)")
    sub = parser.add_subparsers(dest="command", required=True, metavar="{" + ",".join(COMMANDS) + "}")

    sub.add_parser("list-flows", help="the flows in flows/ with their size")
    sub.add_parser("validate", help="check every flow, adapter manifest, the policy and the profiles; all problems at once")

    def planning(p: argparse.ArgumentParser) -> None:
        p.add_argument("--flow", help="flow name (flows/<name>.yaml) or path")
        p.add_argument("--policy", type=Path, default=None, help="safety policy (default: policy/safety.yaml)")
        p.add_argument(
            "--profile", default=None, help="hardware profile name to apply; 'auto' detects (run's default), 'none' applies none"
        )
        p.add_argument("--seed", type=int, default=None, help="global seed (default: the flow's, else chosen and recorded)")
        p.add_argument("--device", default="auto", help="value of ${device} in flows and the device the probe resolves (default: auto)")
        p.add_argument("--python", default=None, help="interpreter the adapters (and the probe) run under (default: this one)")

    plan = sub.add_parser("plan", help="print the expansion and write plan.json; nothing runs")
    planning(plan)
    plan.add_argument("--shards", type=int, default=1, help="split the points over N shards")
    plan.add_argument("--emit-matrix", action="store_true", help="print only the GitHub strategy.matrix JSON on stdout")

    run = sub.add_parser("run", help="run a flow (or --resume a run)")
    planning(run)
    run.add_argument("--dry-run", action="store_true", help="plan, sysinfo, summaries and reports; no adapter is launched")
    run.add_argument("--yes", action="store_true", help="accept the selected profile without asking (needed when stdin is not a terminal)")
    run.add_argument("--shard", default=None, help="run only shard i of n (i/n); needs a fixed seed")
    run.add_argument("--resume", metavar="RUN_ID", default=None, help="finish an interrupted run without redoing finished steps")
    run.add_argument("--no-probe", action="store_true", help="skip the torch probe: host facts only, backend taken as cpu")
    run.add_argument("--plain", action="store_true", help="plain progress lines even on a terminal")
    run.add_argument("--templates", type=Path, default=None, help="folder with sweep_report.md.j2 / sweep_report.html.j2 overrides")

    report = sub.add_parser("report", help="re-render report.md and report.html from a run's JSON")
    report.add_argument("--run-id", required=True)
    report.add_argument("--templates", type=Path, default=None)

    export = sub.add_parser("export", help="export per-step metrics across sub-runs")
    export.add_argument("--run-id", required=True)
    export.add_argument("--format", choices=["csv"], default="csv")
    export.add_argument("--output", type=Path, default=None, help="default: <run dir>/steps.csv")

    clean = sub.add_parser("clean", help="delete run directories older than N days")
    clean.add_argument("--older-than", type=float, required=True, metavar="DAYS")
    clean.add_argument("--dry-run", action="store_true", help="list what would be deleted")

    rerun = sub.add_parser("rerun-last", help="run the most recent passed run's flow again with the same seed")
    rerun.add_argument("--yes", action="store_true")
    rerun.add_argument("--dry-run", action="store_true")
    rerun.add_argument("--no-probe", action="store_true")
    rerun.add_argument("--plain", action="store_true")
    rerun.add_argument("--templates", type=Path, default=None)

    merge = sub.add_parser("merge", help="combine shard run directories into one run, summary and report")
    merge.add_argument("run_dirs", nargs="+", type=Path, metavar="RUN_DIR")
    merge.add_argument("--templates", type=Path, default=None)
    return parser.parse_args(argv)


@dataclass(frozen=True)
class Inputs:
    root: Path
    flow: Flow
    adapters: dict[str, Adapter]
    policy: SafetyPolicy
    python: str


def _python(given: str | None) -> str:
    from preflight_action.probe_client import resolve_python

    try:
        return resolve_python(given)[0]
    except FileNotFoundError:
        raise UsageError(f"--python: interpreter {given!r} not found") from None


def load_inputs(args: argparse.Namespace, root: Path) -> Inputs:
    if not args.flow:
        raise UsageError("--flow is required (a name from `list-flows` or a path)")
    flow = config.load_flow(config.resolve_flow_path(args.flow, root))
    adapters = load_adapters(config.adapters_dir(root), root)
    policy = config.load_policy(args.policy or config.policy_file(root))
    return Inputs(root, flow, adapters, policy, _python(args.python))


def named_profile(root: Path, name: str) -> Any:
    profiles = config.load_profiles(config.profiles_dir(root))
    for profile in profiles:
        if profile.name == name:
            return profile
    raise UsageError(f"--profile: no profile named {name!r} in {config.profiles_dir(root)} (known: {', '.join(p.name for p in profiles)})")


def profile_ref(policy: SafetyPolicy) -> dict[str, Any] | None:
    if policy.profile is None:
        return None
    return {"name": policy.profile.name, "path": str(policy.profile.path), "priority": policy.profile.priority}


def describe_bounds(policy: SafetyPolicy) -> list[str]:
    lines = []
    for name, bound in sorted(policy.bounds.items()):
        parts = []
        if bound.choices is not None:
            parts.append(f"one of {list(bound.choices)}")
        if bound.minimum is not None:
            parts.append(f">= {bound.minimum:g}")
        if bound.maximum is not None:
            parts.append(f"<= {bound.maximum:g}")
        lines.append(f"    {name}: {', '.join(parts)}  [{policy.sources[name]}]")
    for name, value in vars(policy.limits).items():
        if value is not None:
            lines.append(f"    {name}: {value:g}  [{policy.sources[name]}]")
    return lines


def _seed(args: argparse.Namespace, flow: Flow) -> tuple[int, str]:
    if args.seed is not None and not 0 <= args.seed < 2**32:
        raise UsageError(f"--seed: {args.seed} is outside 0..4294967295")
    return planner.choose_seed(args.seed, flow)


def cmd_list_flows(root: Path) -> int:
    files = config.flow_files(root)
    if not files:
        print(f"no flows in {config.flows_dir(root)}")
        return 0
    for path in files:
        try:
            flow = config.load_flow(path)
        except InputError as error:
            print(f"{path.stem:28} INVALID: {error}")
            continue
        points = 1
        for values in flow.axes.values():
            points *= len(values)
        axes = " x ".join(f"{k}({len(v)})" for k, v in flow.axes.items()) or "no axes"
        print(f"{path.stem:28} {points:4d} point(s) · {len(flow.steps)} step spec(s) · {axes} · {flow.description.strip()[:80]}")
    return 0


def _problems_of(error: InputError) -> list[str]:
    if isinstance(error, SchemaError):
        return [f"{error.source}: {p}" for p in error.problems]
    if isinstance(error, planner.ExpansionError):
        return list(error.problems)
    return [str(error)]


def cmd_validate(root: Path) -> int:
    problems: list[str] = []
    counts = {"flows": 0, "adapters": 0, "profiles": 0}
    adapters: dict[str, Adapter] = {}
    from preflight_action.sweep.adapters import load_manifest

    for path in sorted(config.adapters_dir(root).glob("*.yaml")):
        try:
            adapter = load_manifest(path, root)
            adapters[adapter.name] = adapter
            counts["adapters"] += 1
        except InputError as error:
            problems.extend(_problems_of(error))
    policy: SafetyPolicy | None = None
    try:
        policy = config.load_policy(config.policy_file(root))
    except InputError as error:
        problems.extend(_problems_of(error))
    for path in sorted(config.profiles_dir(root).glob("*.yaml")):
        try:
            config.load_profile(path)
            counts["profiles"] += 1
        except InputError as error:
            problems.extend(_problems_of(error))
    for path in config.flow_files(root):
        try:
            flow = config.load_flow(path)
            plan = planner.build_plan(
                flow, adapters, seed=0, seed_source="chosen", python=sys.executable, device="auto", policy_path="", profile=None
            )
            counts["flows"] += 1
            if policy is not None:
                problems.extend(f"{path}: {v}" for v in safety.violations(policy, plan))
        except InputError as error:
            problems.extend(_problems_of(error))
    for problem in problems:
        print(problem)
    summary = f"{counts['flows']} flow(s), {counts['adapters']} adapter(s), {counts['profiles']} profile(s) valid"
    if problems:
        print(f"validate: {len(problems)} problem(s); {summary}", file=sys.stderr)
        return 2
    print(f"validate: ok: {summary}, policy {config.policy_file(root)}")
    return 0


def _static_policy(args: argparse.Namespace, inputs: Inputs) -> SafetyPolicy:
    if args.profile and args.profile not in ("auto", "none"):
        return safety.apply_profile(inputs.policy, named_profile(inputs.root, args.profile))
    return inputs.policy


def _checked_plan(args: argparse.Namespace, inputs: Inputs, policy: SafetyPolicy, seed: int, source: str, **extra: Any) -> dict[str, Any]:
    """The expanded plan for this flow, refused (exit 2) before anything runs when a value breaks a bound."""
    plan = planner.build_plan(
        inputs.flow,
        inputs.adapters,
        seed=seed,
        seed_source=source,
        python=inputs.python,
        device=args.device,
        policy_path=str(policy.path),
        profile=profile_ref(policy),
        **extra,
    )
    safety.enforce(policy, plan, str(inputs.flow.path))
    return plan


def cmd_plan(args: argparse.Namespace, root: Path) -> int:
    inputs = load_inputs(args, root)
    if args.shards < 1:
        raise UsageError("--shards: must be at least 1")
    policy = _static_policy(args, inputs)
    seed, source = _seed(args, inputs.flow)
    plan = _checked_plan(args, inputs, policy, seed, source, shard_count=args.shards)
    run = RunDir(args.output_root / plan["run_id"])
    planner.write_plan(run.plan, plan)
    lines = planner.describe_plan(plan)
    if args.emit_matrix:
        print("\n".join(lines), file=sys.stderr)
        print(f"plan written to {run.plan}", file=sys.stderr)
        print(json.dumps(planner.matrix(plan, args.flow), separators=(",", ":")))
    else:
        print("\n".join(lines))
        print(f"plan written to {run.plan}")
    return 0


def confirm(policy: SafetyPolicy, info: dict[str, Any], steps: int, assume_yes: bool, dry_run: bool) -> None:
    """Show the selected profile and its bounds; ask on a terminal, require --yes elsewhere."""
    profile = policy.profile
    print(f"hardware: {sysinfo.describe(info)}")
    if profile is not None:
        print(
            f"profile:  {profile.name} (priority {profile.priority}, {profile.path})"
            + (f": {profile.description.strip()}" if profile.description else "")
        )
    else:
        print(f"profile:  none matched; bounds from {policy.path} only")
    print("bounds in force:")
    print("\n".join(describe_bounds(policy)))
    if assume_yes or dry_run:
        return
    if not sys.stdin.isatty():
        raise UsageError(
            f"stdin is not a terminal: pass --yes to accept profile {profile.name if profile else 'none'} and run {steps} step(s)"
        )
    answer = input(f"Run {steps} step(s) under these bounds? [y/N] ").strip().lower()
    if answer not in ("y", "yes"):
        raise UsageError("declined at the profile confirmation; nothing ran")


def new_run_dir(output_root: Path, run_id: str) -> RunDir:
    candidate, n = output_root / run_id, 1
    while candidate.exists():
        n += 1
        candidate = output_root / f"{run_id}-{n}"
    return RunDir(candidate)


def finish(
    run: RunDir,
    plan: dict[str, Any],
    points: list[dict[str, Any]],
    started: str,
    shard: Any,
    templates: Path | None,
    *,
    dry_run: bool = False,
    interrupted: bool = False,
) -> int:
    summary = write_summaries(run, plan, points, started_utc=started, shard=shard, dry_run=dry_run, interrupted=interrupted)
    reporting.render(run, templates)
    counts = summary["counts"]
    print(
        f"sweep {summary['status']}: {counts['passed']} passed, {counts['failed'] + counts['timeout'] + counts['error']} failed, "
        f"{counts['interrupted']} interrupted, {counts['skipped']} skipped, {counts['pending']} pending · {run.path}"
    )
    return {"passed": 0, "dry_run": 0, "failed": 1}.get(summary["status"], 1)


def _select(plan: dict[str, Any], shard: dict[str, int] | None) -> list[dict[str, Any]]:
    return [p for p in plan["points"] if shard is None or p["shard"] == shard["index"]]


def _interrupted_code(signal_name: str) -> int:
    from preflight_action import interrupts

    print(f"interrupted by {signal_name}: summaries written; finish with `run --resume <RUN_ID>`", file=sys.stderr)
    return interrupts.exit_code(signal_name)


def cmd_resume(args: argparse.Namespace) -> int:
    run = find_run(args.output_root, args.resume)
    plan = planner.read_plan(run.plan)
    previous = read_doc(run.summary, "sweep_summary") if run.summary.is_file() else None
    shard = previous["shard"] if previous else None
    started = previous["started_utc"] if previous else plan["created_utc"]
    points = _select(plan, shard)
    progress = Progress(force_plain=args.plain)
    stopped = execute(run, plan, points, progress)
    code = finish(run, plan, points, started, shard, args.templates, interrupted=stopped is not None)
    return _interrupted_code(stopped) if stopped else code


def cmd_run(args: argparse.Namespace, root: Path) -> int:
    if args.resume:
        return cmd_resume(args)
    inputs = load_inputs(args, root)
    shard = None
    shard_count = 1
    if args.shard:
        index, shard_count = planner.parse_shard(args.shard)
        shard = {"index": index, "count": shard_count}
        if shard_count > 1 and args.seed is None and inputs.flow.seed is None:
            raise UsageError("--shard needs --seed (or a seed in the flow) so every shard expands the same points")
    seed, source = _seed(args, inputs.flow)
    info = sysinfo.collect_host(inputs.python) if args.no_probe else sysinfo.collect_probe(inputs.python, args.device)
    for problem in info["errors"]:
        if problem.startswith("device.resolve"):
            raise UsageError(f"--device {args.device}: {problem}")
        print(f"warning: probe: {problem}", file=sys.stderr)
    if args.profile in (None, "auto"):
        selected = safety.select_profile(config.load_profiles(config.profiles_dir(root)), sysinfo.hardware(info))
        policy = safety.apply_profile(inputs.policy, selected)
    else:
        policy = _static_policy(args, inputs)
    moment = planner.utc_now()
    suffix = f"-shard{shard['index']}of{shard['count']}" if shard else ""
    run_id = planner.make_run_id(inputs.flow, seed, moment, suffix)
    plan = _checked_plan(args, inputs, policy, seed, source, shard_count=shard_count, moment=moment, run_id=run_id)
    points = _select(plan, shard)
    confirm(policy, info, sum(len(p["steps"]) for p in points), args.yes, args.dry_run)
    run = new_run_dir(args.output_root, plan["run_id"])
    plan["run_id"] = run.run_id
    planner.write_plan(run.plan, plan)
    write_doc(run.sysinfo, info, "sysinfo")
    started = planner.iso(planner.utc_now())
    write_summaries(run, plan, points, started_utc=started, shard=shard, dry_run=args.dry_run)
    print(f"run {run.run_id}: {len(points)} point(s), seed {seed} ({source})")
    if args.dry_run:
        return finish(run, plan, points, started, shard, args.templates, dry_run=True)
    stopped = execute(run, plan, points, Progress(force_plain=args.plain))
    code = finish(run, plan, points, started, shard, args.templates, interrupted=stopped is not None)
    return _interrupted_code(stopped) if stopped else code


def cmd_rerun_last(args: argparse.Namespace, root: Path) -> int:
    last = None
    for run in list_runs(args.output_root):
        if not run.summary.is_file():
            continue
        summary = read_doc(run.summary, "sweep_summary")
        if summary["status"] == "passed" and summary["shard"] is None and not summary["sources"]:
            plan = planner.read_plan(run.plan)
            if last is None or plan["created_utc"] > last[0]["created_utc"]:
                last = (plan, run)
    if last is None:
        raise InputError(f"{args.output_root}: no passed run to repeat")
    plan, run = last
    print(f"repeating {run.run_id}: flow {plan['flow']['path']} seed {plan['seed']}")
    argv = ["--root", str(root), "--output-root", str(args.output_root), "run", "--flow", plan["flow"]["path"], "--seed", str(plan["seed"])]
    argv += ["--policy", plan["policy"], "--device", plan["device"], "--python", plan["python"]]
    argv += [
        flag
        for flag, on in (("--yes", args.yes), ("--dry-run", args.dry_run), ("--no-probe", args.no_probe), ("--plain", args.plain))
        if on
    ]
    if args.templates:
        argv += ["--templates", str(args.templates)]
    return cmd_run(parse_args(argv), root)


def cmd_clean(args: argparse.Namespace) -> int:
    if args.older_than < 0:
        raise UsageError("--older-than: must be >= 0 days")
    cutoff = datetime.now(timezone.utc) - timedelta(days=args.older_than)
    removed = 0
    for run in list_runs(args.output_root):
        try:
            created = datetime.fromisoformat(planner.read_plan(run.plan)["created_utc"].replace("Z", "+00:00"))
        except InputError:
            created = datetime.fromtimestamp(run.plan.stat().st_mtime, timezone.utc)
        if created < cutoff:
            print(f"{'would remove' if args.dry_run else 'removing'} {run.path} (planned {created:%Y-%m-%d %H:%M} UTC)")
            if not args.dry_run:
                shutil.rmtree(run.path)
            removed += 1
    print(f"clean: {removed} run(s) older than {args.older_than:g} day(s){' (dry run)' if args.dry_run else ''}")
    return 0


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    root = (args.root or config.default_root()).resolve()
    try:
        if args.command == "list-flows":
            return cmd_list_flows(root)
        if args.command == "validate":
            return cmd_validate(root)
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

            print(f"wrote {export_csv(find_run(args.output_root, args.run_id), args.output)}")
            return 0
        if args.command == "clean":
            return cmd_clean(args)
        if args.command == "rerun-last":
            return cmd_rerun_last(args, root)
        from preflight_action.sweep.merge import merge

        merged = merge(list(args.run_dirs), args.output_root)
        reporting.render(merged, args.templates)
        summary = read_doc(merged.summary, "sweep_summary")
        print(f"merged {len(args.run_dirs)} run(s) into {merged.path}: {summary['status']}")
        return 0 if summary["status"] == "passed" else 1
    except PreflightError as error:
        print(f"sweep: {' '.join(str(error).split())}", file=sys.stderr)
        return error.exit_code
