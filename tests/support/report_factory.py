"""Schema-valid preflight reports for the summary, delta and history tests, built by the real triage code."""

from __future__ import annotations

import json
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

from preflight_action import schemas
from preflight_action.matrix import model as matrix
from preflight_action.preflight import severity, triage
from preflight_action.preflight.report import CheckResult, Host, Interpreter, Report, RunOptions, Tool, fingerprint

CHECK_IDS = ("torch.import", "device.resolve", "capabilities.detect", "tensor.smoke", "dtype.support", "perf.matmul", "perf.bandwidth")


def report_doc(
    node: str = "node-a",
    backend: str = "cuda",
    failures: dict[str, str] | None = None,
    finished_at: datetime | None = None,
    figures: dict[str, float] | None = None,
    sku: str = "NVIDIA H100 80GB HBM3",
    torch: str = "2.14.1+cu130",
    driver: str = "575.51.03",
    simulated: bool = False,
    ci: dict[str, Any] | None = None,
    level: str | None = None,
) -> dict[str, Any]:
    """A report; ``figures`` (bf16, fp16, copy_tbs ...) become perf.matmul / perf.bandwidth details; ``level`` its --level."""
    failures = failures or {}
    figures = figures or {}
    moment = finished_at or datetime.now(timezone.utc) - timedelta(minutes=30)
    checks = []
    for check_id in CHECK_IDS:
        details: dict[str, Any] = {}
        if check_id == "capabilities.detect":
            details = {"device_name": sku, "torch_version": torch, "cuda_driver_version": driver, "cpu_count": 8}
        elif check_id == "perf.matmul":
            details = {"figures": {k: v for k, v in figures.items() if k != "copy_tbs"}, "device": f"{backend}:0"}
        elif check_id == "perf.bandwidth":
            details = {"figures": {k: v for k, v in figures.items() if k == "copy_tbs"}, "device": f"{backend}:0"}
        if check_id in failures:
            checks.append(CheckResult(check_id, "fail", duration_ms=5.0, error=failures[check_id], details=details))
        else:
            checks.append(CheckResult(check_id, "pass", duration_ms=3.0, details=details))
    return build(checks, node=node, backend=backend, finished_at=matrix.iso(moment), ci=ci, simulated=simulated, level=level)


def build(
    checks: list[CheckResult],
    *,
    node: str,
    backend: str,
    finished_at: str,
    ci: dict[str, Any] | None = None,
    simulated: bool = False,
    os_name: str = "Linux",
    python: str = "3.12.4",
    check_torchvision: bool = False,
    level: str | None = None,
    interrupted_by: str | None = None,
) -> dict[str, Any]:
    """The schema-valid report document of ``checks``, scored and triaged by the real code with the shipped policy."""
    policy = severity.load()
    scored = triage.score_checks(checks, policy, backend)
    report = Report(
        tool=Tool("preflight-action", "0.1.0"),
        started_at=matrix.iso(matrix.parse_time(finished_at) - timedelta(seconds=2)),
        finished_at=finished_at,
        duration_ms=2000.0,
        requested_device=backend,
        resolved_device=f"{backend}:0" if backend != "cpu" else "cpu",
        backend=backend,
        options=RunOptions(
            check_torchvision=check_torchvision,
            check_compile=False,
            strict=True,
            strict_threshold="medium",
            check_timeout_s=120.0,
            policy="policy/severity.yaml",
            **({"level": level} if level else {}),
        ),
        interpreter=Interpreter("/usr/bin/python3", python, "sys.executable"),
        host=Host(node_id=node, hostname=node, os=os_name, arch="x86_64"),
        ci=ci,
        checks=scored,
        env_fingerprint=fingerprint({"node": node, "backend": backend}),
        triage=triage.build(scored, policy, backend, "medium"),
        simulated=simulated,
        interrupted_by=interrupted_by,
    )
    document = report.to_dict()
    schemas.validate(document, "preflight_report", "test factory")
    return document


def write(directory: Path, documents: list[dict[str, Any]]) -> str:
    """The documents as report files in a fresh ``directory``; the glob that matches them."""
    directory.mkdir(parents=True, exist_ok=True)
    for old in directory.glob("*.json"):
        old.unlink()
    for index, document in enumerate(documents):
        (directory / f"report-{index:03d}.json").write_text(json.dumps(document), encoding="utf-8")
    return str(directory / "*.json")


def interrupted(node: str = "node-a", backend: str = "cpu", finished_at: datetime | None = None) -> dict[str, Any]:
    """A report of a run Ctrl-C stopped after three checks passed: the rest never ran (status incomplete, not judged)."""
    checks = [CheckResult(check_id, "pass", duration_ms=3.0) for check_id in CHECK_IDS[:3]]
    checks += [
        CheckResult.skipped(check_id, "not run: the run was interrupted by SIGINT", unfinished="interrupted") for check_id in CHECK_IDS[3:]
    ]
    moment = finished_at or datetime.now(timezone.utc) - timedelta(minutes=30)
    return build(checks, node=node, backend=backend, finished_at=matrix.iso(moment), interrupted_by="SIGINT")
