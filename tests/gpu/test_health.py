"""gpu.health and its sub-checks: the real NVML subprocess path, and fixture readings replayed through a subprocess.

The replayed NVML documents are synthesized from H100 SXM datasheet values
(see their ``provenance``); the severities come from the shipped policy.
"""

from __future__ import annotations

import json
import sys
import types
from pathlib import Path
from typing import Any

import pynvml
import pytest

from preflight_action import schemas
from preflight_action.gpu import collect
from preflight_action.gpu import nvml as nvml_readings
from preflight_action.preflight import checks, host_checks, triage
from preflight_action.preflight import severity as policy
from preflight_action.preflight.context import Context
from preflight_action.preflight.options import Options
from preflight_action.preflight.report import CheckResult
from tests.support.fake_pynvml import fake_pynvml, raises

DATA = Path(__file__).resolve().parents[1] / "data"
GPU_CHECKS = ("gpu.health", "gpu.clocks", "gpu.ecc", "gpu.pcie", "gpu.mig", "gpu.driver")
H100_CAPS = {"device_name": "NVIDIA H100 80GB HBM3", "torch_cuda_build": "12.4", "cuda_driver_version": "12.4", "compute_capability": "9.0"}


def context(backend: str = "cuda", caps: dict[str, Any] | None = None) -> Context:
    ctx = Context(Options(device=backend), policy.load())
    ctx.device = "cpu" if backend == "cpu" else "cuda:0"
    ctx.backend = backend
    ctx.results["device.resolve"] = CheckResult("device.resolve", "pass", details={"resolved_device": ctx.device, "backend": backend})
    ctx.results["capabilities.detect"] = CheckResult("capabilities.detect", "pass", details=dict(caps if caps is not None else H100_CAPS))
    return ctx


def replay(name: str) -> list[str]:
    """A real subprocess that prints a recorded/synthesized NVML document, standing in for the reader."""
    return [sys.executable, "-c", "import sys; sys.stdout.write(open(sys.argv[1]).read())", str(DATA / f"nvml_{name}.json")]


def run_gpu_checks(ctx: Context, command: list[str], timeout: float = 30.0) -> dict[str, CheckResult]:
    """Run the gpu.* specs in SPECS order as the session would (needs first), then score them with the policy."""
    results = []
    for spec in checks.SPECS:
        if spec.id not in GPU_CHECKS:
            continue
        assert spec.host is not None
        if not all(ctx.passed(need) for need in spec.needs):
            result = CheckResult.skipped(spec.id, f"needs {spec.needs}", "host")
        elif spec.id == "gpu.health":
            result = host_checks.check_gpu_health(ctx, lambda t: collect.collect_readings(min(t, timeout), command))
        else:
            result = spec.host(ctx)
        ctx.results[spec.id] = result
        results.append(result)
    return {r.id: r for r in triage.score_checks(results, ctx.policy, ctx.backend)}


def test_healthy_h100_passes_all_gpu_checks() -> None:
    results = run_gpu_checks(context(), replay("healthy_busy"))
    assert {k: r.status for k, r in results.items()} == dict.fromkeys(GPU_CHECKS, "pass")
    assert results["gpu.health"].details["target_index"] == 0
    assert "covers the CUDA 12.4 runtime" in results["gpu.driver"].details["summary"]


@pytest.mark.parametrize(
    ("case", "failing", "band"),
    [
        ("thermal_throttle", "gpu.clocks", "high"),
        ("pcie_x8", "gpu.pcie", "medium"),
        ("pcie_gen3", "gpu.pcie", "medium"),
        ("ecc_errors", "gpu.ecc", "critical"),
        ("mig_enabled", "gpu.mig", "medium"),
        ("old_driver", "gpu.driver", "high"),
    ],
)
def test_each_degradation_fails_its_own_check_with_its_severity(case: str, failing: str, band: str) -> None:
    results = run_gpu_checks(context(), replay(case))
    failed = {k for k, r in results.items() if r.status == "fail"}
    assert failed == {failing}
    result = results[failing]
    assert result.severity is not None
    assert result.severity.band == band
    assert result.error


def test_consumer_gpu_skips_what_it_cannot_report() -> None:
    caps = {**H100_CAPS, "device_name": "NVIDIA GeForce RTX 4090"}
    results = run_gpu_checks(context(caps=caps), replay("rtx4090_consumer"))
    assert results["gpu.ecc"].status == "skip"
    assert "does not support ECC" in (results["gpu.ecc"].skip_reason or "")
    assert results["gpu.mig"].status == "skip"
    assert results["gpu.clocks"].status == "pass"


@pytest.mark.parametrize("backend", ["cpu", "rocm", "mps", "xpu"])
def test_non_nvidia_backends_skip_without_starting_anything(backend: str) -> None:
    def never(timeout: float) -> collect.Collected:
        raise AssertionError("the NVML reader must not start off the cuda backend")

    result = host_checks.check_gpu_health(context(backend), never)
    assert result.status == "skip"
    assert (result.skip_reason or "").startswith(f"{backend} backend")


def test_real_reader_on_this_machine_without_nvml_skips_with_the_reason() -> None:
    """The real ``python -m preflight_action.gpu.nvml`` subprocess; this CPU host has no NVIDIA driver."""
    collected = collect.collect_readings(60.0)
    if collected.readings and collected.readings["available"]:
        pytest.skip("this host has a working NVML; the no-NVML path cannot be shown here")
    assert collected.error is None
    result = host_checks.check_gpu_health(context(), lambda t: collected)
    assert result.status == "skip"
    assert "NVML could not start" in (result.skip_reason or "")


def test_a_hanging_reader_fails_with_the_timeout() -> None:
    hang = [sys.executable, "-c", "import time; time.sleep(60)"]
    results = run_gpu_checks(context(), hang, timeout=0.5)
    health = results["gpu.health"]
    assert health.status == "fail"
    assert "NVML did not answer within 0.5 s" in (health.error or "")
    assert health.severity is not None
    assert health.severity.band == "high"
    assert all(results[c].status == "skip" for c in GPU_CHECKS[1:])


def test_a_crashing_reader_fails_with_its_last_stderr_line() -> None:
    crash = [sys.executable, "-c", "import sys; sys.stderr.write('pynvml.NVMLError_GpuIsLost: GPU is lost\\n'); sys.exit(3)"]
    result = host_checks.check_gpu_health(context(), lambda t: collect.collect_readings(t, crash))
    assert result.status == "fail"
    assert result.error == "the NVML reader exited with code 3: pynvml.NVMLError_GpuIsLost: GPU is lost"


def test_an_invalid_document_fails_naming_the_field() -> None:
    bad = [sys.executable, "-c", "print('{\"schema_version\": 1}')"]
    result = host_checks.check_gpu_health(context(), lambda t: collect.collect_readings(t, bad))
    assert result.status == "fail"
    assert "invalid document" in (result.error or "")
    assert "'provenance' is a required property" in (result.error or "")


def test_gpu_missing_from_nvml_fails() -> None:
    ctx = context(caps={**H100_CAPS, "device_name": "NVIDIA L4"})
    ctx.device = "cuda:3"
    result = host_checks.check_gpu_health(ctx, lambda t: collect.collect_readings(t, replay("healthy_busy")))
    assert result.status == "fail"
    assert "cannot find cuda:3 among NVML's GPUs" in (result.error or "")


# ---------------------------------------------------------------- the reader's NVML calls, against a stand-in driver


def fake_nvml(mig_supported: bool = True) -> types.SimpleNamespace:
    """An H100 under load: SM clock below max (power capping, reasons 0x4), 5 corrected and 1 aggregate uncorrected ECC error."""
    clocks = {
        (pynvml.NVML_CLOCK_SM, "cur"): 1755,
        (pynvml.NVML_CLOCK_SM, "max"): 1980,
        (pynvml.NVML_CLOCK_MEM, "cur"): 2619,
        (pynvml.NVML_CLOCK_MEM, "max"): 2619,
    }
    ecc = {
        (pynvml.NVML_MEMORY_ERROR_TYPE_UNCORRECTED, pynvml.NVML_VOLATILE_ECC): 0,
        (pynvml.NVML_MEMORY_ERROR_TYPE_CORRECTED, pynvml.NVML_VOLATILE_ECC): 5,
        (pynvml.NVML_MEMORY_ERROR_TYPE_UNCORRECTED, pynvml.NVML_AGGREGATE_ECC): 1,
    }
    return fake_pynvml(
        nvmlDeviceGetUUID=lambda h: "GPU-abc",
        nvmlDeviceGetUtilizationRates=lambda h: types.SimpleNamespace(gpu=97, memory=40),
        nvmlDeviceGetPowerUsage=lambda h: 690123,
        nvmlDeviceGetTemperature=lambda h, s: 66,
        nvmlDeviceGetCurrentClocksEventReasons=lambda h: 0x4,
        nvmlDeviceGetClockInfo=lambda h, c: clocks[(c, "cur")],
        nvmlDeviceGetMaxClockInfo=lambda h, c: clocks[(c, "max")],
        nvmlDeviceGetTotalEccErrors=lambda h, kind, counter: ecc[(kind, counter)],
        nvmlDeviceGetMigMode=(lambda h: [0, 0]) if mig_supported else raises(pynvml.NVML_ERROR_NOT_SUPPORTED),
    )


def test_reader_maps_nvml_answers_into_a_valid_document(monkeypatch: pytest.MonkeyPatch) -> None:
    old_pynvml = fake_nvml(mig_supported=False)
    del old_pynvml.nvmlDeviceGetGpuMaxPcieLinkGeneration  # not in older nvidia-ml-py releases
    monkeypatch.setitem(sys.modules, "pynvml", old_pynvml)
    document = nvml_readings.collect()
    schemas.validate(document, "nvml_readings", "collect()")
    assert document["cuda_driver_version"] == "12.4"
    gpu = document["gpus"][0]
    assert gpu["name"] == "NVIDIA H100 80GB HBM3"
    assert gpu["pci_bus_id"] == "00000000:18:00.0"
    assert (gpu["power_w"], gpu["power_limit_w"]) == (690.1, 700.0)
    assert gpu["clock_event_reasons"] == {"mask": 4, "active": ["sw_power_cap"]}
    assert gpu["ecc"] == {"mode_enabled": True, "volatile_uncorrected": 0, "volatile_corrected": 5, "aggregate_uncorrected": 1}
    assert gpu["retired_pages"] is None
    assert gpu["remapped_rows"] == {"corrected": 0, "uncorrected": 0, "pending": False, "failure": False}
    assert gpu["mig"] is None
    assert gpu["unavailable"]["mig"] == "Not Supported"
    assert gpu["unavailable"]["retired_pages"] == "Not Supported"
    assert gpu["pcie"] == {"gen": 5, "max_gen": 5, "gpu_max_gen": None, "width": 16, "max_width": 16}
    assert gpu["unavailable"]["pcie.gpu_max_gen"] == "not in this nvidia-ml-py version"


def test_reader_decodes_reason_masks() -> None:
    assert nvml_readings.decode_reasons(0) == []
    assert nvml_readings.decode_reasons(0x61) == ["gpu_idle", "sw_thermal_slowdown", "hw_thermal_slowdown"]
    assert nvml_readings.decode_reasons(0x1000) == ["unknown_0x1000"]
    assert nvml_readings.cuda_version_text(12040) == "12.4"
    assert nvml_readings.cuda_version_text(11080) == "11.8"


def test_reader_main_prints_one_valid_document(capsys: pytest.CaptureFixture[str]) -> None:
    assert nvml_readings.main([]) == 0
    document = json.loads(capsys.readouterr().out)
    schemas.validate(document, "nvml_readings", "stdout")


@pytest.mark.device
def test_real_nvml_reads_the_torch_gpu() -> None:
    """On an NVIDIA host: the real reader answers within the timeout and every health check decides."""
    torch = pytest.importorskip("torch")
    if not torch.cuda.is_available() or torch.version.hip:
        pytest.skip("needs an NVIDIA CUDA device visible to torch")
    collected = collect.collect_readings(30.0)
    assert collected.error is None, collected.error
    assert collected.readings is not None
    assert collected.readings["available"], collected.readings
    caps = {"device_name": torch.cuda.get_device_name(0), "torch_cuda_build": torch.version.cuda}
    results = run_gpu_checks(context(caps=caps), collect.readings_command())
    assert results["gpu.health"].status == "pass"
    assert all(results[c].status in ("pass", "fail", "skip") for c in GPU_CHECKS)


def read_only_context(device: str = "auto") -> Context:
    """The watch level's context: torch imported, no device.resolve and no capabilities.detect (nothing touched the GPU)."""
    ctx = Context(Options(device=device, level="watch"), policy.load())  # type: ignore[arg-type]
    ctx.results["torch.import"] = CheckResult("torch.import", "pass", details={"version": "2.14.1+cu124", "cuda_build": "12.4"})
    return ctx


def run_read_only(ctx: Context, command: list[str]) -> dict[str, CheckResult]:
    from preflight_action.preflight import levels

    planned = {s.id: s for s in levels.plan(levels.load(), "watch", checks.SPECS)}
    results = []
    for check_id in (*GPU_CHECKS, "gpu.nvlink"):
        spec = planned[check_id]
        assert spec.host is not None
        if not all(ctx.passed(need) for need in spec.needs):
            result = CheckResult.skipped(spec.id, f"needs {spec.needs}", "host")
        elif spec.id == "gpu.health":
            result = host_checks.check_gpu_health(ctx, lambda t: collect.collect_readings(min(t, 30.0), command))
        else:
            result = spec.host(ctx)
        ctx.results[spec.id] = result
        results.append(result)
    return {r.id: r for r in triage.score_checks(results, ctx.policy, "cuda")}


def test_the_watch_level_judges_nvmls_view_without_torch_touching_the_gpu() -> None:
    results = run_read_only(read_only_context(), replay("healthy_busy"))  # a GPU busy with a training pod
    assert {k: r.status for k, r in results.items() if k in GPU_CHECKS} == dict.fromkeys(GPU_CHECKS, "pass")
    assert results["gpu.health"].details["read_only"] is True
    assert "covers the CUDA 12.4 runtime" in results["gpu.driver"].details["summary"]  # torch's build, from torch.import
    degraded = run_read_only(read_only_context(), replay("ecc_errors"))
    assert degraded["gpu.ecc"].status == "fail"
    assert degraded["gpu.ecc"].severity is not None
    assert degraded["gpu.ecc"].severity.band == "critical"


def test_the_watch_level_on_the_cpu_reads_no_nvml() -> None:
    results = run_read_only(read_only_context("cpu"), replay("healthy_busy"))
    assert results["gpu.health"].status == "skip"
    assert results["gpu.health"].skip_reason == "cpu backend: no NVIDIA GPU to read with NVML"
