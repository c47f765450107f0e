"""preflight-gang with real members: processes standing for nodes on 127.0.0.1, real gloo ranks, real reports.

Faults go into one member's environment only (``PREFLIGHT_INJECT_FAULT=gang.allreduce=<kind>``): a hang in
its collective, a wrong result, a slow link. Timing assertions are bounds: a timeout x 1.1 plus an allowance
stated in tests/support/gang_members.py, never a speed goal.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from preflight_action.gang import cli
from tests.support import gang_members
from tests.support.gang_members import CHECK_ALLOWANCE_S, START_UP_ALLOWANCE_S, assert_ranks_gone, states
from tests.support.slurm_cluster import free_port

pytestmark = pytest.mark.integration

JOIN_S = 20.0  # the absent member's test waits this long; the others get far more than they need
COLLECTIVE_S = 10.0
HEALTHY_JOIN = ("--rdzv-conf", "join_timeout=120", "--collective-timeout", "30")


@pytest.mark.parametrize("nnodes", [2, 3])
def test_every_member_passes_with_the_inter_node_figure(tmp_path: Path, nnodes: int) -> None:
    members = gang_members.finish(gang_members.start(tmp_path, free_port(), nnodes, args=HEALTHY_JOIN), 120 * 1.1 + START_UP_ALLOWANCE_S)
    ids = set()
    for member in members:
        report = member.report
        assert member.code == 0, member.stderr
        assert report.verdict == "healthy"
        check = member.check
        assert check.status == "pass", check.error or check.skip_reason
        gang = report.gang
        assert gang is not None
        assert (gang.size, gang.node_rank, gang.launcher, gang.endpoint.startswith("127.0.0.1:")) == (
            nnodes,
            member.node_rank,
            "torchrun",
            True,
        )
        assert states(report) == {f"node-{r}": "ok" for r in range(nnodes)}
        assert gang.busbw_gbs is not None
        assert gang.busbw_gbs > 0
        assert all(m.in_gbs and m.out_gbs for m in gang.members)  # and each member's links
        details = check.details
        assert details["world_size"] == nnodes
        assert details["correctness"]["checked_ranks"] == [0]  # this member's one local rank
        assert len(details["links"]) == nnodes
        assert all(link["inter_node"] for link in details["links"])
        assert details["comparison"].startswith("skipped: CPU gloo")
        assert details["slow_members"] == []
        assert "gang busbw GB/s by size" in details["summary"]
        assert f"preflight-gang: healthy: gang {gang.id}" in member.stderr
        assert_ranks_gone(check)
        ids.add(gang.id)
    assert len(ids) == 1  # one gang id in every member's report: the summary groups by it


def test_members_with_two_local_ranks_each_take_their_node_ranks_in_order_of_arrival(tmp_path: Path) -> None:
    args = (*HEALTHY_JOIN, "--nproc-per-node", "2")
    started = gang_members.start(tmp_path, free_port(), 2, args=args, given_ranks=False)
    members = gang_members.finish(started, 120 * 1.1 + START_UP_ALLOWANCE_S)
    assert {m.report.gang.node_rank for m in members if m.report.gang} == {0, 1}
    for member in members:
        assert member.code == 0, member.stderr
        details = member.check.details
        assert (details["world_size"], details["local_ranks"]) == (4, 2)
        assert details["correctness"]["checked_ranks"] == [0, 1]
        inter = [link for link in details["links"] if link["inter_node"]]
        assert len(details["links"]) == 4
        assert len(inter) == 2  # ranks 1 -> 2 and 3 -> 0 cross members; 0 -> 1 and 2 -> 3 stay inside one
        assert all(m.ranks == 2 for m in member.report.gang.members)  # type: ignore[union-attr]
        assert_ranks_gone(member.check)


def test_an_absent_member_is_named_by_the_others_within_the_join_timeout_plus_10_percent(tmp_path: Path) -> None:
    args = ("--rdzv-conf", f"join_timeout={JOIN_S:g}", "--rdzv-id", "absent-test")
    members = gang_members.finish(gang_members.start(tmp_path, free_port(), 3, [0, 1], args=args), JOIN_S * 1.1 + START_UP_ALLOWANCE_S)
    for member in members:
        check = member.check
        assert member.code == 2, member.stderr  # not judged: not blocking for the members who came
        assert member.report.verdict == "not_judged"
        assert (check.status, check.unfinished) == ("skip", "gang_incomplete")
        reason = check.skip_reason or ""
        assert "1 of 3 members never joined the gang" in reason
        assert "within the 20 s join timeout: node rank 2" in reason
        assert "joined: node-0 (node rank 0), node-1 (node rank 1)" in reason
        assert states(member.report) == {"node-0": "joined", "node-1": "joined", "node rank 2": "never_joined"}
        assert check.duration_ms / 1000 <= JOIN_S * 1.1 + CHECK_ALLOWANCE_S
        assert member.wall_s is not None
        assert member.wall_s <= JOIN_S * 1.1 + START_UP_ALLOWANCE_S
        assert member.report.gang is not None
        assert member.report.gang.id == "absent-test"
        assert_ranks_gone(check)


def test_a_hung_collective_is_killed_named_and_outlived_by_no_process(tmp_path: Path) -> None:
    args = ("--rdzv-conf", "join_timeout=120", "--collective-timeout", f"{COLLECTIVE_S:g}")
    started = gang_members.start(tmp_path, free_port(), 3, args=args, faults={2: "gang.allreduce=hang"})
    members = gang_members.finish(started, 120 * 1.1 + COLLECTIVE_S * 1.1 + START_UP_ALLOWANCE_S)
    hung, waiting = members[2], members[:2]
    assert hung.code == 1, hung.stderr  # blocking: its own collective never returned
    assert hung.check.status == "fail"
    assert "local rank 0 hung in correctness: still in it past the step's 10 s collective timeout" in (hung.check.error or "")
    assert states(hung.report)["node-2"] == "failed"
    for member in waiting:
        assert member.code == 2, member.stderr
        check = member.check
        assert (check.status, check.unfinished) == ("skip", "gang_incomplete")
        assert (check.skip_reason or "").startswith(
            "node-2 (node rank 2) stopped answering in correctness: this member's correctness timed out"
        )
        assert states(member.report) == {"node-0": "joined", "node-1": "joined", "node-2": "stopped"}
    for member in members:
        # From the moment the gang formed, no member's check lasts past the collective timeout x 1.1 + the kill's grace.
        joined = float(member.check.details["joined_after_s"])
        assert member.check.duration_ms / 1000 <= joined + COLLECTIVE_S * 1.1 + 1.0 + CHECK_ALLOWANCE_S
        assert_ranks_gone(member.check)


def test_the_slow_member_is_named_in_every_report_and_only_its_own_fails(tmp_path: Path) -> None:
    members = gang_members.finish(
        gang_members.start(tmp_path, free_port(), 3, args=HEALTHY_JOIN, faults={1: "gang.allreduce=slow"}), 120 * 1.1 + START_UP_ALLOWANCE_S
    )
    slow = members[1]
    assert slow.code == 1, slow.stderr
    assert "this member (node-1) is the slow member of the gang" in (slow.check.error or "")
    for member in members:
        assert states(member.report) == {"node-0": "ok", "node-1": "slow", "node-2": "ok"}
        assert member.check.details["slow_members"] == ["node-1"]
        gang = member.report.gang
        assert gang is not None
        by_name = {m.name: m for m in gang.members}
        fastest_slow_link = max(by_name["node-1"].in_gbs or 0, by_name["node-1"].out_gbs or 0)
        assert fastest_slow_link < 0.1 * (by_name["node-2"].out_gbs or 0)  # the link that does not touch node-1
    for member in (members[0], members[2]):
        assert member.code == 0, member.stderr
        assert "slow: node-1 (node rank 1)" in member.check.details["summary"]


def test_wrong_results_on_one_member_fail_it_and_leave_the_others_not_judged(tmp_path: Path) -> None:
    members = gang_members.finish(
        gang_members.start(tmp_path, free_port(), 2, args=HEALTHY_JOIN, faults={0: "gang.allreduce=wrong"}),
        120 * 1.1 + START_UP_ALLOWANCE_S,
    )
    wrong, other = members
    assert wrong.code == 1, wrong.stderr
    assert "this member (node-0) got wrong results in the exact collectives: global rank 0: all_reduce(sum): element 2049" in (
        wrong.check.error or ""
    )
    assert other.code == 2, other.stderr
    assert (other.check.unfinished, states(other.report)["node-0"]) == ("gang_incomplete", "failed")
    assert "node-0 (node rank 0) got wrong results" in (other.check.skip_reason or "")
    assert "timings" not in other.check.details  # every rank agreed to stop before timing a broken collective


def test_without_a_gang_described_it_is_one_line_and_exit_2(capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("SLURM_STEP_ID", "SLURM_PROCID", "JOB_COMPLETION_INDEX"):
        monkeypatch.delenv(name, raising=False)
    assert cli.main(["--nnodes", "2"]) == 2
    err = capsys.readouterr().err
    assert err == "preflight-gang: error: --rdzv-endpoint HOST:PORT is needed: where the gang's members meet (the c10d store)\n"
