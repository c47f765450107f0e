"""``--output-prom``: the report as a node_exporter textfile (``*.prom`` in ``--collector.textfile.directory``).

Metric names follow the Prometheus conventions: a ``preflight_`` prefix, base
units in the name (``_seconds``, ``_bytes_per_second``, ``_flops_per_second``,
``_ratio``), an ``_info`` metric for identity, and states as a label with a 0/1
value. Every sample carries ``node``, ``device`` and ``level``. The file is
written through a temporary file and a rename, as the collector requires, and
has no client-side timestamps (the collector rejects them).
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.core import GaugeMetricFamily, InfoMetricFamily, Metric

from preflight_action import atomic
from preflight_action.exports.labels import ReportIdentity, identity
from preflight_action.preflight.report import Report
from preflight_action.vocab import CHECK_STATUSES, VERDICTS

STATUSES = CHECK_STATUSES
TERA = 1e12
MATMUL_DTYPES = ("bf16", "fp16", "tf32")
COPY_FIGURE = "copy_tbs"
BASE = ("node", "device", "level")
CHECK = ("check", *BASE)


def _epoch(timestamp: str) -> float | None:
    try:
        return datetime.fromisoformat(timestamp.replace("Z", "+00:00")).timestamp()
    except (ValueError, AttributeError):
        return None


def _number(value: Any) -> float | None:
    """A finite number, or None (reports keep a broken device's NaN/inf as strings)."""
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return None
    return float(value) if math.isfinite(value) else None


def _gauge(name: str, documentation: str, labels: tuple[str, ...]) -> GaugeMetricFamily:
    return GaugeMetricFamily(name, documentation, labels=list(labels))


@dataclass(frozen=True)
class DrainBreaker:
    """The Slurm gate's drain circuit breaker as one run found it (``gates/slurm.py``)."""

    open: bool
    drained: int  # nodes of this node's partitions already drained by preflight
    limit: int  # drained nodes at which the gate drains no more


class ReportCollector:
    """A prometheus-client collector that yields one report's figures (registered on a private registry)."""

    def __init__(self, report: Report, breaker: DrainBreaker | None = None) -> None:
        self.report = report
        self.breaker = breaker
        self.ident: ReportIdentity = identity(report)

    def _base(self) -> list[str]:
        return [self.ident.node, self.ident.device, self.ident.level]

    def collect(self) -> Iterator[Metric]:
        report, ident, base = self.report, self.ident, self._base()
        torch_check = report.check("torch.import")
        info = InfoMetricFamily("preflight", "Identity of the node's latest preflight report.", labels=list(BASE))
        info.add_metric(
            base,
            {
                "backend": ident.backend,
                "tool_version": report.tool.version,
                "torch_version": str((torch_check.details.get("version") if torch_check else None) or "unknown"),
                "python_version": str(report.interpreter.version or "unknown"),
                "highest_band": report.triage.highest_band or "none",
                "simulated": str(report.simulated).lower(),
            },
        )
        yield info
        yield from self._report_metrics(base)
        yield from self._check_metrics(base)
        yield from self._perf_metrics(base)
        if self.breaker is not None:
            yield from self._breaker_metrics(base, self.breaker)

    def _report_metrics(self, base: list[str]) -> Iterator[Metric]:
        report = self.report
        blocking = _gauge("preflight_report_blocking", "1 when a failed check scored at or above the strict threshold.", BASE)
        blocking.add_metric(base, 1.0 if report.triage.blocking else 0.0)
        yield blocking
        verdict = _gauge(
            "preflight_report_verdict",
            "1 for the report's verdict (healthy, blocking, not_judged), 0 for the others; not_judged is never a pass.",
            (*BASE, "verdict"),
        )
        for name in VERDICTS:
            verdict.add_metric([*base, name], 1.0 if report.verdict == name else 0.0)
        yield verdict
        unfinished = _gauge(
            "preflight_report_unfinished_checks",
            "Checks the level requires that never reached their end (interrupted, cut by the budget, never reached).",
            BASE,
        )
        unfinished.add_metric(base, float(len(report.unfinished)))
        yield unfinished
        counts = _gauge("preflight_report_checks", "Checks in the report by status.", (*BASE, "status"))
        for status in STATUSES:
            counts.add_metric([*base, status], float(report.count(status)))
        yield counts
        finished = _epoch(report.finished_at)
        if finished is not None:
            stamp = _gauge("preflight_report_timestamp_seconds", "When the report was finished, as a Unix time.", BASE)
            stamp.add_metric(base, finished)
            yield stamp
        duration = _gauge("preflight_report_duration_seconds", "Wall time of the whole preflight run.", BASE)
        duration.add_metric(base, max(report.duration_ms, 0.0) / 1000.0)
        yield duration

    def _check_metrics(self, base: list[str]) -> Iterator[Metric]:
        blocking_ids = set(self.report.triage.blocking_checks)
        status = _gauge("preflight_check_status", "1 for the check's status in the latest report, 0 for the others.", (*CHECK, "status"))
        score = _gauge(
            "preflight_check_severity_score", "Severity score of a failed check (policy/severity.yaml); 0 when not failed.", CHECK
        )
        block = _gauge("preflight_check_blocking", "1 when the check failed at or above the strict threshold.", CHECK)
        duration = _gauge("preflight_check_duration_seconds", "Wall time the check took.", CHECK)
        for check in self.report.checks:
            labels = [check.id, *base]
            for name in STATUSES:
                status.add_metric([*labels, name], 1.0 if check.status == name else 0.0)
            score.add_metric(labels, float(check.severity.score) if check.severity else 0.0)
            block.add_metric(labels, 1.0 if check.id in blocking_ids else 0.0)
            duration.add_metric(labels, max(check.duration_ms, 0.0) / 1000.0)
        yield from (status, score, block, duration)

    def _perf_metrics(self, base: list[str]) -> Iterator[Metric]:
        matmul = _gauge(
            "preflight_perf_matmul_flops_per_second", "Measured dense matmul throughput per dtype (perf.matmul).", (*CHECK, "dtype")
        )
        copy = _gauge("preflight_perf_copy_bytes_per_second", "Measured device-to-device copy bandwidth (perf.bandwidth).", CHECK)
        ratio = _gauge("preflight_perf_reference_ratio", "Measured figure over the SKU reference (gpu_reference.yaml).", (*CHECK, "figure"))
        threshold = _gauge(
            "preflight_perf_reference_threshold_ratio", "Lowest reference ratio the policy accepts for the figure.", (*CHECK, "figure")
        )
        for check_id in ("perf.matmul", "perf.bandwidth"):
            check = self.report.check(check_id)
            if check is None:
                continue
            figures = check.details.get("figures") or {}
            reference = check.details.get("reference") or {}
            expected = reference.get("expected") or {}
            limit = _number(reference.get("threshold"))
            labels = [check_id, *base]
            for figure, raw in sorted(figures.items()):
                value = _number(raw)
                if value is None:
                    continue
                if figure in MATMUL_DTYPES:
                    matmul.add_metric([*labels, figure], value * TERA)
                elif figure == COPY_FIGURE:
                    copy.add_metric(labels, value * TERA)
                want = _number(expected.get(figure))
                if reference.get("sku") and want and want > 0:
                    ratio.add_metric([*labels, figure], value / want)
                    if limit is not None:
                        threshold.add_metric([*labels, figure], limit)
        for family in (matmul, copy, ratio, threshold):
            if family.samples:
                yield family

    def _breaker_metrics(self, base: list[str], breaker: DrainBreaker) -> Iterator[Metric]:
        opened = _gauge(
            "preflight_gate_drain_breaker_open",
            "1 when the Slurm gate found its drain circuit breaker open (too many nodes drained by preflight) and did not drain.",
            BASE,
        )
        opened.add_metric(base, 1.0 if breaker.open else 0.0)
        drained = _gauge("preflight_gate_drained_nodes", "Nodes of this node's partitions already drained by preflight.", BASE)
        drained.add_metric(base, float(breaker.drained))
        limit = _gauge("preflight_gate_drain_limit_nodes", "Drained nodes at which the Slurm gate drains no more (--max-drained).", BASE)
        limit.add_metric(base, float(breaker.limit))
        yield from (opened, drained, limit)


def render(report: Report, breaker: DrainBreaker | None = None) -> str:
    """The textfile: prometheus-client's text exposition of a private registry (escaped label values, HELP and TYPE)."""
    registry = CollectorRegistry(auto_describe=False)
    registry.register(ReportCollector(report, breaker))
    return generate_latest(registry).decode("utf-8")


def write(report: Report, path: str | Path, breaker: DrainBreaker | None = None) -> Path:
    target = Path(path)
    if target.suffix != ".prom":
        from preflight_action.errors import UsageError

        raise UsageError(f"--output-prom {path}: node_exporter's textfile collector reads only *.prom files")
    return atomic.write_text(target, render(report, breaker))
