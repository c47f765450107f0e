"""Safety bounds and hardware profiles: out-of-bounds values stop a run before any step executes."""

from __future__ import annotations

from pathlib import Path

import pytest

from preflight_action.errors import PolicyViolation
from preflight_action.paths import repo_root
from preflight_action.sweep import bounds as safety
from preflight_action.sweep import config
from preflight_action.sweep.cli import main
from preflight_action.sweep.records import FlowRef, Hardware, PlannedPoint, PlannedStep, Scalar, SweepPlan

ROOT = repo_root()
assert ROOT is not None
H100 = Hardware(backend="cuda", device_name="NVIDIA H100 80GB HBM3", memory_mb=81_000, os="Linux")
SMALL_GPU = Hardware(backend="cuda", device_name="NVIDIA GeForce RTX 3060", memory_mb=12_000, os="Linux")
CPU = Hardware(backend="cpu", device_name="AMD EPYC", memory_mb=24_000, os="Linux")


def _plan(point_id: str, step: str, timeout_s: float, params: dict[str, Scalar]) -> SweepPlan:
    """A one-point, one-step plan: what the bounds look at (values, timeouts, counts)."""
    planned = PlannedStep(0, step, "matmul_bench", params, ("python",), timeout_s, 0)
    return SweepPlan(
        run_id="r",
        created_utc="2000-01-01T00:00:00.000Z",  # never compared with the clock
        flow=FlowRef("f", "f.yaml", "0" * 64),
        policy="p",
        profile=None,
        seed=0,
        seed_source="--seed",
        python="python",
        device="cpu",
        shard_count=1,
        axes={},
        axis_names=(),
        report={},
        points=(PlannedPoint(point_id, 0, 0, {}, 1, (planned,)),),
    )


@pytest.fixture(scope="module")
def profiles() -> list:
    return config.load_profiles(config.profiles_dir(ROOT))


def test_highest_priority_matching_profile_is_selected(profiles: list) -> None:
    assert safety.select_profile(profiles, H100).name == "nvidia-h100"
    assert safety.select_profile(profiles, SMALL_GPU).name == "nvidia-generic"
    assert safety.select_profile(profiles, CPU).name == "cpu-generic"
    assert safety.select_profile(profiles, Hardware(backend="xpu", device_name="Arc", memory_mb=16_000, os="Linux")) is None


def test_match_rules_explain_a_miss(profiles: list) -> None:
    h100 = next(p for p in profiles if p.name == "nvidia-h100")
    small_h100 = Hardware(backend="cuda", device_name="NVIDIA H100 MIG 1g.10gb", memory_mb=10_000, os="Linux")
    assert safety.profile_matches(h100, small_h100) == (False, "memory 10000 MB < 70000 MB")
    assert safety.profile_matches(h100, CPU)[1].startswith("backend 'cpu' not in")
    windows = Hardware(backend="cuda", device_name="NVIDIA H100", memory_mb=81_000, os="Windows")
    assert safety.profile_matches(h100, windows)[1] == "os 'Windows' not in ['Linux']"


def test_profile_bounds_override_the_policy_and_name_their_file(profiles: list) -> None:
    policy = config.load_policy(config.policy_file(ROOT))
    h100 = next(p for p in profiles if p.name == "nvidia-h100")
    merged = safety.apply_profile(policy, h100)
    assert merged.bounds["dtype"].choices == ("float32", "float16", "bfloat16")
    assert merged.sources["dtype"] == str(h100.path)
    assert merged.sources["iters"] == str(policy.path)
    plan = _plan("p000", "mm", 10.0, {"dtype": "float64", "batch": 8})
    found = safety.violations(merged, plan)
    assert found == [
        f"point p000 step mm: dtype='float64' is not among the allowed ['float32', 'float16', 'bfloat16'] ({h100.path} /bounds/dtype)"
    ]
    assert safety.violations(policy, plan) == []


def _flow(tmp_path: Path, batch: int) -> Path:
    path = tmp_path / "big.yaml"
    text = 'name: big\naxes: {batch: [8, BATCH]}\nsteps:\n  - name: mm\n    adapter: matmul_bench\n    params: {dtype: float32, batch: "${batch}", size: 16}\n'
    path.write_text(text.replace("BATCH", str(batch)), encoding="utf-8")
    return path


def test_value_outside_bounds_stops_the_run_before_any_step(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "runs"
    code = main(["--output-root", str(out), "run", "--flow", str(_flow(tmp_path, 5000)), "--no-probe", "--profile", "none", "--yes"])
    err = capsys.readouterr().err
    assert code == 2
    assert "batch=5000 exceeds the maximum 4096" in err
    assert f"{ROOT / 'policy' / 'safety.yaml'} /bounds/batch" in err
    assert "big.yaml" in err
    assert not out.exists(), "nothing may run or be written when the plan breaks a bound"


def test_the_selected_profile_tightens_bounds_at_run_time(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    # 300 is inside policy/safety.yaml (4096) but outside cpu-generic (256), which --no-probe hardware matches.
    code = main(["--output-root", str(tmp_path / "runs"), "run", "--flow", str(_flow(tmp_path, 300)), "--no-probe", "--yes"])
    err = capsys.readouterr().err
    assert code == 2
    assert "batch=300 exceeds the maximum 256" in err
    assert "cpu_generic.yaml /bounds/batch" in err


def test_step_timeout_above_the_limit_is_a_violation(tmp_path: Path) -> None:
    policy = config.load_policy(config.policy_file(ROOT))
    plan = _plan("p001", "slow", 7200.0, {})
    (message,) = safety.violations(policy, plan)
    assert "timeout_s=7200 exceeds max_step_timeout_s 1800" in message
    assert "/limits/max_step_timeout_s" in message
    with pytest.raises(PolicyViolation, match="outside the safety bounds"):
        safety.enforce(policy, plan, "flow.yaml")


def test_non_terminal_without_yes_refuses_and_runs_nothing(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    import io

    monkeypatch.setattr("sys.stdin", io.StringIO(""))
    out = tmp_path / "runs"
    code = main(["--output-root", str(out), "run", "--flow", "noop", "--no-probe"])
    captured = capsys.readouterr()
    assert code == 2
    assert "pass --yes to accept profile cpu-generic" in captured.err
    assert "profile:  cpu-generic" in captured.out
    assert not out.exists()


def _on_a_terminal(tmp_path: Path, answer: bytes) -> tuple[int, str, Path]:
    """Run the CLI with a pseudo-terminal as stdin/stdout and type ``answer`` at the prompt."""
    import os
    import select
    import subprocess
    import sys

    pty = pytest.importorskip("pty", reason="pseudo-terminals are POSIX-only")
    master, slave = pty.openpty()
    out = tmp_path / "runs"
    argv = [sys.executable, str(ROOT / "scripts" / "sweep.py"), "--output-root", str(out), "run", "--flow", "noop", "--no-probe"]
    proc = subprocess.Popen(argv, stdin=slave, stdout=slave, stderr=slave, close_fds=True)
    os.close(slave)
    seen = b""
    answered = False
    while True:
        ready, _, _ = select.select([master], [], [], 30)
        if not ready:
            proc.kill()
            pytest.fail(f"no prompt within 30 s; saw {seen.decode(errors='replace')[-500:]}")
        try:
            chunk = os.read(master, 4096)
        except OSError:
            break
        if not chunk:
            break
        seen += chunk
        if not answered and b"[y/N]" in seen:
            os.write(master, answer)
            answered = True
    os.close(master)
    return proc.wait(timeout=30), seen.decode(errors="replace"), out


def test_terminal_user_declining_the_profile_runs_nothing(tmp_path: Path) -> None:
    code, text, out = _on_a_terminal(tmp_path, b"n\n")
    assert code == 2
    assert "profile:  cpu-generic" in text
    assert "Run 10 step(s) under these bounds? [y/N]" in text
    assert "declined" in text
    assert not out.exists()


def test_terminal_user_accepting_runs_with_a_progress_bar(tmp_path: Path) -> None:
    code, text, out = _on_a_terminal(tmp_path, b"y\n")
    assert code == 0, text[-1000:]
    assert "10/10" in text
    assert "sweep passed: 10 passed" in text
    assert "[1/10] p000" not in text  # the rich bar replaces the plain lines on a terminal
    assert len(list(out.iterdir())) == 1
