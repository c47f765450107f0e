"""Reports for the export and gate tests: real preflight runs (a healthy stack, a venv without torch) and a GPU perf case."""

from __future__ import annotations

import json
import subprocess
import sys
import venv
from pathlib import Path
from typing import Any

from tests.conftest import ROOT

PREFLIGHT = ROOT / "scripts" / "runtime_preflight.py"
GATE = ROOT / "scripts" / "gate.py"
EXPORT = ROOT / "scripts" / "export.py"


def no_torch_python(where: Path) -> Path:
    """A real interpreter that cannot import torch: a fresh venv without site packages."""
    venv.EnvBuilder(with_pip=False).create(where)
    return where / "bin" / "python"


def run_preflight(out: Path, *args: str, python: Path | None = None, env: dict[str, str] | None = None) -> Path:
    """The real preflight CLI in a subprocess; returns the report path."""
    argv = [sys.executable, str(PREFLIGHT), "--device", "cpu", "--quiet", "--output-path", str(out), *args]
    if python:
        argv += ["--python", str(python)]
    done = subprocess.run(argv, capture_output=True, text=True, timeout=300, env=env, check=False)
    assert done.returncode == 0, done.stderr
    assert out.exists(), done.stderr
    return out


def _perf_check(check_id: str, figures: dict[str, float], expected: dict[str, float], score: int, error: str) -> dict[str, Any]:
    return {
        "id": check_id,
        "status": "fail",
        "duration_ms": 812.5,
        "details": {"device": "cuda:0", "figures": figures, "reference": {"sku": "H100 SXM", "expected": expected, "threshold": 0.7}},
        "error": error,
        "skip_reason": None,
        "severity": {"score": score, "band": "high"},
        "source": "probe",
    }


def perf_report(healthy: Path, out: Path) -> Path:
    """A degraded H100 (tests/data/perf_figures.json) grafted onto a real report: what perf exports see on a GPU node.

    The figures and the SKU expectation follow policy/gpu_reference.yaml (expected = datasheet x achievable);
    the severity scores are policy/severity.yaml's. The result is schema-checked when read.
    """
    document = json.loads(healthy.read_text())
    cases = json.loads((ROOT / "tests" / "data" / "perf_figures.json").read_text())["cases"]
    figures = cases["h100_sxm_degraded"]["figures"]
    expected = {"bf16": 781.6, "fp16": 781.6, "tf32": 390.8, "copy_tbs": 3.015}
    matmul = {k: figures[k] for k in ("bf16", "fp16", "tf32")}
    replaced = {
        "perf.matmul": _perf_check(
            "perf.matmul", matmul, {k: expected[k] for k in matmul}, 80, "bf16 matmul 312 TFLOP/s is 40% of the H100 SXM expectation 782"
        ),
        "perf.bandwidth": _perf_check(
            "perf.bandwidth", {"copy_tbs": figures["copy_tbs"]}, {"copy_tbs": expected["copy_tbs"]}, 76, "device copy 1.50 TB/s is 50%"
        ),
    }
    document["checks"] = [replaced.get(c["id"], c) for c in document["checks"]]
    document.update(resolved_device="cuda:0", backend="cuda", status="fail")
    document["pass_count"] = sum(c["status"] == "pass" for c in document["checks"])
    document["fail_count"] = sum(c["status"] == "fail" for c in document["checks"])
    document["skip_count"] = sum(c["status"] == "skip" for c in document["checks"])
    action = "Either fix, or set an explicit compile fallback policy and document the rationale."
    entries = [
        {
            "check_id": c["id"],
            "score": c["severity"]["score"],
            "band": "high",
            "backend": "cuda",
            "error": c["error"],
            "action": action,
            "blocking": True,
        }
        for c in (replaced["perf.matmul"], replaced["perf.bandwidth"])
    ]
    document["triage"] = {
        "top_failed_checks": entries,
        "by_backend": {"cuda": [e["check_id"] for e in entries]},
        "highest_band": "high",
        "blocking": True,
        "blocking_checks": [e["check_id"] for e in entries],
    }
    out.write_text(json.dumps(document))
    return out
