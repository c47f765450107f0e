"""distributed.allreduce with real gloo ranks (real torch, real processes on 127.0.0.1), and device.count.

Faults are injected in the rank worker through PREFLIGHT_INJECT_FAULT
(``distributed.allreduce=<kind>:rank<N>``): a hang, a wrong result, a rank that exits.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import psutil
import pytest
import yaml

from preflight_action.errors import InputError
from preflight_action.gpu import interconnect
from preflight_action.preflight import distributed, triage
from preflight_action.preflight import severity as severity_policy
from preflight_action.preflight.context import Context
from preflight_action.preflight.options import Options
from preflight_action.preflight.ranks import RankPlan, run_ranks
from preflight_action.preflight.report import CheckResult

FAULT = "PREFLIGHT_INJECT_FAULT"


def context(backend: str = "cpu", caps: dict[str, Any] | None = None, timeout: float = 120.0, **options: Any) -> Context:
    ctx = Context(Options(device=backend, check_distributed=True, check_timeout=timeout, **options), severity_policy.load())
    ctx.device = "cpu" if backend == "cpu" else "cuda:0"
    ctx.backend = backend
    ctx.results["device.resolve"] = CheckResult("device.resolve", "pass", details={"resolved_device": ctx.device, "backend": backend})
    ctx.results["capabilities.detect"] = CheckResult("capabilities.detect", "pass", details=dict(caps or {"cuda_device_count": 0}))
    return ctx


def quick_policy(tmp_path: Path, rank_timeout_s: float = 4.0) -> interconnect.DistributedPolicy:
    """The shipped policy with a short per-rank timeout, so a hung peer is noticed in seconds."""
    document = yaml.safe_load(interconnect.policy_path().read_text(encoding="utf-8"))
    document["run"]["rank_timeout_s"] = rank_timeout_s
    path = tmp_path / "distributed_reference.yaml"
    path.write_text(yaml.safe_dump(document), encoding="utf-8")
    return interconnect.load_policy(str(path))


def assert_all_gone(details: dict[str, Any]) -> None:
    """Every rank's process is gone (reaped), not merely signalled."""
    pids = [r["pid"] for r in details["ranks"]]
    assert all(isinstance(pid, int) for pid in pids), details["ranks"]
    for pid in pids:
        if psutil.pid_exists(pid):
            try:
                cmdline = " ".join(psutil.Process(pid).cmdline())
            except psutil.NoSuchProcess:
                continue
            assert "preflight_probe_boot" not in cmdline, f"rank pid {pid} still running: {cmdline}"


def scored(result: CheckResult, ctx: Context) -> CheckResult:
    return triage.score_checks([result], ctx.policy, ctx.backend)[0]


def test_two_gloo_ranks_agree_exactly_and_report_bus_bandwidth(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(FAULT, raising=False)
    result = distributed.check_distributed_allreduce(context())
    assert result.status == "pass", result.error
    details = result.details
    assert (details["backend"], details["world_size"], details["library"], details["nccl_version"]) == ("gloo", 2, "GLOO", None)
    assert details["correctness"]["checked_ranks"] == [0, 1]
    assert details["correctness"]["wrong_ranks"] == []
    policy = interconnect.load_policy()
    assert [t["size_bytes"] for t in details["timings"]] == policy.run["cpu"]["sizes_bytes"]
    for timing in details["timings"]:
        assert timing["time_us"] > 0
        assert timing["algbw_gbs"] == pytest.approx(timing["size_bytes"] / (timing["time_us"] * 1e-6) / 1e9, rel=1e-2)
        assert timing["busbw_gbs"] == pytest.approx(timing["algbw_gbs"] * 2 * (2 - 1) / 2, abs=1e-4)  # n=2: busbw == algbw
    assert details["peak_busbw_gbs"] == max(t["busbw_gbs"] for t in details["timings"])
    assert details["reference"] is None
    assert details["comparison"].startswith("skipped: CPU gloo over loopback")
    assert details["rendezvous"].startswith("127.0.0.1:")
    assert "2 GLOO ranks: exact all-reduce and broadcast" in details["summary"]
    assert_all_gone(details)


def test_a_hanging_rank_fails_the_check_with_a_timeout_and_every_rank_is_killed(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv(FAULT, "distributed.allreduce=hang:rank1")
    ctx = context()
    result = scored(distributed.check_distributed_allreduce(ctx, quick_policy(tmp_path)), ctx)
    assert result.status == "fail"
    error = result.error or ""
    assert "rank 1 hung in correctness and was killed" in error
    assert "rank 0 failed in correctness" in error
    assert "Timed out" in error  # rank 0's own process-group timeout fired first
    ranks = {r["rank"]: r for r in result.details["ranks"]}
    assert ranks[1]["killed"] is True
    assert "injecting hang" in " ".join(ranks[1]["stderr_tail"])
    assert result.severity is not None
    assert (result.severity.score, result.severity.band) == (85, "high")
    assert_all_gone(result.details)


def test_a_rank_with_a_wrong_result_is_named(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(FAULT, "distributed.allreduce=wrong:rank1")
    result = distributed.check_distributed_allreduce(context())
    assert result.status == "fail"
    assert result.details["correctness"]["wrong_ranks"] == [1]
    assert "rank 1 got wrong results: all_reduce(sum): element 2049 is" in (result.error or "")
    assert "rank 0" not in (result.error or "")
    assert "timings" not in result.details  # every rank agreed to stop before timing a broken collective
    assert_all_gone(result.details)


@pytest.mark.parametrize(("kind", "how"), [("exit", "exit code 3"), ("segfault", "killed by SIGSEGV")])
def test_a_rank_that_dies_is_named_with_how_it_ended(monkeypatch: pytest.MonkeyPatch, kind: str, how: str) -> None:
    if kind == "segfault" and sys.platform == "win32":
        pytest.skip("Windows reports an access violation, not SIGSEGV")
    monkeypatch.setenv(FAULT, f"distributed.allreduce={kind}:rank1")
    result = distributed.check_distributed_allreduce(context())
    assert result.status == "fail"
    causes = (result.error or "").split(": ", 1)[1]
    assert causes.startswith(f"rank 1 died in correctness ({how}")  # the culprit first, then the fallout on rank 0
    assert "rank 0" in causes
    assert_all_gone(result.details)


def test_world_size_one_runs_one_rank_and_skips_the_collective_saying_why(monkeypatch: pytest.MonkeyPatch) -> None:
    """What one device can check (the library initialises, a 1-rank collective is exact) is checked; the rest is a skip."""
    monkeypatch.delenv(FAULT, raising=False)
    ctx = context()
    run = run_ranks(sys.executable, RankPlan("gloo", "cpu", 1, (), 0, 1, 257, 10.0, 120.0))
    result = distributed.judge(run, ctx, interconnect.load_policy())
    assert result.status == "skip"
    assert (result.skip_reason or "").startswith("world size 1 (one visible cpu device): no peer to exchange with")
    assert "GLOO initialised and a 1-rank all-reduce and broadcast returned exact results" in (result.skip_reason or "")
    assert result.details["correctness"]["checked_ranks"] == [0]
    assert_all_gone(result.details)


def test_a_one_rank_failure_is_still_a_failure(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(FAULT, "distributed.allreduce=exit")
    run = run_ranks(sys.executable, RankPlan("gloo", "cpu", 1, (), 0, 1, 257, 10.0, 120.0))
    result = distributed.judge(run, context(), interconnect.load_policy())
    assert result.status == "fail"
    assert "rank 0 died in correctness (exit code 3)" in (result.error or "")


def test_the_preflight_goes_on_after_a_collective_that_outlives_the_deadline(monkeypatch: pytest.MonkeyPatch, run_preflight: Any) -> None:
    """Every rank hangs outside any collective (no rank timeout can fire): the orchestrator's deadline kills them all."""
    monkeypatch.setenv(FAULT, "distributed.allreduce=hang")
    run = run_preflight("--device", "cpu", "--check-distributed", "--check-timeout", "45")
    check = run.check("distributed.allreduce")
    assert check["status"] == "fail"
    assert "timed out after 45 s (the orchestrator's deadline); every rank still running was killed" in check["error"]
    assert "rank 0 hung" in check["error"]
    assert "rank 1 hung" in check["error"]
    assert all(r["killed"] for r in check["details"]["ranks"])
    assert_all_gone(check["details"])
    statuses = {c["id"]: c["status"] for c in run.report["checks"]}
    ids = list(statuses)
    assert ids.index("distributed.allreduce") < ids.index("dtype.select")
    assert (statuses["dtype.select"], statuses["memory.headroom"], statuses["tensor.smoke"]) == ("pass", "pass", "pass")


def test_not_requested_says_which_flag(run_preflight: Any) -> None:
    run = run_preflight("--device", "cpu")
    assert run.check("distributed.allreduce")["skip_reason"] == "not requested (pass --check-distributed to run it)"
    assert run.check("device.count")["skip_reason"] == "not requested (pass --expect-gpus to run it)"


# ---------------------------------------------------------------- planning (no processes)


def test_plan_on_cpu_is_gloo_ranks_from_policy() -> None:
    plan = distributed.plan_for(context(timeout=20.0), interconnect.load_policy())
    assert isinstance(plan, RankPlan)
    assert (plan.backend, plan.device, plan.world_size) == ("gloo", "cpu", 2)
    assert plan.rank_timeout_s == 10.0  # half the orchestrator's deadline when that is below the policy's 30 s
    assert plan.deadline_s == 20.0


@pytest.mark.parametrize(("backend", "count", "sizes"), [("cuda", 8, 3), ("rocm", 2, 3), ("cuda", 1, 0)])
def test_plan_on_gpus_is_one_nccl_rank_per_visible_device(backend: str, count: int, sizes: int) -> None:
    plan = distributed.plan_for(context(backend, {"cuda_device_count": count}), interconnect.load_policy())
    assert isinstance(plan, RankPlan)
    assert (plan.backend, plan.device, plan.world_size, len(plan.sizes)) == ("nccl", "cuda", count, sizes)
    assert plan.argv("py", "boot.py", 1)[:4] == ["py", "boot.py", "--rank", "1"]


@pytest.mark.parametrize(
    ("backend", "caps", "reason"),
    [
        ("mps", {}, "mps backend: one Apple GPU"),
        ("xpu", {}, "xpu backend: this check drives gloo and NCCL/RCCL only"),
        ("cuda", {"cuda_device_count": None}, "capabilities.detect reports no visible GPU count"),
    ],
)
def test_plan_says_why_nothing_can_run(backend: str, caps: dict[str, Any], reason: str) -> None:
    plan = distributed.plan_for(context(backend, caps), interconnect.load_policy())
    assert isinstance(plan, str)
    assert plan.startswith(reason)


def test_a_bad_policy_file_is_one_line_naming_file_and_field(tmp_path: Path) -> None:
    bad = tmp_path / "distributed_reference.yaml"
    document = yaml.safe_load(interconnect.policy_path().read_text(encoding="utf-8"))
    document["run"]["threshold"] = -1
    bad.write_text(yaml.safe_dump(document), encoding="utf-8")
    with pytest.raises(InputError) as caught:
        interconnect.load_policy(str(bad))
    assert str(bad) in str(caught.value)
    assert "/run/threshold" in str(caught.value)


# ---------------------------------------------------------------- device.count (--expect-gpus)


@pytest.mark.parametrize(
    ("caps", "expected", "status"),
    [
        ({"cuda_device_count": 4}, 8, "fail"),
        ({"cuda_device_count": 8}, 8, "pass"),
        ({"cuda_device_count": 0}, 1, "fail"),
        ({"cuda_device_count": 0, "mps_available": True}, 1, "pass"),
    ],
)
def test_expect_gpus_fails_critical_when_fewer_are_visible(caps: dict[str, Any], expected: int, status: str) -> None:
    ctx = context("cuda", caps, expect_gpus=expected)
    result = scored(distributed.check_device_count(ctx), ctx)
    assert result.status == status
    if status == "fail":
        assert (
            result.error
            == f"{caps['cuda_device_count']} GPU(s) visible (torch.cuda.device_count()), the job expects {expected} (--expect-gpus)"
        )
        assert result.severity is not None
        assert result.severity.band == "critical"


@pytest.mark.parametrize("value", ["0", "-2", "eight"])
def test_expect_gpus_rejects_a_bad_count_with_exit_2(run_preflight: Any, value: str, capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exited:
        run_preflight("--expect-gpus", value)
    assert exited.value.code == 2
    assert "--expect-gpus" in capsys.readouterr().err


# ---------------------------------------------------------------- the composite action's inputs


def test_action_inputs_become_the_flags(tmp_path: Path) -> None:
    from preflight_action.github import action_helper

    env = {"PREFLIGHT_CHECK_DISTRIBUTED": "true", "PREFLIGHT_EXPECT_GPUS": " 8 ", "PREFLIGHT_OUTPUT_PATH": str(tmp_path / "r.json")}
    command = action_helper.preflight_command("py", Path("/action"), action_helper.RunInputs.from_env(env))
    assert command[command.index("--check-distributed") :][:3] == ["--check-distributed", "--expect-gpus", "8"]
    plain = action_helper.preflight_command("py", Path("/action"), action_helper.RunInputs.from_env({}))
    assert "--check-distributed" not in plain
    assert "--expect-gpus" not in plain


@pytest.mark.parametrize("value", ["0", "eight", "-1"])
def test_action_rejects_a_bad_expect_gpus_by_input_name(value: str) -> None:
    from preflight_action.github import action_helper

    with pytest.raises(action_helper.ActionInputError, match="input expect-gpus: expected a whole number"):
        action_helper.RunInputs.from_env({"PREFLIGHT_EXPECT_GPUS": value})
