"""Which of the summary's findings GitHub annotates: blocking failures as errors; other failures, invalid inputs and stale reports as warnings.

One annotation per failed check id across the matrix, worst first; ``github.annotations`` writes
them as workflow commands under GitHub's per-step caps.
"""

from __future__ import annotations

from preflight_action.github.annotations import Annotation
from preflight_action.summary.model import FailedCheck, Summary


def _message(failed: FailedCheck, total: int) -> str:
    where = ", ".join(failed.backends)
    head = f"{failed.check_id} failed in {failed.reports} of {total} report{'s' if total != 1 else ''} ({where})"
    return f"{head}: {failed.error}\n{failed.action}" if failed.error else f"{head}\n{failed.action}"


def findings(summary: Summary) -> list[Annotation]:
    """The summary's annotations, errors (blocking failures) before warnings."""
    total = summary.counts["reports"]
    found = [
        Annotation("error" if f.blocking else "warning", f"preflight {f.worst_band}: {f.check_id}", _message(f, total))
        for f in summary.top_failed
    ]
    found += [Annotation("warning", "preflight: invalid input", f"{i.path}: {i.reason}") for i in summary.invalid]
    stale = summary.counts["stale"]
    if stale:
        found.append(
            Annotation(
                "warning",
                "preflight: stale reports",
                f"{stale} report{'s are' if stale != 1 else ' is'} older than {summary.freshness_hours:g} h",
            )
        )
    return found
