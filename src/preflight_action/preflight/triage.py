"""Rank failed checks by the severity policy and decide whether a strict run blocks."""

from __future__ import annotations

from dataclasses import replace
from typing import Any

from preflight_action.preflight import remedies
from preflight_action.preflight.report import CheckResult, Host, Severity, Triage, TriageEntry
from preflight_action.preflight.severity import BAND_ORDER, SeverityPolicy
from preflight_probe.remedies import os_release


def score_checks(checks: list[CheckResult], policy: SeverityPolicy, backend: str | None) -> list[CheckResult]:
    """Attach a severity and a remedy to every failed check (and clear both on the others)."""
    scored = []
    for check in checks:
        if check.status == "fail":
            score = policy.score(check.id, backend, check.details)
            scored.append(replace(check, severity=Severity(score, policy.band(score).name), remedy=remedies.for_failure(check)))
        else:
            scored.append(replace(check, severity=None, remedy=None))
    return scored


def os_words(caps: dict[str, Any], host: Host) -> str | None:
    """'Debian GNU/Linux 12' from capabilities.detect, else the host's platform.system()."""
    name = caps.get("os_distribution")
    if name:
        version = caps.get("os_version")
        return f"{name} {version}" if version and str(version) not in str(name) else str(name)
    release = os_release() if host.os == "Linux" else {}  # the probe never ran: read it here, same machine
    if release.get("NAME"):
        return f"{release['NAME']} {release.get('VERSION_ID', '')}".strip()
    return host.os or None


def _shares_cause(a: CheckResult, b: CheckResult) -> bool:
    """One root cause: the same diagnosed remedy, and one error is the other's with more words (a check's own context)."""
    if a.remedy != b.remedy or not remedies.diagnosed(a):
        return False
    first, second = (a.error or "").strip(), (b.error or "").strip()
    return bool(first and second) and (first.startswith(second) or second.startswith(first))


def same_causes(entries: list[TriageEntry], checks: dict[str, CheckResult]) -> list[TriageEntry]:
    """Each entry with ``cause`` set to the first (worst-ranked) entry whose failure it shares; the ranking is kept."""
    leads: list[CheckResult] = []
    out = []
    for entry in entries:
        check = checks[entry.check_id]
        lead = next((c for c in leads if _shares_cause(c, check)), None)
        if lead is None:
            leads.append(check)
        out.append(replace(entry, cause=(lead or check).id))
    return out


def build(
    checks: list[CheckResult],
    policy: SeverityPolicy,
    backend_label: str,
    threshold: str,
    where: tuple[str | None, str | None] = (None, None),
) -> Triage:
    """Triage for one report: failures by score (desc) then id, grouped by backend; ``where`` is (node, OS)."""
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
                remedy=remedies.for_failure(check),
                node=where[0],
                os=where[1],
            )
        )
    entries.sort(key=lambda e: (-e.score, e.check_id))
    entries = same_causes(entries, {c.id: c for c in checks})
    by_backend: dict[str, list[str]] = {}
    for entry in entries:
        by_backend.setdefault(entry.backend, []).append(entry.check_id)
    bands = [e.band for e in entries]
    highest = min(bands, key=BAND_ORDER.index) if bands else None
    blocking = [e.check_id for e in entries if e.blocking]
    return Triage(entries, by_backend, highest, bool(blocking), blocking)
