"""``summarize``: merge preflight reports into one Markdown + JSON summary, job summary, PR comment.

Exit codes: 0 the summary was written from valid inputs (a PR comment that
could not be posted is a warning); 1 --require-comment and the comment could
not be posted; 2 bad usage or input: unknown flag, a glob matching no file, an
unreadable policy, or an input report that is unreadable or fails its schema
(then every output is still written, the bad file listed in it, unless
--allow-invalid, which keeps exit 0).
"""

from __future__ import annotations

import argparse
import gc
import re
import sys
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path
from typing import Any

from preflight_action import __version__, cli_args
from preflight_action.errors import PreflightError, UsageError
from preflight_action.vocab import FAIL_ON

PROG = "preflight-summarize"
_RUN_PAGE = re.compile(r"^(https://[^\s#?]+/actions/runs/\d+)(?:[#?/].*)?$")

EPILOG = """\
exit codes:
  0  summary written from valid inputs; a PR comment that could not be posted
     is a warning
  1  --fail-on failure and a report failed or was not judged (a required check
     never finished), --fail-on regression and a check fails that did not fail
     in the baseline (a new failure), --fail-on perf-regression and a figure
     regressed against its node's history (or no history could be read),
     --fail-on outlier and a node's figure is an outlier among its peers', or
     --require-comment and the PR comment could not be posted
  2  bad usage or input: no file matches --input-glob, bad --policy, an output
     that is one of the inputs (refused before anything is written), or an
     input that is unreadable or fails the report schema (all outputs are
     still written and list it; --allow-invalid keeps exit 0 for those)

GitHub Actions: --step-summary appends to $GITHUB_STEP_SUMMARY; --post-comment
reads the repository from GITHUB_REPOSITORY, the pull request from the event in
GITHUB_EVENT_PATH, the token from the variable named by --token-env (never
printed) and the API from GITHUB_API_URL; flags override each. --baseline
github reads the same repository, token and API, the base branch from
GITHUB_BASE_REF (else GITHUB_REF_NAME) and the workflow from GITHUB_WORKFLOW_REF.
"""


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = cli_args.Parser(
        prog=cli_args.prog(PROG),
        description="Merge preflight reports (JSON) into one summary: status table, severity triage, node x backend matrix.",
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument(
        "--input-glob", action="append", required=True, metavar="GLOB", help="report files to merge (repeatable; ** recurses); quote it"
    )
    parser.add_argument(
        "--output-md",
        type=cli_args.output_file,
        default=None,
        metavar="PATH",
        help="write the Markdown summary here (with no output flag and no step summary target it goes to stdout)",
    )
    parser.add_argument(
        "--output-json",
        type=cli_args.output_file,
        default=None,
        metavar="PATH",
        help="write the JSON summary here (schemas/preflight_summary.schema.json)",
    )
    parser.add_argument("--step-summary", action="store_true", help="append the Markdown to $GITHUB_STEP_SUMMARY (kept under 1 MiB)")
    parser.add_argument("--post-comment", action="store_true", help="create or update the sticky PR comment (kept under 65,536 characters)")
    parser.add_argument(
        "--comment-key",
        default="default",
        help="one sticky comment per key, so two workflows do not overwrite each other (default: default)",
    )
    parser.add_argument(
        "--comment-author",
        default=None,
        metavar="LOGIN",
        help="login whose comments count as ours (default: GET /user, else github-actions[bot])",
    )
    parser.add_argument("--require-comment", action="store_true", help="exit 1 when the PR comment cannot be posted (default: a warning)")
    parser.add_argument("--repo", default=None, metavar="OWNER/NAME", help="repository (default: $GITHUB_REPOSITORY)")
    parser.add_argument(
        "--pr",
        type=cli_args.positive_int,
        default=None,
        metavar="NUMBER",
        help="pull request number (default: from the event in $GITHUB_EVENT_PATH)",
    )
    parser.add_argument(
        "--token-env", default="GITHUB_TOKEN", metavar="NAME", help="environment variable holding the token (default: GITHUB_TOKEN)"
    )
    parser.add_argument(
        "--api-url", default=None, metavar="URL", help="GitHub REST API root (default: $GITHUB_API_URL or https://api.github.com)"
    )
    parser.add_argument(
        "--freshness-hours",
        type=cli_args.positive_hours,
        default=24.0,
        metavar="HOURS",
        help="reports finished longer ago are flagged stale (default: 24)",
    )
    parser.add_argument(
        "--annotations", action="store_true", help="print ::error::/::warning:: lines for failed checks (GitHub caps 10 of each per step)"
    )
    parser.add_argument(
        "--artifact-url", default=None, metavar="URL", help="link to the uploaded artifacts (default: the run's page when GITHUB_* is set)"
    )
    parser.add_argument(
        "--run-url",
        default=None,
        metavar="URL",
        help="the workflow run the reports came from (default: derived from --artifact-url when it is a run page, else this run)",
    )
    parser.add_argument(
        "--allow-invalid",
        action="store_true",
        help="exit 0 even when an input is unreadable or fails the report schema (it is still listed)",
    )
    parser.add_argument(
        "--policy", default=None, metavar="PATH", help="severity policy YAML for the action lines (default: the shipped one)"
    )
    parser.add_argument(
        "--baseline",
        default=None,
        metavar="PATH|github",
        help="compare with a previous summary JSON (or 'github': the base branch's last successful run's artifact) "
        "and lead with new failures, then fixed, then still failing; a missing baseline is a note",
    )
    parser.add_argument(
        "--baseline-branch",
        default=None,
        metavar="BRANCH",
        help="--baseline github: the branch (default: $GITHUB_BASE_REF, else $GITHUB_REF_NAME)",
    )
    parser.add_argument(
        "--baseline-workflow",
        default=None,
        metavar="FILE",
        help="--baseline github: the workflow file, e.g. ci.yml (default: this run's, from $GITHUB_WORKFLOW_REF)",
    )
    parser.add_argument(
        "--baseline-artifact",
        default="runtime-preflight-summary",
        metavar="NAME",
        help="--baseline github: the artifact holding the summary JSON (default: runtime-preflight-summary)",
    )
    parser.add_argument(
        "--fail-on",
        choices=FAIL_ON,
        default="never",
        help="exit 1 when a report failed or was not judged (failure), only when a check fails that did not in the "
        "baseline (regression), when a performance figure dropped below its node's own history (perf-regression, "
        "needs --history), when a node's performance figure is an outlier among its peers' (outlier: policy/peers.yaml), "
        "or never (default: never)",
    )
    parser.add_argument(
        "--history",
        default=None,
        metavar="PATH",
        help="JSON-lines run history (schemas/history_record.schema.json): judge this run against each node's past "
        "(regressions, flaky checks, trend charts), then append it (created when missing)",
    )
    parser.add_argument(
        "--history-from",
        choices=("github",),
        default=None,
        help="when the --history file is not here, fetch it from this workflow's last successful run on this branch "
        "(the --history-artifact artifact); none there is a note and a new history",
    )
    parser.add_argument("--history-artifact", default="runtime-preflight-history", metavar="NAME", help="--history-from: the artifact name")
    parser.add_argument(
        "--history-policy", default=None, metavar="PATH", help="retention and regression thresholds (default: policy/history.yaml)"
    )
    parser.add_argument("--quiet", action="store_true", help="no progress lines")
    parser.add_argument("--version", action="version", version=f"preflight-summarize {__version__}")
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    prog = cli_args.prog(PROG)
    if args.history_from and not args.history:
        print(f"{prog}: {cli_args.unused('--history-from', '--history PATH (the history it would fetch)')}", file=sys.stderr)
    collecting = gc.isenabled()
    gc.disable()  # thousands of acyclic records: cyclic GC passes over them cost more than the work itself
    try:
        return _run(args)
    except PreflightError as error:
        print(f"{prog}: error: {error}", file=sys.stderr)
        return error.exit_code
    finally:
        if collecting:
            gc.enable()


def _plural(count: int, noun: str) -> str:
    return f"{count} {noun}{'' if count == 1 else 's'}"


def _run_page(url: str | None) -> str | None:
    """``https://github.com/o/r/actions/runs/123`` out of a run's artifacts link: a workflow_run
    poster links the CI run that made the reports, not itself."""
    match = _RUN_PAGE.match(url or "")
    return match.group(1) if match else None


def _say(args: argparse.Namespace, line: str) -> None:
    if not args.quiet:
        print(line, file=sys.stderr, flush=True)


def _run(args: argparse.Namespace) -> int:
    from preflight_action import atomic, ci, redact
    from preflight_action.github import limits
    from preflight_action.preflight import severity as policy
    from preflight_action.summary import compare
    from preflight_action.summary import load as summary_load
    from preflight_action.summary import markdown as summary_render
    from preflight_action.summary import model as summary
    from preflight_action.summary import serialise as summary_json

    outputs = [(flag, path) for flag, path in (("--output-json", args.output_json), ("--output-md", args.output_md)) if path]
    cli_args.refuse_outputs_over_inputs(outputs, _read_files(args))
    cli_args.refuse_outputs_over_inputs([("--output-md", args.output_md)], [("--output-json", args.output_json)])
    step_summary = _step_summary_target(args)
    paths, own = _without_own_outputs(summary_load.expand(args.input_glob), outputs, args.input_glob)
    if not paths:
        only = f" but {' and '.join(own)}, this command's own earlier output" if own else ""
        raise UsageError(f"--input-glob {' '.join(args.input_glob)}: no file matches{only} (did the report artifacts download?)")
    _say(args, f"summarize: reading {len(paths)} file{'s' if len(paths) != 1 else ''}")
    severity = policy.load(args.policy)
    inputs = summary_load.load_reports(paths)
    run_url = args.run_url or _run_page(args.artifact_url) or ci.run_url()
    merged = summary.build(
        inputs,
        severity,
        freshness_hours=args.freshness_hours,
        run_url=run_url,
        artifact_url=args.artifact_url or (f"{run_url}#artifacts" if run_url else None),
    )
    hint = args.output_json or args.output_md
    secrets = redact.secret_values()  # reports are scrubbed when written; this guards what we publish
    merged, history_failed, append_history = _compare(args, merged, inputs, secrets)

    def scrub(text: str) -> str:
        return redact.scrub_text(text, secrets)

    files: list[tuple[str, str, Callable[[], object]]] = []  # one failing at write time: one line, exit 2, the others written
    if args.output_json:
        files.append(("--output-json", args.output_json, lambda: atomic.write_text(args.output_json, scrub(summary_json.dumps(merged)))))
    if args.output_md:
        markdown = summary_render.render(merged, args.comment_key, artifact_hint=hint, scrub=scrub).text
        files.append(("--output-md", args.output_md, lambda: atomic.write_text(args.output_md, markdown)))
    if step_summary:
        files.append(("--step-summary", step_summary, lambda: _append_step_summary(args, step_summary, merged, hint, scrub)))
    unwritten = cli_args.write_outputs("summarize", files)
    if append_history is not None:  # after the summary: an interrupted run never leaves a history ahead of it
        try:
            append_history()
        except PreflightError as error:
            print(f"summarize: error: {error}", file=sys.stderr, flush=True)
            history_failed = True
    if not files and not args.post_comment:
        if args.annotations:  # stdout carries the workflow commands
            print("summarize: warning: no --output-md, --output-json or --step-summary target: no summary written", file=sys.stderr)
        else:
            sys.stdout.write(summary_render.render(merged, args.comment_key, artifact_hint=hint, scrub=scrub).text)
    for item in merged.invalid:  # printed even with --quiet: one line per bad file, file and pointer
        print(scrub(f"summarize: invalid input {item.path}: {item.reason}"), file=sys.stderr, flush=True)
    for note in inputs.notes:  # read, with its unsafe characters shown as escapes
        print(scrub(f"summarize: warning: {note}"), file=sys.stderr, flush=True)
    c = merged.counts
    _say(
        args,
        f"summarize: {merged.status}: {_plural(c['reports'], 'report')}, {c['passed']} passed, {c['failed']} failed, {c['stale']} stale, "
        f"{c['invalid']} invalid",
    )
    if args.annotations:
        from preflight_action.github import annotations
        from preflight_action.summary import annotate

        for line in annotations.lines(annotate.findings(merged)):
            print(scrub(line), flush=True)
    code = 2 if (merged.invalid and not args.allow_invalid) or unwritten else 0
    if history_failed or (merged.delta is not None and merged.delta.invalid):
        code = 2  # a bad baseline or history is bad input, like a bad report
    gated, why = compare.gate(args.fail_on, merged)
    if why:
        print(f"summarize: {why}", file=sys.stderr, flush=True)
    code = max(code, gated)
    if args.post_comment:
        body = summary_render.render(merged, args.comment_key, limit=limits.COMMENT, artifact_hint=hint, scrub=scrub).text
        if not _post_comment(args, body) and args.require_comment:
            code = max(code, 1)
    return code


def _read_files(args: argparse.Namespace) -> list[tuple[str, str | None]]:
    """(flag, path) of every file this run reads besides the reports: an output must be none of them."""
    baseline = None if args.baseline == "github" else args.baseline
    return [("--history", args.history), ("--policy", args.policy), ("--history-policy", args.history_policy), ("--baseline", baseline)]


def _without_own_outputs(found: list[Path], outputs: list[tuple[str, str]], patterns: list[str]) -> tuple[list[Path], list[str]]:
    """The matched files less this command's own earlier outputs (a summary JSON, a Markdown file), and which those were.

    An output that is a file the glob matches and that is not one of ours (a report, most often) would be read and then
    overwritten: a ``UsageError`` before anything is read or written. One stat per matched file, only when an output exists.
    """
    import os

    targets: dict[tuple[int, int], tuple[str, str]] = {}
    for flag, path in outputs:
        if cli_args.is_stream(path):
            continue
        try:
            info = os.stat(path)
        except (OSError, ValueError):
            continue  # not there yet: no glob matches it
        targets[(info.st_dev, info.st_ino)] = (flag, path)
    if not targets:
        return found, []
    kept: list[Path] = []
    own: list[str] = []
    for matched in found:
        try:
            info = os.stat(matched)
        except OSError:
            kept.append(matched)
            continue
        hit = targets.get((info.st_dev, info.st_ino))
        if hit is None:
            kept.append(matched)
            continue
        flag, output = hit
        if not _earlier_output(flag, matched):
            raise UsageError(
                f"{flag} {output} is the same file as {matched}, which --input-glob {' '.join(patterns)} matches: it would be overwritten"
            )
        own.append(f"{flag} {output}")
    return kept, own


def _earlier_output(flag: str, path: Path) -> bool:
    """True when ``path`` holds what this command writes there: a summary JSON, or for --output-md text that is not JSON."""
    import json

    from preflight_action.summary.load import KIND

    try:
        document = json.loads(path.read_bytes())
    except OSError:
        return False
    except ValueError:  # not JSON (nor UTF-8): an earlier Markdown summary, for --output-md
        return flag == "--output-md"
    return isinstance(document, dict) and document.get("kind") == KIND


def _compare(args: argparse.Namespace, merged: Any, inputs: Any, secrets: list[str]) -> tuple[Any, bool, Callable[[], None] | None]:
    """The summary with its PR delta (--baseline) and its trends (--history); True when the history was bad input;
    the history's append, to run once the summary is written."""
    from preflight_action.summary import compare

    if args.baseline:
        from preflight_action.github.artifacts import Source
        from preflight_action.summary import baseline as summary_baseline

        def source() -> Source:
            return summary_baseline.source(
                repo=args.repo,
                branch=args.baseline_branch,
                workflow=args.baseline_workflow,
                token_env=args.token_env,
                api_url=args.api_url,
                artifact=args.baseline_artifact,
            )

        base = compare.baseline(args.baseline, source)
        if base.note:
            print(f"summarize: {base.note}", file=sys.stderr, flush=True)
        merged = compare.with_delta(merged, base)
        d = merged.delta
        _say(
            args,
            f"summarize: delta: {_plural(len(d.new_failures), 'new failure')}, {len(d.fixed)} fixed, {len(d.still_failing)} still failing",
        )
    if args.history:
        if args.history_from:
            note = compare.carry_history(args.history, args.history_artifact, args.repo, args.token_env, args.api_url)
            if note:
                print(f"summarize: {note}", file=sys.stderr, flush=True)
        try:
            merged, append = compare.with_history(merged, inputs, args.history, args.history_policy, secrets)
        except PreflightError as error:  # the summary is still written (without trends, saying why); the history is left as it was
            print(f"summarize: error: {error}", file=sys.stderr, flush=True)
            return replace(merged, history_error=str(error)), True, None
        t = merged.trends
        known = f" ({t.records_known} already in it)" if t.records_known else ""
        said = f"{_plural(t.records_added, 'record')} to add{known}, {_plural(len(t.regressions), 'regression')}, {_plural(len(t.flaky), 'flaky check')}"
        _say(args, f"summarize: history: {said}")
        return merged, False, append
    return merged, False, None


def _step_summary_target(args: argparse.Namespace) -> str | None:
    """$GITHUB_STEP_SUMMARY for --step-summary, checked before any work: an unwritable one is a usage error."""
    from preflight_action.github import step_summary

    if not args.step_summary:
        return None
    target = step_summary.target()
    if not target:
        _say(args, f"summarize: --step-summary: {step_summary.ENV} is not set (not in GitHub Actions?); skipped")
        return None
    problem = cli_args.append_problem(target)
    if problem:
        raise UsageError(f"--step-summary: ${step_summary.ENV} {target}: {problem}")
    return target


def _append_step_summary(args: argparse.Namespace, target: str, merged: Any, hint: str | None, scrub: Callable[[str], str]) -> None:
    """The summary as a job summary section, as detailed as the room left in the 1 MiB allows."""
    from preflight_action.github import annotations, limits, step_summary
    from preflight_action.summary import markdown as summary_render

    room = step_summary.room(target)
    text = ""
    if room >= step_summary.MIN_ROOM:
        text = summary_render.render(merged, args.comment_key, limit=limits.STEP_SUMMARY, budget=room, artifact_hint=hint, scrub=scrub).text
    why_not = step_summary.append(target, text, summary_render.where(merged.artifact_url, hint))
    if why_not:
        print(annotations.command("warning", why_not), flush=True)


def _post_comment(args: argparse.Namespace, body: str) -> bool:
    """Post or update the sticky comment; False (after a warning line) when that is impossible."""
    from preflight_action.github import annotations
    from preflight_action.github import comment as github_comment

    try:
        target = github_comment.Target.from_environment(
            repo=args.repo,
            pr=args.pr,
            token_env=args.token_env,
            api_url=args.api_url,
            author=args.comment_author,
        )
        outcome = github_comment.upsert(target, body, args.comment_key)
    except github_comment.CommentUnavailable as why:
        print(annotations.command("warning", f"PR comment not posted: {why}", title="preflight summary"), flush=True)
        return False
    _say(args, f"summarize: PR comment {outcome.action} ({outcome.url})")
    return True


if __name__ == "__main__":
    raise SystemExit(main())
