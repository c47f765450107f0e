"""The gate verdict: a report's triage read as pass / blocking / could not run (NVIDIA Health Validation's 0 / 1 / 2).

It never re-decides what failed: ``blocking`` and the ranking come from the
report's triage; this module only chooses which words a one-line engine sees.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING

if TYPE_CHECKING:  # annotations only: the preflight's argument parser imports the gates before its worker starts
    from preflight_action.preflight.report import Report, TriageEntry

PASS = 0  # nothing blocking (non-blocking failures are warnings)
BLOCKING = 1  # a failed check at or above the strict threshold
COULD_NOT_RUN = 2  # the gate has no verdict: our tool broke, bad flags, no report

LINE_LIMIT = 200


def first_line(text: str, limit: int = LINE_LIMIT) -> str:
    line = " ".join(next((part for part in (text or "").splitlines() if part.strip()), "").split())
    return line if len(line) <= limit else line[: limit - 1] + "…"


def _cap(line: str) -> str:
    return line if len(line) <= LINE_LIMIT else line[: LINE_LIMIT - 1] + "…"


@dataclass(frozen=True)
class GateVerdict:
    code: int
    line: str  # one short line, worst finding first: what NPD, the runner log and the drain reason show
    report: Report | None = None
    worst: TriageEntry | None = None
    warnings: list[TriageEntry] = field(default_factory=list)

    @property
    def word(self) -> str:
        return {PASS: "pass", BLOCKING: "blocking", COULD_NOT_RUN: "could not run"}[self.code]


def could_not_run(reason: str) -> GateVerdict:
    return GateVerdict(COULD_NOT_RUN, _cap(f"preflight: could not run: {first_line(reason)}; the node was not judged"))


def from_report(report: Report) -> GateVerdict:
    if report.simulated:
        return could_not_run("the report is from a simulated run, which never counts as a real verdict")
    entries = list(report.triage.top_failed_checks)
    if report.triage.blocking:
        worst = next(entry for entry in entries if entry.blocking)
        line = f"preflight: {worst.check_id} {worst.band} (score {worst.score}): {first_line(worst.error) or 'failed'}"
        return GateVerdict(BLOCKING, _cap(line), report, worst, [e for e in entries if not e.blocking])
    passed = report.count("pass")
    if entries:
        worst = entries[0]
        line = f"preflight: no blocking failure; {len(entries)} below the threshold, worst {worst.check_id} {worst.band}"
        return GateVerdict(PASS, _cap(line), report, None, entries)
    return GateVerdict(PASS, f"preflight: healthy, {passed} checks passed", report)
