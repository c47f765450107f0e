"""The probe's check logic, run in-process against the real torch installed here."""

from __future__ import annotations

import pytest

from preflight_probe import capabilities, checks_core, checks_stack
from preflight_probe.worker import run_one


@pytest.mark.parametrize(
    ("torch_v", "vision", "audio"),
    [("2.0.1", "0.15", "2.0"), ("2.4.0", "0.19", "2.4"), ("2.14.1+cu130", "0.29", "2.14"), ("1.13.1", None, None)],
)
def test_companion_versions(torch_v, vision, audio):
    assert checks_stack.expected_torchvision(torch_v) == vision
    assert checks_stack.expected_torchaudio(torch_v) == audio


def test_consistent_stack_has_no_problems():
    versions = {"torch": "2.14.1+cu130", "torchvision": "0.29.1+cu130", "torchaudio": "2.14.1+cu130", "numpy": "2.1.0"}
    assert checks_stack.consistency_problems(versions) == []


def test_torchvision_from_another_torch_release_is_named_with_both_versions():
    problems = checks_stack.consistency_problems({"torch": "2.15.0", "torchvision": "0.29.2", "torchaudio": None, "numpy": "2.0"})
    assert problems == ["torchvision 0.29.2 is built for a different torch than torch 2.15.0 (expected torchvision 0.30.x)"]


def test_cuda_tag_mismatch_and_missing_numpy():
    problems = checks_stack.consistency_problems({"torch": "2.4.0+cu121", "torchvision": "0.19.0+cu118", "torchaudio": None, "numpy": None})
    assert "torchvision 0.19.0+cu118 is a cu118 build but torch 2.4.0+cu121 is a cu121 build" in problems
    assert any(p.startswith("numpy is not installed") for p in problems)


def test_numpy2_with_torch_built_for_numpy1():
    problems = checks_stack.consistency_problems({"torch": "2.2.2", "torchvision": "0.17.2", "torchaudio": None, "numpy": "2.0.1"})
    assert problems == ["numpy 2.0.1 is 2.x but torch 2.2.2 was built against numpy 1.x (needs torch >= 2.3)"]


@pytest.mark.parametrize(
    ("text", "cause"),
    [
        ("InvalidCxxCompiler: No working C++ compiler found in torch._inductor.config.cpp.cxx", "no working C++ compiler"),
        ("RuntimeError: Cannot find a working triton installation", "Triton is missing"),
        ("RuntimeError: Dynamo is not supported on Python 3.14+", "does not support this Python"),
        ("ValueError: shapes do not match", None),
    ],
)
def test_compile_failure_causes_are_named(text, cause):
    found = checks_stack._compile_cause(text)
    assert (found is None) if cause is None else (cause in found)


def test_unknown_check_and_raising_check_become_failures_not_crashes():
    unknown = run_one("no.such_check", {})
    assert unknown["status"] == "fail"
    assert "no check named 'no.such_check'" in unknown["error"]
    broken = run_one("tensor.smoke", {"device": "not-a-device"})
    assert broken["status"] == "fail"
    assert broken["error"].startswith("RuntimeError")
    assert broken["duration_ms"] >= 0


def test_device_resolution_on_this_cpu_machine():
    assert run_one("torch.import", {})["status"] == "pass"
    auto = checks_core.check_device_resolve({"requested": "auto"})
    assert auto.status == "pass"
    assert auto.details["resolved_device"] == "cpu"
    assert set(auto.details["backends"]) == {"cuda", "rocm", "xpu", "mps", "cpu"}
    mps = checks_core.check_device_resolve({"requested": "mps"})
    assert mps.status == "fail"
    assert "--device mps was requested but is not available" in mps.error


def test_dtype_support_on_cpu_meets_tolerances():
    outcome = checks_core.check_dtype_support({"device": "cpu"})
    assert outcome.status == "pass", outcome.error
    for name in ("float16", "bfloat16"):
        info = outcome.details["dtypes"][name]
        assert info["supported"]
        assert info["rel_error"] <= checks_core.TOLERANCE[name]


def test_capabilities_name_the_source_of_every_fact():
    import torch

    facts = capabilities.collect(torch, "cpu")
    assert facts["torch_version"] == torch.__version__
    assert facts["torch_available"] is True
    missing = [name for name in facts if name != "sources" and name not in facts["sources"]]
    assert missing == []
    assert facts["sources"]["torch_cuda_build"].startswith("torch.version.cuda")


def test_host_facts_without_torch():
    facts = capabilities.collect(None)
    assert facts["torch_available"] is False
    assert "torch_version" not in facts
    assert facts["cpu_count"] >= 1


def test_fault_spec_parsing(monkeypatch):
    from preflight_probe import faults

    monkeypatch.setenv(faults.ENV_VAR, "tensor.smoke=segfault, dtype.support = hang,garbage")
    assert faults.planned() == {"tensor.smoke": "segfault", "dtype.support": "hang"}
