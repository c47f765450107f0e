"""Write the requested exports of one report; each failure is one clear line naming the flag."""

from __future__ import annotations

from preflight_action.errors import InputError
from preflight_action.preflight.report import Report


def write_outputs(report: Report, junit_path: str | None = None, prom_path: str | None = None) -> list[str]:
    """Write every requested export (all are attempted); raise one InputError naming each that failed."""
    from preflight_action.exports import junit, prometheus

    written: list[str] = []
    problems: list[str] = []
    for flag, path, module in (("--output-junit", junit_path, junit), ("--output-prom", prom_path, prometheus)):
        if not path:
            continue
        try:
            module.write(report, path)
            written.append(path)
        except OSError as exc:
            problems.append(f"{flag} {path}: cannot write ({exc.strerror or exc})")
    if problems:
        raise InputError("; ".join(problems))
    return written
