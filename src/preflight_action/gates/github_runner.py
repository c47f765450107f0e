"""``--gate github-runner``: a self-hosted runner's ``ACTIONS_RUNNER_HOOK_JOB_STARTED`` script.

The runner runs the hook before the job; a non-zero exit fails the job before
any step runs, and the hook's output lands in the job's log. With
``$GITHUB_STEP_SUMMARY`` set, the gate appends a section to the job summary.
The hook script (deploy/github-runner) turns "could not run" (2) into a
warning and exit 0, so our own breakage never fails a job.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

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
    text = templating.render("gate_summary.md.j2", verdict=verdict, node=node, rows=_rows(verdict), report_path=report_path, level=level)
    if len(text.encode("utf-8")) > SUMMARY_LIMIT:
        text = text.encode("utf-8")[: SUMMARY_LIMIT - 200].decode("utf-8", "ignore") + "\n\n(truncated: see the report artifact)\n"
    return text


def apply(verdict: GateVerdict, node: str, report_path: str | None, environ: dict[str, str] | None = None) -> int:
    from preflight_action.github.annotations import command

    env = os.environ if environ is None else environ
    summary = env.get("GITHUB_STEP_SUMMARY")
    if summary:
        try:
            with Path(summary).open("a", encoding="utf-8") as handle:
                handle.write(summary_markdown(verdict, node, report_path) + "\n")
        except OSError as exc:
            print(f"preflight gate: cannot append to $GITHUB_STEP_SUMMARY {summary}: {exc.strerror or exc}", file=sys.stderr)
    kind = {BLOCKING: "error", COULD_NOT_RUN: "warning"}.get(verdict.code, "notice")
    print(command(kind, verdict.line, title=f"preflight gate on {node}"), flush=True)
    return verdict.code
