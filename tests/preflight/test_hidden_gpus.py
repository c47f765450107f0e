"""GPUs the host has but torch cannot use: CUDA_VISIBLE_DEVICES hiding them, and --device auto falling back to the CPU.

The verdict names the cause (the variable and its value, a CPU-only wheel) and the way back, instead of
"install the NVIDIA driver" on a host whose driver is fine.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from preflight_action.gpu import collect
from preflight_action.preflight import host_checks, triage
from preflight_action.preflight import severity as policy
from preflight_action.preflight.context import Context
from preflight_action.preflight.options import Options
from preflight_action.preflight.report import CheckResult
from preflight_probe import capabilities, checks_core, remedies
from tests.conftest import ROOT
from tests.gpu.test_health import H100_CAPS, replay


@pytest.mark.parametrize(
    ("value", "hides_all"),
    [
        ("", True),
        ("-1", True),
        ("none", True),
        ("NoDevFiles", True),
        (" ,0", True),
        ("0", False),
        ("1,0", False),
        ("GPU-8a1e2c3d", False),
        ("MIG-4f2b", False),
        ("3,-1", False),
    ],
)
def test_which_values_hide_every_gpu(value: str, hides_all: bool, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", value)
    assert remedies.cuda_visibility() == (value, hides_all)


def test_unset_hides_nothing(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("CUDA_VISIBLE_DEVICES", raising=False)
    assert remedies.cuda_visibility() == (None, False)


def test_the_remedy_for_hidden_gpus_is_the_variable_not_the_driver(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", "")
    fix = remedies.device_remedy("cuda", "2.14.1+cu130", "13.0", driver_cuda="13.0")
    assert fix.startswith("unset CUDA_VISIBLE_DEVICES (it is '', which hides every GPU)")
    assert "driver" not in fix
    no_driver = remedies.device_remedy("cuda", "2.14.1+cu130", "13.0", driver_cuda=None)
    assert no_driver.startswith("unset CUDA_VISIBLE_DEVICES")
    assert "no NVIDIA driver answers either: install it (at least" in no_driver
    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", "7")
    assert "CUDA_VISIBLE_DEVICES='7' names no GPU CUDA can open" in remedies.device_remedy("cuda", "2.14.1+cu130", "13.0", "13.0")


def _preflight(tmp_path: Path, env: dict[str, str], *flags: str) -> tuple[int, dict[str, CheckResult]]:
    out = tmp_path / "r.json"
    argv = [
        sys.executable,
        str(ROOT / "scripts" / "runtime_preflight.py"),
        "--level",
        "quick",
        "--quiet",
        "--output-path",
        str(out),
        *flags,
    ]
    done = subprocess.run(argv, env={**os.environ, **env}, capture_output=True, text=True, timeout=300, check=False)
    report = json.loads(out.read_text(encoding="utf-8"))
    return done.returncode, {c["id"]: c for c in report["checks"]}


@pytest.mark.integration
def test_device_cuda_with_every_gpu_hidden_names_the_variable(tmp_path: Path) -> None:
    torch = pytest.importorskip("torch")
    if not torch.backends.cuda.is_built():
        pytest.skip("needs a CUDA build of torch (a CPU-only build is diagnosed as such first)")
    code, checks = _preflight(tmp_path, {"CUDA_VISIBLE_DEVICES": ""}, "--device", "cuda", "--strict")
    assert code == 1
    resolve = checks["device.resolve"]
    assert resolve["status"] == "fail"
    assert "CUDA_VISIBLE_DEVICES='' hides every GPU from CUDA" in resolve["error"]
    assert resolve["remedy"].startswith("unset CUDA_VISIBLE_DEVICES")


@pytest.mark.integration
def test_device_auto_on_a_host_without_nvidia_gpus_is_a_plain_cpu_run(tmp_path: Path) -> None:
    if capabilities.nvidia_gpus_present():
        pytest.skip("this host has NVIDIA GPUs: the fallback case is tested with a planted driver listing below")
    code, checks = _preflight(tmp_path, {"CUDA_VISIBLE_DEVICES": ""}, "--device", "auto", "--strict")
    assert code == 0
    assert checks["device.resolve"]["details"]["backend"] == "cpu"
    assert "nvidia_gpus_present" not in checks["device.resolve"]["details"]
    assert checks["gpu.health"]["status"] == "skip"


def test_auto_on_a_gpu_host_records_the_gpus_and_the_way_back(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The probe's side: the driver's listing (planted) and CUDA hiding them all."""
    torch = pytest.importorskip("torch")
    if torch.cuda.is_available() or not torch.backends.cuda.is_built():
        pytest.skip("needs a CUDA build of torch that sees no GPU here")
    listing, dev = tmp_path / "gpus", tmp_path / "dev"
    (listing / "0000:18:00.0").mkdir(parents=True)
    dev.mkdir()
    for name in ("nvidia0", "nvidiactl", "nvidia-uvm", "null"):
        (dev / name).touch()
    monkeypatch.setattr(capabilities, "NVIDIA_PROC_GPUS", str(listing))
    monkeypatch.setattr(capabilities, "DEVICE_NODES", str(dev))
    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", "")
    outcome = checks_core.check_device_resolve({"requested": "auto"}).to_record("device.resolve")
    details = outcome["details"]
    assert details["backend"] == "cpu"
    assert details["nvidia_gpus_present"] == ["0000:18:00.0"]
    assert details["backends"]["cuda"]["reason"] == "CUDA_VISIBLE_DEVICES='' hides every GPU from CUDA"
    assert details["backends"]["cuda"]["remedy"].startswith("unset CUDA_VISIBLE_DEVICES")


def test_a_container_given_no_gpu_on_a_gpu_host_has_none_present(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The host's driver listing shows 8 GPUs, but no /dev/nvidiaN was given to this container: none are present."""
    listing, dev = tmp_path / "gpus", tmp_path / "dev"
    for index in range(8):
        (listing / f"0000:{0x18 + index:02x}:00.0").mkdir(parents=True)
    dev.mkdir()
    (dev / "null").touch()
    monkeypatch.setattr(capabilities, "NVIDIA_PROC_GPUS", str(listing))
    monkeypatch.setattr(capabilities, "DEVICE_NODES", str(dev))
    assert capabilities.nvidia_gpus_present() == []
    (dev / "nvidia3").touch()  # given one of them: named by its node (the listing counts the host's eight)
    assert capabilities.nvidia_gpus_present() == [str(dev / "nvidia3")]


def _fallback_context(device_flag: str, present: list[str]) -> Context:
    ctx = Context(Options(device=device_flag), policy.load())
    ctx.device, ctx.backend = "cpu", "cpu"
    cuda = {"available": False, "reason": "CUDA_VISIBLE_DEVICES='' hides every GPU from CUDA", "remedy": "unset CUDA_VISIBLE_DEVICES"}
    details = {"resolved_device": "cpu", "backend": "cpu", "backends": {"cuda": cuda}}
    if present:
        details["nvidia_gpus_present"] = present
    ctx.results["device.resolve"] = CheckResult("device.resolve", "pass", details=details)
    ctx.results["capabilities.detect"] = CheckResult("capabilities.detect", "pass", details=dict(H100_CAPS))
    return ctx


def test_gpu_health_fails_the_silent_cpu_fallback_and_blocks() -> None:
    ctx = _fallback_context("auto", ["0000:18:00.0"])
    result = host_checks.check_gpu_health(ctx, lambda t: collect.collect_readings(t, replay("healthy_idle")))
    assert result.status == "fail"
    assert result.error == (
        "--device auto resolved to cpu, but this host has 1 NVIDIA GPU (NVIDIA H100 80GB HBM3) that torch cannot use: "
        "CUDA_VISIBLE_DEVICES='' hides every GPU from CUDA"
    )
    assert result.remedy == "unset CUDA_VISIBLE_DEVICES"
    scored = triage.score_checks([result], policy.load(), "cpu")
    assert triage.build(scored, policy.load(), "cpu", "medium").blocking


def test_without_nvml_the_message_names_the_gpus_by_pci_address() -> None:
    ctx = _fallback_context("auto", ["0000:18:00.0", "0000:2a:00.0"])
    broken = collect.Collected(None, "NVML did not answer within 30 s", 30000.0)
    result = host_checks.check_gpu_health(ctx, lambda t: broken)
    assert result.status == "fail"
    assert "this host has 2 NVIDIA GPUs (0000:18:00.0, 0000:2a:00.0) that torch cannot use" in (result.error or "")


@pytest.mark.parametrize(("device_flag", "present"), [("cpu", ["0000:18:00.0"]), ("auto", [])])
def test_the_cpu_asked_for_or_no_gpu_at_all_is_no_fallback(device_flag: str, present: list[str]) -> None:
    ctx = _fallback_context(device_flag, present)
    result = host_checks.check_gpu_health(ctx, lambda t: pytest.fail("NVML is not read"))
    assert result.status == "skip"
    assert result.skip_reason == "cpu backend: no NVIDIA GPU to read with NVML"
