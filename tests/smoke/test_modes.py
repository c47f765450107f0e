"""Simulated mode: the guard and the dtype policy against capability profiles; never a real pass."""

from __future__ import annotations

from pathlib import Path

import pytest

from preflight_action import schemas
from preflight_action.errors import UsageError
from preflight_action.smoke import cli, guard, modes, record
from preflight_probe import smoke_models as models

PARAMS = dict(models.PARAM_COUNTS)


@pytest.mark.parametrize(
    ("profile", "backend"),
    [("h100-linux", "cuda"), ("mi300-rocm", "rocm"), ("apple-m2-mps", "mps"), ("cpu-only", "cpu"), ("t4-linux", "cuda")],
)
def test_profiles_resolve_the_accelerator_and_its_memory(profile: str, backend: str) -> None:
    sim = modes.target(profile)
    assert sim.backend == backend
    assert sim.available_bytes is not None
    assert sim.available_bytes > 0
    assert sim.caps.simulated


def test_dtype_policy_runs_per_case_and_every_case_is_simulated() -> None:
    t4 = modes.simulate_cases(modes.target("t4-linux"), PARAMS, ["float32", "bfloat16"], guard.GuardKnobs())
    assert {c["outcome"] for c in t4} == {"simulated"}
    by_key = {(c["model"], c["dtype"]): c for c in t4}
    assert by_key[("resnet18", "bfloat16")]["effective_dtype"] == "float16"  # no bf16 before compute capability 8.0
    assert "bfloat16" in by_key[("resnet18", "bfloat16")]["policy_reason"]
    assert by_key[("resnet18", "float32")]["effective_dtype"] == "float32"
    h100 = modes.simulate_cases(modes.target("h100-linux"), PARAMS, ["bfloat16"], guard.GuardKnobs())
    assert all(c["effective_dtype"] == "bfloat16" and c["guard_fits"] for c in h100)
    assert record.run_outcome("simulated", h100, timed_out=False, aborted=False) == "simulated"


def test_the_guard_runs_against_the_profile_memory() -> None:
    knobs = guard.GuardKnobs(factor=10_000.0)  # resnet18 x 4 bytes x 10,000 = ~417 GiB
    cases = modes.simulate_cases(modes.target("h100-linux"), {"resnet18": PARAMS["resnet18"]}, ["float32"], knobs)
    assert not cases[0]["guard_fits"]
    assert "short by" in cases[0]["reason"]


def test_unknown_profile_names_the_known_ones() -> None:
    with pytest.raises(UsageError, match="known: a100-linux"):
        modes.target("no-such-gpu")


def test_simulated_cli_run_is_recorded_as_simulated(tmp_path: Path) -> None:
    code = cli.main(["--mode", "simulated", "--profile", "apple-m2-mps", "--output-root", str(tmp_path), "--quiet"])
    assert code == 0
    (run_dir,) = tmp_path.glob("run.*")
    document = schemas.read_json(run_dir / "smoke_run.json", "smoke_run")
    assert document["simulated"]
    assert document["mode"] == "simulated"
    assert document["outcome"] == "simulated"
    assert document["device"]["backend"] == "mps"
    assert document["profile"]["facts"]["mps_available"]
    assert document["counts"] == {"pass": 0, "fail": 0, "skipped": 0, "simulated": 6, "not_run": 0}
    assert record.exit_code(document["outcome"], require_real=True) == 1


def test_outcome_rules_never_turn_skips_or_simulations_into_a_pass() -> None:
    passed = {"outcome": "pass"}
    skipped = {"outcome": "skipped"}
    assert record.run_outcome("real", [passed, skipped], False, False) == "pass"
    assert record.run_outcome("real", [skipped], False, False) == "skipped"
    assert record.run_outcome("stub", [skipped], False, False) == "skipped"
    assert record.run_outcome("real", [passed, {"outcome": "fail"}], False, False) == "fail"
    assert record.run_outcome("real", [passed], True, False) == "timeout"
    assert record.exit_code("skipped", require_real=False) == 0
    assert record.exit_code("skipped", require_real=True) == 1
    assert record.exit_code("pass", require_real=True) == 0
