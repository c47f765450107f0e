"""The summary against what came before: the PR delta (a baseline summary) and the trends (the run history)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace
from pathlib import Path

from preflight_action import vocab
from preflight_action.github.artifacts import Source
from preflight_action.summary import delta as summary_delta
from preflight_action.summary.load import Inputs
from preflight_action.summary.model import Summary

FAIL_ON = vocab.FAIL_ON


def baseline(spec: str, github_source: Callable[[], Source] | None = None) -> summary_delta.Baseline:
    """``spec`` is a summary JSON path, or ``github`` (then ``github_source()`` says which artifact)."""
    from preflight_action.errors import PreflightError
    from preflight_action.summary import baseline as summary_baseline

    source = "github" if spec == "github" else "file"
    try:
        if spec == "github":
            return summary_baseline.from_github(github_source() if github_source else summary_baseline.source())
        return summary_baseline.from_file(spec)
    except PreflightError as error:  # read, but not a summary: the run goes on without it, and exits 2
        return summary_delta.Baseline(source, spec, None, f"invalid baseline: {error}", invalid=True)


def with_delta(merged: Summary, base: summary_delta.Baseline) -> Summary:
    """The summary with its PR delta; each new failure says what changed since the base run on its lane."""
    from preflight_action.diff import policy as diff_policy

    lines = diff_policy.load().summary_lines
    return replace(merged, delta=summary_delta.compare(merged.rows, base, merged.inventories, lines))


def with_history(
    merged: Summary, inputs: Inputs, path: str | Path, policy_path: str | None, secrets: list[str]
) -> tuple[Summary, Callable[[], None]]:
    """Judge this run against the history at ``path``; the summary with its trends, and the append to run after
    the summary is written (``history.prepare``): an interrupted run never leaves a history ahead of its summary."""
    from preflight_action.diff.parts import Parts
    from preflight_action.history import policy as history_policy
    from preflight_action.history import update as history
    from preflight_action.matrix import model as matrix

    lanes = ((item.report, matrix.lane_from_report(item.report).backend) for item in inputs.reports)
    table = inputs.inventories.parts if inputs.inventories else {}
    parts = [Parts.resolve(item.inventory, table) for item in inputs.reports]  # the reports' inventories, slimmed out at load
    moment = matrix.parse_time(merged.generated_at)
    found, pending = history.prepare(
        path, lanes, merged.generated_at, moment, history_policy.load(policy_path), merged.run_url, secrets, parts
    )
    return replace(merged, trends=found), pending.write


def carry_history(path: str | Path, artifact: str, repo: str | None, token_env: str, api_url: str | None) -> str | None:
    """Fetch the history ``path`` from this workflow's last successful run on this branch when it is not here yet.

    Returns a note when there is none to fetch (a first night starts a new history).
    """
    import os

    from preflight_action.summary import baseline as summary_baseline

    if Path(path).exists():
        return None
    source = summary_baseline.source(
        repo=repo, branch=os.environ.get("GITHUB_REF_NAME") or None, token_env=token_env, api_url=api_url, artifact=artifact
    )
    note = summary_baseline.fetch_history(source, path)
    return f"{note}; a new history starts" if note else None


def gate(fail_on: str, merged: Summary) -> tuple[int, str | None]:
    """--fail-on: (1, why) when the run failed or was not judged (failure), has a failure the baseline did not
    (regression), a figure dropped below its node's own history (perf-regression), or a node figure is an outlier
    among its peers' (outlier)."""
    if fail_on == "failure":
        if merged.status == "fail":
            return 1, f"--fail-on failure: {merged.counts['failed']} reports failed"
        not_judged = merged.counts.get("not_judged", 0)
        if not_judged:  # a run cut short is not a pass: a gate that says "green" must have judged everything
            return (
                1,
                f"--fail-on failure: {not_judged} report{'s were' if not_judged != 1 else ' was'} not judged (a required check never finished)",
            )
    if fail_on == "regression":
        if merged.delta is None:  # nothing to compare with: every failure is new
            return (1, "--fail-on regression without --baseline: every failure counts as new") if merged.status == "fail" else (0, None)
        if merged.delta.new_failures:
            count = len(merged.delta.new_failures)
            return 1, f"--fail-on regression: {count} new failure{'s' if count != 1 else ''} against the baseline"
    if fail_on == "outlier" and merged.peers is not None and merged.peers.outliers:
        outliers = merged.peers.outliers
        what = "1 figure below its" if len(outliers) == 1 else f"{len(outliers)} figures below their"
        return 1, f"--fail-on outlier: {what} peers' (worst: {outliers[0].words})"
    if fail_on == "perf-regression":
        if merged.trends is None:
            return 1, "--fail-on perf-regression needs --history (a readable one): no figure could be judged"
        found = merged.trends.regressions
        if found:
            worst = found[0]
            more = f" (+{len(found) - 1} more)" if len(found) > 1 else ""
            return 1, (
                f"--fail-on perf-regression: {worst.node_id} {worst.check_id} {worst.metric} {worst.value:g} is "
                f"{worst.drop_percent:g}% below its median {worst.baseline:g}{more}"
            )
    return 0, None
