"""Where a gang meets and who this member is: torchrun's flags, srun's SLURM_* variables, an Indexed Job's index."""

from __future__ import annotations

import socket

import pytest

from preflight_action.errors import UsageError
from preflight_action.gang import launchers
from preflight_action.gang.launchers import GangFlags
from preflight_action.preflight.options import GangOptions

SRUN = {
    "SLURM_JOB_ID": "4711",
    "SLURM_STEP_ID": "0",
    "SLURM_PROCID": "1",
    "SLURM_STEP_NUM_TASKS": "2",
    "SLURM_STEP_NODELIST": "gpu07",
}


def test_torchrun_flags_alone_name_the_endpoint_and_size_and_leave_ranks_to_arrival() -> None:
    gang = launchers.resolve(GangFlags(rdzv_endpoint="10.0.0.5:29500", nnodes="4"), {})
    assert (gang.launcher, gang.host, gang.port, gang.nnodes, gang.node_rank, gang.rdzv_id) == (
        "torchrun",
        "10.0.0.5",
        29500,
        4,
        None,
        None,
    )
    assert gang.endpoint == "10.0.0.5:29500"


def test_torchrun_flags_with_a_node_rank_an_id_and_a_join_timeout() -> None:
    flags = GangFlags(rdzv_endpoint="head", nnodes="3:3", node_rank=2, rdzv_id="job-17", rdzv_conf="join_timeout=45,is_host=false")
    gang = launchers.resolve(flags, {})
    assert (gang.host, gang.port, gang.nnodes, gang.node_rank, gang.rdzv_id) == ("head", 29400, 3, 2, "job-17")  # torchrun's default port
    assert (gang.join_timeout_s, gang.is_host) == (45.0, False)


def test_an_ipv6_endpoint_keeps_its_brackets_in_words() -> None:
    gang = launchers.resolve(GangFlags(rdzv_endpoint="[fd00::5]:29501", nnodes="2"), {})
    assert (gang.host, gang.port, gang.endpoint) == ("fd00::5", 29501, "[fd00::5]:29501")


def test_srun_gives_rank_size_id_endpoint_and_the_members_names() -> None:
    env = {**SRUN, "SLURM_STEP_NUM_TASKS": "1", "SLURM_PROCID": "0"}
    gang = launchers.resolve(GangFlags(), env)
    assert (gang.launcher, gang.node_rank, gang.nnodes, gang.rdzv_id) == ("slurm", 0, 1, "slurm-4711.0")
    assert (gang.host, gang.port) == ("gpu07", 29400 + 4711 % 1000)
    assert gang.names == ("gpu07",)  # one task per node: task i is node i


def test_srun_with_two_tasks_on_one_node_has_no_names_and_takes_a_reserved_port() -> None:
    gang = launchers.resolve(GangFlags(), {**SRUN, "SLURM_STEP_RESV_PORTS": "12000-12001"})
    assert (gang.node_rank, gang.nnodes, gang.port, gang.names) == (1, 2, 12000, ())


def test_a_flag_wins_over_what_srun_says() -> None:
    gang = launchers.resolve(GangFlags(rdzv_endpoint="login1:31000", rdzv_id="mine"), SRUN)
    assert (gang.host, gang.port, gang.rdzv_id, gang.node_rank) == ("login1", 31000, "mine", 1)


def test_an_indexed_job_pod_finds_index_zero_by_its_own_name(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(socket, "gethostname", lambda: "preflight-gang-2")
    monkeypatch.setattr(socket, "getfqdn", lambda: "preflight-gang-2.preflight-gang.default.svc.cluster.local")
    gang = launchers.resolve(GangFlags(nnodes="4", rdzv_id="8d2c"), {"JOB_COMPLETION_INDEX": "2"})
    assert (gang.launcher, gang.node_rank, gang.nnodes) == ("kubernetes", 2, 4)
    assert (gang.host, gang.port) == ("preflight-gang-0.preflight-gang.default.svc.cluster.local", 29400)
    assert gang.names == ("preflight-gang-0", "preflight-gang-1", "preflight-gang-2", "preflight-gang-3")


@pytest.mark.parametrize(
    ("flags", "env", "words"),
    [
        (GangFlags(nnodes="2"), {}, "--rdzv-endpoint HOST:PORT is needed"),
        (GangFlags(rdzv_endpoint="h:1"), {}, "--nnodes N is needed"),
        (GangFlags(rdzv_endpoint="h:1", nnodes="1:4"), {}, "not an elastic range"),
        (GangFlags(rdzv_endpoint="h:1", nnodes="two"), {}, "--nnodes 'two' is not a whole number"),
        (GangFlags(rdzv_endpoint="h:99999", nnodes="2"), {}, "the port must be a number from 1 to 65535"),
        (GangFlags(rdzv_endpoint="h:1", nnodes="2", node_rank=2), {}, "--node-rank must be a whole number from 0 to --nnodes - 1 (1)"),
        (GangFlags(rdzv_endpoint="h:1", nnodes="2", rdzv_backend="etcd"), {}, "c10d store only"),
        (GangFlags(rdzv_endpoint="h:1", nnodes="2", rdzv_conf="read_timeout=5"), {}, "preflight-gang reads join_timeout=..., is_host=..."),
        (GangFlags(rdzv_endpoint="h:1", nnodes="2", rdzv_conf="join_timeout=soon"), {}, "is not a number of seconds"),
        (GangFlags(rdzv_endpoint="h:1", nnodes="2", rdzv_conf="join_timeout=-1"), {}, "--rdzv-conf join_timeout must be"),
        (GangFlags(rdzv_endpoint="h:1", nnodes="2", rdzv_id="a b"), {}, "--rdzv-id must be"),
        (GangFlags(rdzv_endpoint="h:1", nnodes="2", nproc_per_node="gpu"), {}, "--nproc-per-node 'gpu'"),
        (GangFlags(), {**SRUN, "SLURM_PROCID": "x"}, "SLURM_PROCID='x' is not a whole number"),
        (GangFlags(), {**SRUN, "SLURM_STEP_NODELIST": ""}, "SLURM_STEP_NODELIST is not set"),
    ],
)
def test_what_cannot_describe_a_gang_is_one_line_naming_the_flag(flags: GangFlags, env: dict[str, str], words: str) -> None:
    with pytest.raises(UsageError) as raised:
        launchers.resolve(flags, env)
    assert words in str(raised.value)
    assert "\n" not in str(raised.value)
    assert raised.value.exit_code == 2


def test_the_options_refuse_a_host_with_spaces_and_a_name_list_of_the_wrong_length() -> None:
    with pytest.raises(UsageError, match="--rdzv-endpoint needs a host"):
        GangOptions("a b", 1, 2).validated()
    with pytest.raises(UsageError, match="the launcher named 1 members for --nnodes 2"):
        GangOptions("h", 1, 2, names=("x",)).validated()
