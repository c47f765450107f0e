"""The memory guard: need vs available minus reserve, knobs from flags and PREFLIGHT_SMOKE_* variables."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

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


# -- batch and input size (issue 11) ------------------------------------------------------------


def test_the_need_grows_with_the_batch_and_the_image_area() -> None:
    knobs = guard.GuardKnobs()
    params = {"resnet18": 11_181_642}
    small = guard.check(params, ["float32"], 64 * GIB, "host RAM", knobs, batch_size=2, image_size=64)
    batch = guard.check(params, ["float32"], 64 * GIB, "host RAM", knobs, batch_size=200, image_size=64)
    image = guard.check(params, ["float32"], 64 * GIB, "host RAM", knobs, batch_size=2, image_size=640)
    weights_only = guard.check(params, ["float32"], 64 * GIB, "host RAM", knobs)
    assert weights_only.activation_bytes == 0
    assert weights_only.need_bytes < small.need_bytes < batch.need_bytes
    assert batch.activation_bytes == 100 * small.activation_bytes
    assert image.activation_bytes > 90 * small.activation_bytes  # 10x the side, 100x the area (the input share grows alike)
    assert batch.need_bytes - batch.activation_bytes == weights_only.need_bytes
    assert "batch 200" in batch.describe()
    half = guard.check(params, ["bfloat16"], 64 * GIB, "cuda free memory", knobs, batch_size=200, image_size=64, on_host=False)
    assert half.activation_bytes == guard.activation_bytes("resnet18", "float32", 200, 64, on_host=False) // 2


def test_a_batch_that_does_not_fit_now_is_the_guards_to_judge() -> None:
    verdict = guard.check({"resnet18": 11_181_642}, ["float32"], 4 * GIB, "host RAM", guard.GuardKnobs(), batch_size=2000, image_size=64)
    assert not verdict.fits
    assert verdict.shortfall_bytes > 0


@pytest.mark.parametrize(
    ("batch", "image", "flag"),
    [(100_000_000, None, "--batch-size 100000000"), (None, 100_000, "--image-size 100000"), (2**62, 224, "--batch-size")],
)
def test_an_absurd_size_is_refused_naming_the_flag(batch: int | None, image: int | None, flag: str) -> None:
    with pytest.raises(UsageError) as caught:
        guard.refuse_absurd(["resnet18", "transformer"], batch, image, 64 * GIB, "this machine's RAM")
    message = str(caught.value)
    assert message.startswith(flag)
    assert message.endswith(f"use a smaller {flag.split(maxsplit=1)[0]}")
    assert "\n" not in message


def test_ordinary_sizes_and_the_defaults_are_not_refused() -> None:
    guard.refuse_absurd(["resnet18", "transformer"], None, None, GIB, "host")
    guard.refuse_absurd(["resnet18", "transformer"], 32, 224, 8 * GIB, "host")
    guard.refuse_absurd(["resnet18"], 256, 224, 80 * GIB, "the cuda device", device="cuda")


def test_the_cli_refuses_an_absurd_batch_before_anything_is_allocated_or_written(tmp_path: Path) -> None:
    root = tmp_path / "smoke"
    script = Path(__file__).resolve().parents[2] / "scripts" / "smoke.py"
    result = subprocess.run(
        [sys.executable, str(script), "--output-root", str(root), "--device", "cpu", "--batch-size", "100000000"],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert result.returncode == 2
    [line] = result.stderr.strip().splitlines()
    assert line.startswith("smoke.py: error: --batch-size 100000000: a resnet18 batch of 100000000 at 64x64 needs ")
    assert line.endswith("; use a smaller --batch-size")
    assert not root.exists()  # refused before the run directory, the worker or any tensor
