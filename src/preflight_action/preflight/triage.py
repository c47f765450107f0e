"""Rank failed checks by the severity policy and decide whether a strict run blocks."""

from __future__ import annotations

from dataclasses import replace

from preflight_action.preflight.report import CheckResult, Severity, Triage, TriageEntry
from preflight_action.preflight.severity import BAND_ORDER, SeverityPolicy


def score_checks(checks: list[CheckResult], policy: SeverityPolicy, backend: str | None) -> list[CheckResult]:
    """Attach a severity to every failed check (and clear it on the others)."""
    scored = []
    for check in checks:
        if check.status == "fail":
            score = policy.score(check.id, backend)
            scored.append(replace(check, severity=Severity(score, policy.band(score).name)))
        else:
            scored.append(replace(check, severity=None))
    return scored


def build(checks: list[CheckResult], policy: SeverityPolicy, backend_label: str, threshold: str) -> Triage:
    """Triage for one report: failures by score (desc) then id, grouped by backend."""
    entries = []
    for check in checks:
        if check.status != "fail" or check.severity is None:
            continue
        band = policy.band_named(check.severity.band)
        entries.append(
            TriageEntry(
                check_id=check.id,
                score=check.severity.score,
                band=band.name,
                backend=backend_label,
                error=(check.error or "")[:500],
                action=band.action,
                blocking=policy.blocks(check.severity.score, threshold),
            )
        )
    entries.sort(key=lambda e: (-e.score, e.check_id))
    by_backend: dict[str, list[str]] = {}
    for entry in entries:
        by_backend.setdefault(entry.backend, []).append(entry.check_id)
    bands = [e.band for e in entries]
    highest = min(bands, key=BAND_ORDER.index) if bands else None
    blocking = [e.check_id for e in entries if e.blocking]
    return Triage(entries, by_backend, highest, bool(blocking), blocking)
