"""The deep level's checks: a planted memory corruption found, throttling under load caught from replayed NVML readings,
a sustained sag caught, and each check's CPU behaviour with real torch in a real worker."""

from __future__ import annotations

import json
import os
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from preflight_action.gpu.collect import Collected
from preflight_action.preflight import levels, stress
from preflight_action.preflight.report import CheckResult
from preflight_action.process.probe_client import ProbeDirectory, ProbeWorker

DATA = Path(__file__).resolve().parents[1] / "data"
STRESS = levels.load().stress


@pytest.fixture
def worker(monkeypatch: pytest.MonkeyPatch) -> Iterator[Any]:
    """A real probe worker (real torch) whose environment the test sets before asking for it."""
    made: list[tuple[ProbeWorker, ProbeDirectory]] = []

    def start(fault: str | None = None) -> ProbeWorker:
        if fault:
            monkeypatch.setenv("PREFLIGHT_INJECT_FAULT", fault)
        else:
            monkeypatch.delenv("PREFLIGHT_INJECT_FAULT", raising=False)
        directory = ProbeDirectory()
        probe = ProbeWorker(sys.executable, directory)
        made.append((probe, directory))
        probe.result("torch.import", 300, probe.request("torch.import", {}))
        return probe

    yield start
    for probe, directory in made:
        probe.close()
        directory.cleanup()


def _run(probe: ProbeWorker, check_id: str, params: dict[str, Any], timeout: float = 300) -> dict[str, Any]:
    return probe.result(check_id, timeout, probe.request(check_id, params))


def _memory_params(**overrides: Any) -> dict[str, Any]:
    return {"device": "cpu", "backend": "cpu", "time_limit_s": 120, **STRESS["memory_pattern"], "host_mib": 8, "chunk_mib": 4, **overrides}


@pytest.mark.integration
def test_memory_pattern_finds_the_corruption_planted_in_its_verify_step(worker: Any) -> None:
    record = _run(worker("memory.pattern=corrupt"), "memory.pattern", _memory_params())
    assert record["status"] == "fail", record
    details = record["details"]
    assert details["errors"] >= 1
    assert details["first_errors"][0]["offset"] == 0  # the hook flips bytes 0, 4097 and 65537 of the first chunk
    assert {e["offset"] // 8 * 8 for e in details["first_errors"]} >= {0, 4096}
    assert "read back wrong" in record["error"]
    assert record["remedy"]


@pytest.mark.integration
def test_memory_pattern_passes_on_sound_memory_and_reports_what_it_tested(worker: Any) -> None:
    record = _run(worker(), "memory.pattern", _memory_params())
    assert record["status"] == "pass", record
    details = record["details"]
    assert details["bytes_tested"] == 8 * 1024 * 1024
    assert details["errors"] == 0
    assert details["patterns"][-2:] == ["random", "address_in_address"]
    assert "host RAM" in details["region"]
    assert details["cut_short"] is False


@pytest.mark.integration
def test_memory_pattern_stops_at_its_time_limit_and_says_so(worker: Any) -> None:
    record = _run(worker(), "memory.pattern", _memory_params(time_limit_s=0.0001, host_mib=64))
    assert record["details"]["cut_short"] is True
    assert record["details"]["bytes_tested"] < 64 * 1024 * 1024
    assert "budget" in (record["details"]["cut_short_reason"] + (record.get("skip_reason") or ""))


def _load_params(**overrides: Any) -> dict[str, Any]:
    settings = {**STRESS["load_sustained"], "min_s": 2, "max_s": 2, "sag_fraction": 0.01}  # a shared CI box is noisy
    return {"device": "cpu", "backend": "cpu", "time_limit_s": 30, "budget_s": None, **settings, **overrides}


@pytest.mark.integration
def test_load_sustained_samples_throughput_each_second_on_the_cpu(worker: Any) -> None:
    record = _run(worker(), "load.sustained", _load_params())
    assert record["status"] == "pass", record
    samples = record["details"]["samples"]
    assert len(samples) >= 1
    assert all(s["tflops"] > 0 for s in samples)
    assert record["details"]["tflops_best"] == max(s["tflops"] for s in samples)


def test_a_sustained_sag_fails_and_a_single_slow_second_does_not() -> None:
    from preflight_probe.checks_deep import load_duration, sagged

    assert sagged([10.0, 10.2, 9.9, 10.1, 6.0, 6.1, 5.9, 6.0, 6.2], 0.8)  # thermal-style sag: 60% at the end
    assert sagged([10.0, 10.2, 3.0, 10.1, 9.8, 10.0], 0.8) is None  # one blip (another process) is not a sag
    assert sagged([10.0, 4.0], 0.8) is None  # too few seconds to call a trend
    assert load_duration({**STRESS["load_sustained"], "budget_s": 90, "time_limit_s": 100}) == (13.5, False)
    assert load_duration({**STRESS["load_sustained"], "budget_s": 90, "time_limit_s": 5}) == (5, True)


def _replay(*names: str) -> Any:
    """An NVML reader that answers with the recorded fixtures in turn (then repeats the last)."""
    documents = [json.loads((DATA / name).read_text(encoding="utf-8")) for name in names]
    calls = {"n": 0}

    def collect(_timeout: float) -> Collected:
        document = documents[min(calls["n"], len(documents) - 1)]
        calls["n"] += 1
        return Collected(document, None, 1.0)

    return collect


def _monitor_run(collect: Any, readings: int) -> CheckResult:
    monitor = stress.LoadMonitor(0, collect=collect, period_s=0.001)
    deadline = time.monotonic() + 60
    while len(monitor.samples) < readings and time.monotonic() < deadline:
        time.sleep(0.005)
    probe_result = CheckResult("load.sustained", "pass", 1000.0, {"samples": [{"t_s": 1.0, "tflops": 50.0}]})
    return monitor.judge(probe_result)


def test_thermal_throttling_that_appears_mid_run_fails_load_sustained() -> None:
    collect = _replay("nvml_healthy_busy.json", "nvml_healthy_busy.json", "nvml_healthy_busy.json", "nvml_thermal_throttle.json")
    result = _monitor_run(collect, readings=6)
    assert result.status == "fail"
    assert "thermal slowdown" in (result.error or "")
    assert "under load" in (result.error or "")
    samples = result.details["nvml_samples"]
    assert samples[0]["slowdowns"] == []  # healthy at first ...
    assert samples[-1]["slowdowns"] == ["sw_thermal_slowdown", "hw_thermal_slowdown"]  # ... throttled later
    assert result.details["sm_mhz_min"] == 990
    assert result.remedy


def test_a_gpu_that_stays_healthy_under_load_passes_with_its_readings() -> None:
    result = _monitor_run(_replay("nvml_healthy_busy.json"), readings=3)
    assert result.status == "pass"
    assert len(result.details["nvml_samples"]) >= 3
    assert result.details["temperature_c_max"] is not None


def test_pcie_expectation_comes_from_the_link_nvml_reports() -> None:
    gen3 = json.loads((DATA / "nvml_pcie_gen3.json").read_text(encoding="utf-8"))["gpus"][0]
    expected, link = stress.pcie_expectation(gen3)
    assert link == f"PCIe gen{gen3['pcie']['gen']} x{gen3['pcie']['width']}"
    assert expected == pytest.approx(stress.PCIE_LANE_GB_S[gen3["pcie"]["gen"]] * gen3["pcie"]["width"], rel=1e-3)
    assert stress.pcie_expectation(None) == (None, None)


@pytest.mark.integration
def test_transfer_host_skips_on_the_cpu_saying_why(worker: Any) -> None:
    record = _run(worker(), "transfer.host", {"device": "cpu", "backend": "cpu", **STRESS["transfer_host"], "time_limit_s": 5})
    assert record["status"] == "skip"
    assert "no host-to-device link" in record["skip_reason"]


@pytest.mark.integration
def test_model_smoke_runs_a_forward_and_a_training_step(worker: Any) -> None:
    record = _run(worker(), "model.smoke", {"device": "cpu", "backend": "cpu"})
    assert record["status"] == "pass", record
    assert record["details"]["forward"]["max_rel_error"] <= record["details"]["forward"]["tolerance"]
    assert record["details"]["train"]["params_updated"] is True


@pytest.mark.device
def test_deep_checks_measure_the_gpu(worker: Any) -> None:
    """On a CUDA machine: memory patterns over device memory, host transfers against PCIe, sustained load."""
    import torch  # the test process may import torch; the orchestrator never does

    if not torch.cuda.is_available():
        pytest.skip("no CUDA device")
    probe = worker()
    base = {"device": "cuda:0", "backend": "cuda", "time_limit_s": 20}
    memory = _run(probe, "memory.pattern", {**base, **STRESS["memory_pattern"], "device_fraction": 0.2})
    assert memory["status"] == "pass", memory
    assert memory["details"]["bytes_tested"] > 0
    transfer = _run(probe, "transfer.host", {**base, **STRESS["transfer_host"], "expected_gb_per_s": None})
    assert transfer["status"] == "pass", transfer
    assert transfer["details"]["h2d_gb_per_s"] > 0
    load = _run(probe, "load.sustained", {**base, **STRESS["load_sustained"], "budget_s": 20, "min_s": 3, "max_s": 3})
    assert load["status"] in ("pass", "fail"), load
    assert len(load["details"]["samples"]) >= 2
    assert os.environ.get("PREFLIGHT_INJECT_FAULT") is None
