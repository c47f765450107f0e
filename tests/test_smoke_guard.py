"""The memory guard: need vs available minus reserve, knobs from flags and PREFLIGHT_SMOKE_* variables."""

from __future__ import annotations

import pytest

from preflight_action.errors import UsageError
from preflight_action.smoke import guard

GIB = guard.GIB


def test_need_is_params_times_bytes_times_factor_plus_overhead() -> None:
    knobs = guard.GuardKnobs(factor=4.0, overhead_gb=0.5, reserve_gb=1.0)
    assert guard.need_bytes(1_000_000, "float32", knobs) == 16_000_000 + GIB // 2
    assert guard.need_bytes(1_000_000, "bfloat16", knobs) == 8_000_000 + GIB // 2


def test_verdict_uses_the_largest_case_and_subtracts_the_reserve() -> None:
    knobs = guard.GuardKnobs(factor=1.0, overhead_gb=0.0, reserve_gb=1.0)
    params = {"small": 1000, "big": GIB // 4}  # big float32 needs exactly 1 GiB
    fits = guard.check(params, ["float16", "float32"], 2 * GIB, "host RAM", knobs)
    assert fits.fits
    assert fits.proceed
    assert fits.largest_case == "big float32"
    assert fits.shortfall_bytes == 0
    short = guard.check(params, ["float32"], int(1.5 * GIB), "host RAM", knobs)
    assert not short.fits
    assert not short.proceed
    assert short.shortfall_bytes == GIB // 2
    assert "short by 0.50 GiB" in short.describe()
    assert "does not fit" in short.describe()


def test_allow_high_mem_bypasses_without_hiding_the_shortfall() -> None:
    knobs = guard.GuardKnobs(factor=1.0, overhead_gb=0.0, reserve_gb=0.0, allow_high_mem=True)
    verdict = guard.check({"m": GIB}, ["float32"], GIB, "device", knobs)
    assert not verdict.fits
    assert verdict.bypassed
    assert verdict.proceed
    assert verdict.shortfall_bytes == 3 * GIB
    assert "bypassed by --allow-high-mem" in verdict.describe()


def test_unknown_available_memory_proceeds_and_says_so() -> None:
    verdict = guard.check({"m": 10}, ["float32"], None, "xpu free memory is not reported", guard.GuardKnobs())
    assert verdict.proceed
    assert verdict.usable_bytes is None
    assert "unknown" in verdict.describe()


def test_environment_knobs_apply_and_flags_win() -> None:
    env = {
        "PREFLIGHT_SMOKE_MEM_FACTOR": "2.5",
        "PREFLIGHT_SMOKE_MEM_RESERVE_GB": "3",
        "PREFLIGHT_SMOKE_MEM_OVERHEAD_GB": "0.25",
        "PREFLIGHT_SMOKE_ALLOW_HIGH_MEM": "1",
        "PREFLIGHT_SMOKE_REQUIRE_REAL": "true",
    }
    from_env = guard.knobs_from(environ=env)
    assert from_env == guard.GuardKnobs(factor=2.5, overhead_gb=0.25, reserve_gb=3.0, allow_high_mem=True, require_real=True)
    flags = guard.knobs_from(factor=1.0, reserve_gb=0.0, environ=env)
    assert flags.factor == 1.0
    assert flags.reserve_gb == 0.0
    assert flags.overhead_gb == 0.25
    assert guard.knobs_from(environ={}) == guard.GuardKnobs()


@pytest.mark.parametrize("value", ["lots", "-1"])
def test_a_bad_environment_knob_is_a_usage_error_naming_the_variable(value: str) -> None:
    with pytest.raises(UsageError, match="PREFLIGHT_SMOKE_MEM_FACTOR"):
        guard.knobs_from(environ={"PREFLIGHT_SMOKE_MEM_FACTOR": value})
