"""The preflight's dtype.select and memory.headroom host checks, on simulated platforms and for real."""

from __future__ import annotations

import dataclasses
import time

import pytest

from preflight_action import runtime_safety as rs
from preflight_action.preflight import checks, triage
from preflight_action.preflight import severity as policy
from preflight_action.preflight.host_checks import check_dtype_select, check_memory_headroom
from preflight_action.preflight.options import Options
from preflight_action.preflight.report import CheckResult
from preflight_action.safety.capabilities import RuntimeCapabilities
from preflight_action.safety.memory import ENV_VAR as MEMORY_ENV


def context(caps: RuntimeCapabilities, dtype_support: dict | None = None) -> checks.Context:
    ctx = checks.Context(Options(device=caps.backend), policy.load(), backend=caps.backend)
    ctx.results["capabilities.detect"] = CheckResult("capabilities.detect", "pass", details=caps.to_probe_facts())
    if dtype_support is not None:
        ctx.results["dtype.support"] = CheckResult("dtype.support", "pass", details={"dtypes": dtype_support})
    return ctx


def test_both_checks_run_on_the_host_after_capabilities_detect():
    ids = [s.id for s in checks.SPECS]
    for check_id in ("dtype.select", "memory.headroom"):
        spec = checks.spec(check_id)
        assert spec.source == "host"
        assert spec.needs == ("device.resolve", "capabilities.detect")
        assert ids.index(check_id) > ids.index("capabilities.detect")
    assert ids.index("dtype.select") > ids.index("dtype.support")  # so it can read what dtype.support measured


@pytest.mark.parametrize(
    ("name", "dtype", "changed"),
    [
        ("h100-linux", "bfloat16", False),
        ("rtx4090-windows-wddm", "float16", True),
        ("t4-linux", "float16", True),
        ("cpu-only", "float32", True),
    ],
)
def test_dtype_select_reports_requested_chosen_and_why(name, dtype, changed):
    result = check_dtype_select(context(rs.load_simulated_profile(name)))
    assert result.status == "pass"
    assert result.source == "host"
    d = result.details
    assert (d["requested"], d["dtype"], d["changed"], d["simulated"]) == ("bfloat16", dtype, changed, True)
    assert d["summary"].startswith(f"bfloat16 requested -> {dtype}")
    assert d["reason"]


def test_dtype_select_fails_when_the_device_cannot_run_the_chosen_dtype():
    supported = {"float16": {"supported": True}, "bfloat16": {"supported": False, "error": "bf16 matmul not implemented"}}
    result = check_dtype_select(context(rs.load_simulated_profile("a100-linux"), supported))
    assert result.status == "fail"
    assert "chose bfloat16" in result.error
    assert "bf16 matmul not implemented" in result.error
    assert check_dtype_select(context(rs.load_simulated_profile("t4-linux"), supported)).status == "pass"  # float16 works


def test_memory_headroom_passes_with_room_and_lists_models_that_fit():
    result = check_memory_headroom(context(rs.load_simulated_profile("h100-linux")))
    assert result.status == "pass"
    d = result.details
    assert (d["available_mb"], d["minimum_mb"], d["memory_kind"], d["estimate_dtype"]) == (80494, 2048, "VRAM", "bfloat16")
    assert "flux-schnell" in d["models_fit"]
    assert "llama-70b" in d["models_too_big"]


def test_memory_headroom_fails_below_the_minimum_with_the_policy_severity():
    busy = dataclasses.replace(rs.load_simulated_profile("t4-linux"), free_memory_mb=900)
    result = check_memory_headroom(context(busy))
    assert result.status == "fail"
    assert result.error.startswith("only 900MB VRAM free on Tesla T4, below the policy minimum of 2048MB")
    scored = triage.score_checks([result], policy.load(), "cuda")[0]
    assert scored.severity is not None
    assert (scored.severity.score, scored.severity.band) == (72, "medium")


def test_memory_headroom_uses_host_ram_on_cpu_and_mps():
    low = dataclasses.replace(rs.load_simulated_profile("cpu-only"), ram_available_mb=800)
    result = check_memory_headroom(context(low))
    assert result.status == "fail"
    assert "800MB RAM free on host RAM" in result.error
    mps = check_memory_headroom(context(rs.load_simulated_profile("apple-m2-mps")))
    assert mps.status == "pass"
    assert mps.details["available_mb"] == 11873


def test_memory_headroom_skips_when_free_memory_is_unknown():
    blind = dataclasses.replace(rs.load_simulated_profile("h100-linux"), free_memory_mb=None)
    result = check_memory_headroom(context(blind))
    assert result.status == "skip"
    assert "unknown" in (result.skip_reason or "")


def test_a_broken_user_policy_fails_the_check_and_names_the_file(tmp_path, monkeypatch):
    bad = tmp_path / "memory.yaml"
    bad.write_text("schema_version: 2\n", encoding="utf-8")
    monkeypatch.setenv(MEMORY_ENV, str(bad))
    result = check_memory_headroom(context(rs.load_simulated_profile("h100-linux")))
    assert result.status == "fail"
    assert str(bad) in result.error
    assert "/schema_version" in result.error


def test_host_checks_cost_about_nothing():
    ctx = context(rs.load_simulated_profile("a100-linux"))
    check_dtype_select(ctx)
    check_memory_headroom(ctx)  # policies loaded and cached
    start = time.perf_counter()
    for _ in range(20):
        check_dtype_select(ctx)
        check_memory_headroom(ctx)
    assert (time.perf_counter() - start) / 20 < 0.02


@pytest.mark.integration
def test_real_cpu_preflight_reports_both_checks(run_preflight):
    run = run_preflight("--device", "cpu")
    assert run.exit_code == 0
    select = run.check("dtype.select")
    assert select["status"] == "pass"
    assert select["source"] == "host"
    assert (select["details"]["requested"], select["details"]["dtype"], select["details"]["simulated"]) == ("bfloat16", "float32", False)
    headroom = run.check("memory.headroom")
    assert headroom["status"] == "pass"
    assert headroom["details"]["memory_kind"] == "RAM"
    assert "dtype.select" in run.stdout
    assert "requested -> float32" in run.stdout
