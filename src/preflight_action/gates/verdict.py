"""The gate verdict: a report's verdict read as healthy / blocking / not judged (exit 0 / 1 / 2).

It never re-decides what failed: ``Report.verdict`` and the triage's ranking come from the report;
this module only chooses which words a one-line engine sees.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from preflight_action.vocab import VERDICT_WORDS, Verdict

if TYPE_CHECKING:  # annotations only: the preflight's argument parser imports the gates before its worker starts
    from preflight_action.preflight.report import Report, TriageEntry

HEALTHY = PASS = 0  # every required check ran to its end, nothing blocking (non-blocking failures are warnings)
BLOCKING = 1  # a failed check at or above the strict threshold
NOT_JUDGED = COULD_NOT_RUN = 2  # no verdict on the node: unfinished checks, a refused report, bad flags, our own failure
CODES: dict[Verdict, int] = {"healthy": HEALTHY, "blocking": BLOCKING, "not_judged": NOT_JUDGED}

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
    def verdict(self) -> Verdict:
        return next(name for name, code in CODES.items() if code == self.code)

    @property
    def word(self) -> str:
        return VERDICT_WORDS[self.verdict]


def could_not_run(reason: str) -> GateVerdict:
    """Not judged because the tool could not produce or accept a report (the node is left as it is)."""
    return GateVerdict(NOT_JUDGED, _cap(f"preflight: not judged: {first_line(reason)}; the node was left as it is"))


def _unfinished_words(report: Report) -> str:
    unfinished = report.unfinished
    if report.interrupted_by:
        why = f"the run was interrupted by {report.interrupted_by}"
    elif any(check.unfinished in ("budget_cut", "budget_exhausted") for check in unfinished):
        budget = report.options.budget_s
        why = f"the --budget of {budget:g} s ran out" if budget else "the budget ran out"
    else:
        why = "the run did not reach them"
    names = ", ".join(check.id for check in unfinished[:4]) + (", ..." if len(unfinished) > 4 else "")
    count = len(unfinished)
    return f"{count} required check{'s' if count != 1 else ''} did not finish ({names}): {why}"


def from_report(report: Report) -> GateVerdict:
    if report.simulated:
        return could_not_run("the report is from a simulated run, which never counts as a real verdict")
    entries = list(report.triage.top_failed_checks)
    verdict = report.verdict
    if verdict == "blocking":
        worst = next(entry for entry in entries if entry.blocking)
        line = f"preflight: {worst.check_id} {worst.band} (score {worst.score}): {first_line(worst.error) or 'failed'}"
        return GateVerdict(BLOCKING, _cap(line), report, worst, [e for e in entries if not e.blocking])
    if verdict == "not_judged":
        line = f"preflight: not judged: {_unfinished_words(report)}; the node was left as it is"
        return GateVerdict(NOT_JUDGED, _cap(line), report, None, entries)
    passed = report.count("pass")
    if entries:
        worst = entries[0]
        line = f"preflight: healthy, no blocking failure; {len(entries)} below the threshold, worst {worst.check_id} {worst.band}"
        return GateVerdict(HEALTHY, _cap(line), report, None, entries)
    return GateVerdict(HEALTHY, f"preflight: healthy, {passed} checks passed", report)
