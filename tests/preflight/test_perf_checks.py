"""perf.matmul, perf.bandwidth and device.placement: pure sizing/accounting, the timing harness on CPU
tensors, verdicts from figures played back from tests/data, and GPU-only measurements (marked ``device``).
"""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

import pytest
import torch

from preflight_action.gpu import policy as gpu_policy
from preflight_action.preflight import checks, host_checks
from preflight_action.preflight import severity as policy
from preflight_action.preflight.checks import Context
from preflight_action.preflight.options import Options
from preflight_action.preflight.report import CheckResult
from preflight_probe import checks_perf, registry

DATA = Path(__file__).resolve().parents[1] / "data"
GIB = 1024**3


def figures_case(name: str) -> dict[str, Any]:
    document = json.loads((DATA / "perf_figures.json").read_text())
    assert document["provenance"] == "synthesized from datasheet, not recorded"
    return document["cases"][name]


def reference(device_name: str | None) -> dict[str, Any]:
    return gpu_policy.reference_for(gpu_policy.load_reference(), device_name, "gpu_reference.yaml")


# ---------------------------------------------------------------- accounting and sizing


def test_flop_and_byte_accounting() -> None:
    assert checks_perf.matmul_flops(8192) == 2 * 8192**3
    assert checks_perf.tflops(checks_perf.matmul_flops(8192), 1.41) == pytest.approx(779.8, rel=1e-3)
    assert checks_perf.copy_bytes(GIB) == 2 * GIB  # read once + written once
    assert checks_perf.tb_per_s(checks_perf.copy_bytes(GIB), 0.716) == pytest.approx(3.0, rel=1e-3)


@pytest.mark.parametrize(
    ("free", "n"),
    [(80 * GIB, 8192), (16 * GIB, 8192), (8 * GIB, 8192), (4 * GIB, 4096), (1 * GIB, 2048), (100 * 1024**2, 1024)],
)
def test_matmul_size_fits_an_eighth_of_free_memory(free: int, n: int) -> None:
    assert checks_perf.matmul_size(free) == n
    assert 3 * 4 * n * n <= free // 8 or n == checks_perf.MATMUL_SIZES[-1]


@pytest.mark.parametrize(("free", "mib"), [(80 * GIB, 1024), (8 * GIB, 1024), (4 * GIB, 512), (GIB, 64), (10 * 1024**2, 64)])
def test_copy_size_fits_a_quarter_of_free_memory(free: int, mib: int) -> None:
    assert checks_perf.copy_size(free) == mib * 1024**2


def test_plan_iterations_fits_the_budget() -> None:
    assert checks_perf.plan_iterations(1.4, 200.0) == 50  # H100 bf16 8192^3: capped
    assert checks_perf.plan_iterations(37.0, 200.0) == 5  # T4 fp16 8192^3
    assert checks_perf.plan_iterations(500.0, 200.0) == 3  # never fewer than lo
    assert checks_perf.plan_iterations(0.0, 200.0) == 50


def test_dtype_plan_leaves_out_missing_tensor_core_paths() -> None:
    assert checks_perf.dtype_plan("cuda", "9.0") == (["bf16", "fp16", "tf32"], {})
    names, left_out = checks_perf.dtype_plan("cuda", "7.5")
    assert names == ["fp16"]
    assert left_out["bf16"] == "compute capability 7.5 has no bf16/tf32 tensor cores"
    assert checks_perf.dtype_plan("rocm", "9.4")[0] == ["bf16", "fp16", "tf32"]


# ---------------------------------------------------------------- timing harness on CPU tensors


def test_measure_times_real_work_within_its_budget() -> None:
    a = torch.randn(64, 64)
    calls = []

    def op() -> torch.Tensor:
        calls.append(1)
        return a @ a

    timer = checks_perf.make_timer(torch, "cpu")
    assert isinstance(timer, checks_perf.SyncTimer)
    result = checks_perf.measure(op, timer, budget_ms=5.0, lo=3, hi=20)
    assert 3 <= result.iterations <= 20
    assert len(calls) == 2 + result.iterations  # two warm-ups, then the timed batches
    assert 0 < result.per_iter_ms <= max(result.batches_ms)
    assert result.spent_ms >= sum(result.batches_ms)


def test_measure_reports_the_faster_batch() -> None:
    delays = iter([0.0, 0.0, 0.02, 0.0])  # warm-up, warm-up, slow first batch, fast second batch

    class Scripted(checks_perf.SyncTimer):
        def measure(self, fn: Any, iterations: int) -> float:
            return next(delays) * 1000.0 + iterations * 1.0

    result = checks_perf.measure(lambda: None, Scripted(lambda: None), budget_ms=4.0, lo=4, hi=4)
    assert result.iterations == 4
    assert result.per_iter_ms == pytest.approx(1.0)
    assert result.batches_ms == [22.0, 2.0]


# ---------------------------------------------------------------- verdicts from played-back figures


def test_healthy_h100_figures_pass() -> None:
    case = figures_case("h100_sxm_healthy")
    outcome = checks_perf.verdict(case["figures"], reference(case["device_name"]), {})
    assert outcome.status == "pass", outcome.error
    assert "bf16 matmul 780 TFLOP/s is 100% of the H100 SXM expectation 782 (threshold 70%)" in outcome.details["comparison"]


def test_degraded_h100_figures_fail_saying_how_far_below() -> None:
    case = figures_case("h100_sxm_degraded")
    ref = reference(case["device_name"])
    outcome = checks_perf.verdict({k: v for k, v in case["figures"].items() if k != "copy_tbs"}, ref, {})
    assert outcome.status == "fail"
    assert outcome.error == "bf16 matmul 312 TFLOP/s is 40% of the H100 SXM expectation 782 (threshold 70%)"
    copy = checks_perf.verdict({"copy_tbs": case["figures"]["copy_tbs"]}, ref, {})
    assert copy.error == "device copy 1.50 TB/s is 50% of the H100 SXM expectation 3.02 TB/s (threshold 70%)"


def test_unknown_sku_reports_the_figure_and_skips_the_comparison() -> None:
    case = figures_case("unknown_sku")
    outcome = checks_perf.verdict({"bf16": case["figures"]["bf16"]}, reference(case["device_name"]), {})
    assert outcome.status == "skip"
    assert outcome.skip_reason is not None
    assert outcome.skip_reason.startswith("measured bf16 matmul 750 TFLOP/s; comparison skipped: NVIDIA GH200 480GB matches no SKU")
    assert outcome.details["figures"] == {"bf16": 750.0}


def test_figures_without_a_reference_value_are_noted_not_compared() -> None:
    case = figures_case("t4")
    outcome = checks_perf.verdict({"fp16": case["figures"]["fp16"], "tf32": 5.0}, reference(case["device_name"]), {})
    assert outcome.status == "pass"
    assert "tf32 matmul 5 TFLOP/s: the T4 reference has no tf32 figure, not compared" in outcome.details["comparison"]


def test_below_threshold_perf_fails_with_the_policy_severity() -> None:
    scored = policy.load()
    assert scored.band(scored.score("perf.matmul", "cuda")).name == "high"
    assert scored.band(scored.score("perf.bandwidth", "cuda")).name == "high"
    assert scored.band(scored.score("device.placement", "cuda")).name == "critical"


# ---------------------------------------------------------------- device.placement decisions


def test_placement_on_the_device_passes() -> None:
    devices = {"a": "cuda:0", "b": "cuda:0", "a @ b": "cuda:0"}
    assert checks_perf.placement_verdict("cuda:0", devices, device_ms=0.05, cpu_ms=25.0, memory_grew=True) == []


def test_placement_flags_tensors_left_on_the_cpu_and_cpu_speed() -> None:
    devices = {"a": "cuda:0", "b": "cpu", "a @ b": "cpu"}
    problems = checks_perf.placement_verdict("cuda:0", devices, device_ms=24.0, cpu_ms=25.0, memory_grew=False)
    assert "tensor b is on cpu, not cuda:0" in problems
    assert any("did not grow cuda:0 memory" in p for p in problems)
    assert any("(1.0x, expected at least 1.5x): the work looks like it ran on the CPU" in p for p in problems)


def test_placement_flags_the_wrong_gpu_index() -> None:
    problems = checks_perf.placement_verdict("cuda:1", {"a": "cuda:0"}, device_ms=0.05, cpu_ms=25.0, memory_grew=True)
    assert problems == ["tensor a is on cuda:0, not cuda:1"]


# ---------------------------------------------------------------- the CPU backend stays fast


def test_cpu_backend_skips_at_once_with_reasons() -> None:
    params = {"device": "cpu", "backend": "cpu"}
    started = time.perf_counter()
    outcomes = {check_id: registry.CHECKS[check_id](params) for check_id in ("device.placement", "perf.matmul", "perf.bandwidth")}
    elapsed_ms = (time.perf_counter() - started) * 1000.0
    assert outcomes["device.placement"].skip_reason == "cpu: nothing to fall back from"
    assert outcomes["perf.matmul"].skip_reason == "cpu backend: the performance probe measures GPUs only"
    assert outcomes["perf.bandwidth"].skip_reason == "cpu backend: the performance probe measures GPUs only"
    assert elapsed_ms < 50.0


def test_other_backends_skip_the_perf_probe_saying_why() -> None:
    outcome = checks_perf.check_perf_matmul({"device": "mps", "backend": "mps"})
    assert outcome.skip_reason == "mps backend: the performance probe supports CUDA and ROCm devices only"


def test_perf_params_do_not_load_the_reference_on_cpu(monkeypatch: pytest.MonkeyPatch) -> None:
    def boom() -> Any:
        raise AssertionError("the reference must not be loaded on the cpu backend")

    ctx = Context(Options(device="cpu"), policy.load(), device="cpu", backend="cpu")
    monkeypatch.setattr(gpu_policy, "load_reference", boom)
    assert host_checks.perf_params(ctx) == {"device": "cpu", "backend": "cpu"}


def test_perf_params_carry_the_sku_reference_on_cuda() -> None:
    ctx = Context(Options(device="cuda"), policy.load(), device="cuda:0", backend="cuda")
    caps = {"device_name": "NVIDIA H100 80GB HBM3", "compute_capability": "9.0"}
    ctx.results["capabilities.detect"] = CheckResult("capabilities.detect", "pass", details=caps)
    params = checks.spec("perf.matmul").params(ctx)
    assert params["compute_capability"] == "9.0"
    assert params["reference"]["sku"] == "H100 SXM"
    assert params["reference"]["source"] == "gpu_reference.yaml"


@pytest.mark.integration
def test_cpu_preflight_reports_the_gpu_checks_as_skipped(run_preflight: Any) -> None:
    run = run_preflight("--device", "cpu", "--quiet")
    assert run.exit_code == 0
    for check_id in ("device.placement", "perf.matmul", "perf.bandwidth", "gpu.health"):
        check = run.check(check_id)
        assert check["status"] == "skip", check
        assert check["duration_ms"] < 50.0
    assert run.check("gpu.health")["skip_reason"] == "cpu backend: no NVIDIA GPU to read with NVML"
    assert run.check("gpu.ecc")["skip_reason"] == "needs gpu.health, which was skipped"


# ---------------------------------------------------------------- on a real GPU


def _gpu_params() -> dict[str, Any]:
    if not torch.cuda.is_available():
        pytest.skip("needs a CUDA or ROCm device")
    backend = "rocm" if torch.version.hip else "cuda"
    props = torch.cuda.get_device_properties(0)
    return {
        "device": "cuda:0",
        "backend": backend,
        "compute_capability": f"{props.major}.{props.minor}",
        "reference": reference(props.name),
    }


@pytest.mark.device
def test_perf_probe_on_the_gpu_stays_within_one_second() -> None:
    params = _gpu_params()
    matmul = checks_perf.check_perf_matmul(params)
    bandwidth = checks_perf.check_perf_bandwidth(params)
    for outcome in (matmul, bandwidth):
        assert outcome.status in ("pass", "skip", "fail")
        assert outcome.details["figures"], outcome
        assert all(v > 0 for v in outcome.details["figures"].values())
    assert matmul.details["gpu_time_ms"] + bandwidth.details["gpu_time_ms"] <= 1000.0
    assert torch.get_float32_matmul_precision() == "highest"  # restored


@pytest.mark.device
def test_device_placement_proves_the_gpu_did_the_work() -> None:
    params = _gpu_params()
    outcome = checks_perf.check_device_placement(params)
    assert outcome.status == "pass", outcome.error
    assert outcome.details["device_memory_grew"] is True
    assert outcome.details["speedup_vs_cpu"] >= checks_perf.PLACEMENT_MIN_SPEEDUP


def test_placement_measurement_runs_on_cpu_tensors(monkeypatch: pytest.MonkeyPatch) -> None:
    """The real measurement path with 'cpu' standing in for the device: the timing comparison sees no speed-up."""
    monkeypatch.setattr(checks_perf, "PLACEMENT_N", 256)
    problems, details = checks_perf.measure_placement(torch, "cpu")
    assert details["tensor_devices"] == {"a": "cpu", "b": "cpu", "a @ b": "cpu"}
    assert details["device_memory_grew"] is None
    assert details["device_ms"] > 0
    assert details["cpu_ms"] > 0
    slow = details["speedup_vs_cpu"] < checks_perf.PLACEMENT_MIN_SPEEDUP
    assert any("looks like it ran on the CPU" in p for p in problems) == slow


def test_size_for_budget_predicts_from_a_scout_product() -> None:
    # H100-like: a 2048^3 bf16 scout in 0.04 ms predicts 2.6 ms at 8192^3; five runs fit 200 ms.
    assert checks_perf.size_for_budget(0.04, 2048, 200.0, 8192) == 8192
    # T4-like fp16: 1 ms scout -> 64 ms at 8192^3 (x5 > 200 ms), 8 ms at 4096^3.
    assert checks_perf.size_for_budget(1.0, 2048, 200.0, 8192) == 4096
    # Memory caps the size whatever the speed.
    assert checks_perf.size_for_budget(0.04, 2048, 200.0, 4096) == 4096
    # Hopelessly slow: the smallest size, never zero.
    assert checks_perf.size_for_budget(500.0, 2048, 200.0, 8192) == 1024


def test_perf_checks_run_end_to_end_on_cpu_tensors(monkeypatch: pytest.MonkeyPatch) -> None:
    """The whole measurement path (scout, sizing, tf32 switch and restore, accounting, verdict) with tiny CPU sizes."""
    monkeypatch.setattr(checks_perf, "MATMUL_SIZES", (256, 128))
    monkeypatch.setattr(checks_perf, "SCOUT_N", 128)
    monkeypatch.setattr(checks_perf, "COPY_SIZES_MIB", (4, 1))
    monkeypatch.setattr(checks_perf, "_free_bytes", lambda torch, device: 64 * 1024**2)
    ref = {"sku": "Tiny", "expected": {"bf16": 1e6, "fp16": None, "tf32": None, "copy_tbs": None}, "threshold": 0.7}
    params = {"device": "cpu", "backend": "cuda", "compute_capability": "9.0", "reference": ref}
    before = torch.get_float32_matmul_precision()
    matmul = checks_perf.check_perf_matmul(params)
    assert torch.get_float32_matmul_precision() == before
    assert set(matmul.details["figures"]) == {"bf16", "fp16", "tf32"}
    assert all(run["n"] in (256, 128) and run["iterations"] >= 3 for run in matmul.details["runs"].values())
    assert matmul.details["timer"] == "SyncTimer"
    # A CPU is far below a million TFLOP/s: the comparison fails and says by how much.
    assert matmul.status == "fail"
    assert (matmul.error or "").startswith("bf16 matmul ")
    assert "% of the Tiny expectation 1000000 (threshold 70%)" in (matmul.error or "")
    bandwidth = checks_perf.check_perf_bandwidth(params)
    assert bandwidth.status == "pass"
    assert bandwidth.details["buffer_mib"] == 4
    assert bandwidth.details["bytes_per_copy_counted"] == 8 * 1024**2
    assert bandwidth.details["figures"]["copy_tbs"] >= 0
