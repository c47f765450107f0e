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


def textfile_path(text: str) -> str:
    """argparse type for --output-prom: a writable ``*.prom`` path (the only files the textfile collector reads)."""
    import argparse

    from preflight_action import cli_args

    if not text.endswith(".prom"):
        raise argparse.ArgumentTypeError(f"{text}: node_exporter's textfile collector reads only *.prom files")
    return cli_args.output_file(text)


def write_requested(report: Report, junit_path: str | None, prom_path: str | None, prog: str) -> int:
    """The preflight CLI's exports after its report: each failure one stderr line; 0, or 2 when one failed."""
    if not (junit_path or prom_path):
        return 0
    from preflight_action import cli_args
    from preflight_action.exports import junit, prometheus

    outputs = [
        (flag, path, lambda module=module, path=path: module.write(report, path))
        for flag, path, module in (("--output-junit", junit_path, junit), ("--output-prom", prom_path, prometheus))
        if path
    ]
    return cli_args.write_outputs(prog, outputs)
