"""``--gate github-runner``: a self-hosted runner's ``ACTIONS_RUNNER_HOOK_JOB_STARTED`` script.

The runner runs the hook before the job; a non-zero exit fails the job before
any step runs, and the hook's output lands in the job's log. With
``$GITHUB_STEP_SUMMARY`` set, the gate appends a section to the job summary.
This module turns the verdict into data (the section's Markdown, the
annotation's kind and line); ``github/`` writes them.
The hook script (deploy/github-runner) turns "could not run" (2) into a
warning and exit 0, so our own breakage never fails a job.
"""

from __future__ import annotations

import sys

from preflight_action.gates.verdict import BLOCKING, COULD_NOT_RUN, GateVerdict

SUMMARY_LIMIT = 64 * 1024  # our section's share of the step summary's 1 MiB


def _rows(verdict: GateVerdict) -> list[dict[str, object]]:
    if verdict.report is None:
        return []
    rows = []
    for entry in verdict.report.triage.top_failed_checks:
        check = verdict.report.check(entry.check_id)
        remedy = getattr(check, "remedy", None) or getattr(entry, "remedy", None) or entry.action
        rows.append(
            {
                "check": entry.check_id,
                "band": entry.band,
                "score": entry.score,
                "blocking": entry.blocking,
                "error": entry.error,
                "remedy": remedy,
            }
        )
    return rows


def summary_markdown(verdict: GateVerdict, node: str, report_path: str | None) -> str:
    from preflight_action import templating

    level = verdict.report.options.level if verdict.report else "unknown"
    return templating.render("gate_summary.md.j2", verdict=verdict, node=node, rows=_rows(verdict), report_path=report_path, level=level)


def apply(verdict: GateVerdict, node: str, report_path: str | None, environ: dict[str, str] | None = None) -> int:
    from preflight_action import templating
    from preflight_action.github import annotations, step_summary

    target = step_summary.target(environ)
    if target:
        where = (
            f"The whole report is {templating.md_cell(report_path)}." if report_path else "The whole report is the preflight report JSON."
        )
        try:
            why_not = step_summary.append(target, summary_markdown(verdict, node, report_path) + "\n", where, share=SUMMARY_LIMIT)
        except OSError as exc:
            why_not = f"cannot append to ${step_summary.ENV} {target}: {exc.strerror or exc}"
        if why_not:
            print(f"preflight gate: {why_not}", file=sys.stderr)
    kind = {BLOCKING: "error", COULD_NOT_RUN: "warning"}.get(verdict.code, "notice")
    print(annotations.command(kind, verdict.line, title=f"preflight gate on {node}"), flush=True)
    return verdict.code
