"""gang.allreduce's parts that need no gang: the plan per backend, who may serve the store, the slow-member rule, the
room the run leaves the gang, and a member whose own stack is broken (a real interpreter without torch)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from preflight_action.errors import UsageError
from preflight_action.gang import cli
from preflight_action.gpu import interconnect
from preflight_action.preflight import gang, gang_links, gang_record, levels
from preflight_action.preflight import severity as severity_policy
from preflight_action.preflight.context import Context
from preflight_action.preflight.gang_links import Link
from preflight_action.preflight.gang_view import GangPlan
from preflight_action.preflight.options import GangOptions, Options
from preflight_action.preflight.report import CheckResult

GANG = GangOptions("127.0.0.1", 29400, 3, node_rank=1, rdzv_id="g1")


def context(backend: str = "cpu", caps: dict[str, Any] | None = None, gang_options: GangOptions = GANG, timeout: float = 600.0) -> Context:
    ctx = Context(Options(device=backend, check_timeout=timeout, gang=gang_options), severity_policy.load())
    ctx.backend = backend
    ctx.results["capabilities.detect"] = CheckResult("capabilities.detect", "pass", details=dict(caps or {}))
    return ctx


def test_on_the_cpu_a_member_runs_one_gloo_rank_unless_told_more() -> None:
    policy = interconnect.load_policy()
    plan = gang.plan_for(context(), policy, GANG)
    assert isinstance(plan, GangPlan)
    assert (plan.backend, plan.device, plan.world_size, plan.may_host) == ("gloo", "cpu", 1, True)
    assert (plan.join_timeout_s, plan.collective_timeout_s) == (policy.gang["join_timeout_s"], policy.gang["collective_timeout_s"])  # type: ignore[index]
    argv = plan.argv("py", "boot.py", 0)
    assert argv[argv.index("--node-rank") + 1] == "1"
    assert argv[argv.index("--rdzv-id") + 1] == "g1"
    two = gang.plan_for(context(), policy, GangOptions("127.0.0.1", 29400, 3, nproc_per_node=2))
    assert isinstance(two, GangPlan)
    assert two.world_size == 2
    assert two.argv("py", "boot.py", 1)[two.argv("py", "boot.py", 1).index("--node-rank") + 1] == "-1"  # by arrival


@pytest.mark.parametrize(
    ("backend", "caps", "nproc", "expect"),
    [
        ("cuda", {"cuda_device_count": 8}, None, ("nccl", 8)),
        ("rocm", {"cuda_device_count": 4}, 2, ("nccl", 2)),
        ("cuda", {"cuda_device_count": 2}, 4, "--nproc-per-node 4, but torch sees 2 GPU(s) here"),
        ("cuda", {"cuda_device_count": 0}, None, "capabilities.detect reports no visible GPU count"),
        ("mps", {}, None, "mps backend: one Apple GPU"),
    ],
)
def test_on_gpus_one_nccl_rank_per_visible_device_or_why_not(backend: str, caps: dict[str, Any], nproc: int | None, expect: Any) -> None:
    options = GangOptions("127.0.0.1", 29400, 2, nproc_per_node=nproc)
    plan = gang.plan_for(context(backend, caps, options), interconnect.load_policy(), options)
    if isinstance(expect, str):
        assert isinstance(plan, str)
        assert plan.startswith(expect)
    else:
        assert isinstance(plan, GangPlan)
        assert (plan.backend, plan.world_size) == expect


def test_a_member_that_cannot_take_part_leaves_the_gang_not_judged() -> None:
    result = gang.check_gang_allreduce(context("mps", {}, GangOptions("127.0.0.1", 29400, 2)))
    assert (result.status, result.unfinished) == ("skip", "gang_incomplete")
    assert (result.skip_reason or "").startswith("this member cannot take part, so the gang is not judged here: mps backend")


def test_the_check_is_bounded_by_the_gangs_timeouts_and_by_check_timeout() -> None:
    policy = interconnect.load_policy()
    options = GangOptions("127.0.0.1", 29400, 2, join_timeout_s=20.0, collective_timeout_s=10.0)
    needed = gang.needed_s(options, policy)
    steps = gang.FIXED_STEPS + 3  # three timed sizes in the shipped policy
    assert needed == pytest.approx(20 * 1.1 + 1 + steps * (10 * 1.1 + 1) + gang.WRAP_UP_S)
    plan = gang.plan_for(context(gang_options=options, timeout=30.0), policy, options)
    assert isinstance(plan, GangPlan)
    assert plan.deadline_s == 30.0  # --check-timeout (or the budget's allotment) still caps it


@pytest.mark.parametrize(
    ("host", "local"), [("127.0.0.1", True), ("localhost", True), ("192.0.2.1", False), ("no-such-host.invalid", False)]
)
def test_only_a_member_on_the_endpoints_host_may_serve_the_store(host: str, local: bool) -> None:
    assert gang.host_is_local(host) is local


def ring(times: list[float], members: int, per_member: int = 1) -> list[Link]:
    """The link ring of ``members`` x ``per_member`` ranks with each receiver's time (4 MiB transfers)."""
    world = members * per_member
    return [Link((to - 1) % world, to, times[to], 4 << 20, ((to - 1) % world) // per_member, to // per_member) for to in range(world)]


def test_a_member_is_slow_when_both_its_links_are_far_below_the_links_not_touching_it() -> None:
    inter = ring([0.002, 0.2, 0.2, 0.002], 4)  # member 1's in-link (0 -> 1) and out-link (1 -> 2) are 100x slower
    assert [m for m in range(4) if gang_links.is_slow(m, inter, 0.5)] == [1]
    three = ring([0.002, 0.2, 0.2], 3)
    assert [m for m in range(3) if gang_links.is_slow(m, three, 0.5)] == [1]
    steady = ring([0.002, 0.0021, 0.0023, 0.0019], 4)  # a 15% spread is no one's fault
    assert not any(gang_links.is_slow(m, steady, 0.5) for m in range(4))


def test_with_two_members_every_link_touches_both_so_no_one_is_slow() -> None:
    two = ring([0.2, 0.002], 2)
    assert not any(gang_links.is_slow(m, two, 0.5) for m in range(2))


def test_links_inside_a_member_are_not_inter_node() -> None:
    links = ring([0.001] * 4, 2, per_member=2)
    assert [link.inter_node for link in links] == [True, False, True, False]


def test_the_record_of_a_member_whose_gang_check_never_ran_comes_from_its_options() -> None:
    record = gang_record.build(GANG, None)
    assert record is not None
    assert (record.id, record.launcher, record.endpoint, record.size, record.node_rank, record.members) == (
        "g1",
        "torchrun",
        "127.0.0.1:29400",
        3,
        1,
        [],
    )
    assert gang_record.build(None, {"gang_id": "x"}) is None


def test_preflight_gang_leaves_room_for_the_gangs_timeouts_unless_the_flags_say_otherwise() -> None:
    argv = ["--rdzv-endpoint", "127.0.0.1:29400", "--nnodes", "2", "--rdzv-conf", "join_timeout=30", "--collective-timeout", "10"]
    line = cli.command_line(cli.parser().parse_args(argv), {})
    assert line.options.gang is not None
    needed = gang.needed_s(line.options.gang, interconnect.load_policy())
    quick = levels.load().level("quick").budget_s
    assert quick is not None
    assert line.options.level == "quick"
    assert (line.options.check_timeout, line.options.budget_s) == (max(120.0, needed), quick + needed)
    explicit = cli.command_line(cli.parser().parse_args([*argv, "--check-timeout", "45", "--budget", "50"]), {})
    assert (explicit.options.check_timeout, explicit.options.budget_s) == (45.0, 50.0)
    standard = cli.command_line(cli.parser().parse_args([*argv, "--level", "standard"]), {})
    assert standard.options.budget_s is None  # no budget at that level: each check keeps its timeout


def test_bad_gang_options_are_refused_by_the_run_too() -> None:
    with pytest.raises(UsageError, match="--nnodes must be a whole number from 1"):
        Options(gang=GangOptions("h", 1, 0)).validated()


def test_a_member_with_a_broken_stack_says_why_in_its_own_report_and_never_joins(tmp_path: Path, bare_python: Path) -> None:
    out = tmp_path / "broken.json"
    argv = ["--python", str(bare_python), "--device", "cpu", "--quiet", "--output-path", str(out)]
    code = cli.main([*argv, "--rdzv-endpoint", "127.0.0.1:9", "--nnodes", "2", "--node-rank", "1", "--rdzv-id", "g7"])
    report = json.loads(out.read_text())
    assert code == 1  # its own torch.import is blocking: no rendezvous was ever tried
    assert report["verdict"] == "blocking"
    check = next(c for c in report["checks"] if c["id"] == "gang.allreduce")
    assert (check["status"], check["skip_reason"]) == ("skip", "needs device.resolve, which was skipped")
    assert report["gang"] == {
        "id": "g7",
        "launcher": "torchrun",
        "endpoint": "127.0.0.1:9",
        "size": 2,
        "node_rank": 1,
        "members": [],
        "busbw_gbs": None,
    }
