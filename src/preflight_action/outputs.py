"""Write one report where a run was asked to: the JSON, its Markdown and HTML renderings, JUnit XML, a textfile.

A step after the run (``runtime-preflight`` and the gates call it): every output is attempted, one that
fails is one line naming its flag, and the others are still written.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from preflight_action import atomic, cli_args
from preflight_action.preflight import report as report_module
from preflight_action.preflight.cli import Outputs
from preflight_action.preflight.report import Report

RENDERINGS = {"markdown": "report.md.j2", "html": "report.html.j2"}


def _rendering(report: Report, template: str, path: str) -> Callable[[], object]:
    def write() -> object:
        from preflight_action import templating
        from preflight_action.preflight import describe

        text = templating.render(template, filters=describe.template_filters(), report=report)
        return atomic.write_text(Path(path), text)

    return write


def _export(module_name: str, report: Report, path: str) -> Callable[[], object]:
    def write() -> object:
        import importlib

        return importlib.import_module(f"preflight_action.exports.{module_name}").write(report, path)

    return write


def write_all(report: Report, outputs: Outputs, prog: str) -> int:
    """Write every output ``outputs`` names; 0 when all were written, else 2 (each failure one line on stderr)."""
    steps: list[tuple[str, str, Callable[[], object]]] = [
        ("--output-path", outputs.report, lambda: report_module.write(report, outputs.report))
    ]
    for flag, path, template in (
        ("--output-md", outputs.markdown, RENDERINGS["markdown"]),
        ("--output-html", outputs.html, RENDERINGS["html"]),
    ):
        if path:
            steps.append((flag, path, _rendering(report, template, path)))
    for flag, path, module_name in (("--output-junit", outputs.junit, "junit"), ("--output-prom", outputs.prom, "prometheus")):
        if path:
            steps.append((flag, path, _export(module_name, report, path)))
    return cli_args.write_outputs(prog, steps)
