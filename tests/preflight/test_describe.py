"""The words every rendering shows for a check: a measuring check states its pass rule with its figure."""

from __future__ import annotations

import pytest

from preflight_action.preflight import describe
from preflight_action.preflight.report import CheckResult
from preflight_probe import checks_deep, checks_perf

H100 = {"sku": "NVIDIA H100 80GB HBM3", "expected": {"bf16": 800.0, "copy_tbs": 2.6}, "threshold": 0.7}


def test_perf_checks_state_the_reference_and_the_threshold_they_passed():
    outcome = checks_perf.verdict({"bf16": 760.0}, H100, {})  # the probe's own judgement of a measured figure
    said = describe.words(CheckResult("perf.matmul", outcome.status, details=outcome.details, error=outcome.error))
    assert said == "bf16 matmul 760 TFLOP/s is 95% of the NVIDIA H100 80GB HBM3 expectation 800 (threshold 70%)"


@pytest.mark.parametrize(("tail", "fails"), [([1.0, 1.0, 0.95], False), ([0.5, 0.5, 0.5], True)])
def test_load_sustained_words_say_the_rule_the_probe_judged_by(tail: list[float], fails: bool):
    figures = [1.0, 1.0, 1.0, 0.9, 0.9, 0.9, *tail]
    samples = [{"t_s": float(i + 1), "tflops": value} for i, value in enumerate(figures)]
    details = {"samples": samples, "tflops_median": 0.9, "tflops_best": 1.0, "sag_fraction": 0.8}
    sagged = checks_deep.sagged(figures, 0.8)
    assert (sagged is not None) == fails
    check = CheckResult("load.sustained", "fail" if fails else "pass", details=details, error=sagged)
    said = describe.words(check)
    assert "passes while the last 3 s keep at least 80% of the first 3 s: " in said
    assert said.endswith("(50%)" if fails else "(100%)")
    assert said.startswith("throughput sagged" if fails else "9 s at 0.9 TFLOP/s median (best 1.0)")


def test_transfer_host_and_memory_pattern_state_their_rule():
    transfer = {"summary": "H2D 24.1 GB/s, D2H 23.8 GB/s of 26.0 GB/s", "floor_gb_per_s": 13.0, "expected_gb_per_s": 26.0}
    said = describe.words(CheckResult("transfer.host", "pass", details=transfer))
    assert said.endswith("passes when each direction reaches 50% of 26.0 GB/s (13.0 GB/s)")
    memory = {"summary": "256 MiB of host RAM x 10 patterns, 0 errors", "errors": 0, "bytes_tested": 256 * 1024 * 1024}
    said = describe.words(CheckResult("memory.pattern", "pass", details=memory))
    assert said.endswith("passes when every byte reads back as written: 0 wrong in 256 MiB")
