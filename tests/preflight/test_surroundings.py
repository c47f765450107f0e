"""host.limits, host.container and host.threads judge what the diagnosed process may use against policy/surroundings.yaml."""

from __future__ import annotations

import dataclasses
from typing import Any

import pytest

from preflight_action.preflight import checks, surroundings
from preflight_action.preflight import severity as policy
from preflight_action.preflight.options import Options
from preflight_action.preflight.report import CheckResult

MIB = 1 << 20
UNLIMITED = {"soft": None, "hard": None}
HEALTHY = {
    "rlimits": {
        "nofile": {"soft": 65536, "hard": 65536},
        "nproc": {"soft": 4096, "hard": 4096},
        "stack": {"soft": 8 * MIB, "hard": None},
        "memlock": {"soft": 64 * 1024, "hard": 64 * 1024},
        "as": UNLIMITED,
        "fsize": UNLIMITED,
    },
    "euid": 1000,
    "cgroup_version": "v2",
    "cgroup_cpu_quota": None,
    "cgroup_memory_limit_mb": None,
    "cgroup_pids_max": None,
    "shm_size_mb": 32000,
    "ram_total_host_mb": 64000,
    "cpu_count": 64,
    "cpu_count_host": 64,
    "torch_num_threads": 32,
    "thread_env": {},
    "sources": {"cpu_count": "the CPUs this process may use (affinity, cpuset, CPU quota): os.sched_getaffinity(0)"},
}


def _ctx(backend: str = "cpu", **facts: Any) -> checks.Context:
    ctx = checks.Context(Options(device=backend), policy.load(), backend=backend)
    ctx.results["capabilities.detect"] = CheckResult("capabilities.detect", "pass", details={**HEALTHY, **facts})
    return ctx


def test_the_three_checks_run_on_the_host_after_capabilities_at_every_level() -> None:
    from preflight_action.preflight import levels

    shipped = levels.load()
    for check_id in ("host.limits", "host.container", "host.threads"):
        assert checks.spec(check_id).source == "host"
        assert checks.spec(check_id).needs == ("capabilities.detect",)
        for level in ("quick", "standard", "deep"):
            assert check_id in shipped.level(level).checks


def test_a_healthy_process_passes_all_three_with_its_readings() -> None:
    assert surroundings.check_limits(_ctx()).status == "pass"
    container = surroundings.check_container(_ctx())
    assert container.status == "pass"
    assert container.details["summary"] == "cgroup v2: no CPU quota, no memory limit, no pids limit; /dev/shm 32000 MiB"
    threads = surroundings.check_threads(_ctx())
    assert (threads.status, threads.details["summary"]) == ("pass", "torch uses 32 CPU threads on 64 usable CPUs")


def test_a_low_open_files_limit_fails_with_the_limit_its_hard_ceiling_and_the_ulimit_that_fixes_it() -> None:
    limits = {**HEALTHY["rlimits"], "nofile": {"soft": 256, "hard": 4096}}
    result = surroundings.check_limits(_ctx(rlimits=limits))
    assert result.status == "fail"
    assert result.error.startswith("the open files limit (RLIMIT_NOFILE) is 256, below the 1024 a PyTorch job needs on cpu: ")
    assert result.remedy.startswith("raise the soft open files limit in the shell or job script that starts the job: ulimit -n 1024")
    assert "(evidence: RLIMIT_NOFILE soft 256, hard 4096" in result.remedy
    assert result.details["diagnosis"]["cause"] == "resource_limit"


def test_a_hard_limit_below_the_need_says_where_hard_limits_are_set() -> None:
    limits = {**HEALTHY["rlimits"], "stack": {"soft": 256 * 1024, "hard": 256 * 1024}}
    result = surroundings.check_limits(_ctx(rlimits=limits))
    assert result.error.startswith("the stack size limit (RLIMIT_STACK) is 256 KiB, below the 1 MiB")
    assert result.remedy.startswith("the hard stack size limit is 256 KiB: raise it where it is set (/etc/security/limits.conf")
    assert "ulimit -s 1024" in result.remedy


@pytest.mark.parametrize(("backend", "status"), [("cpu", "pass"), ("cuda", "fail")])
def test_locked_memory_and_address_space_are_judged_where_the_backend_needs_them(backend: str, status: str) -> None:
    limits = {**HEALTHY["rlimits"], "memlock": {"soft": 8 * MIB, "hard": 8 * MIB}, "as": {"soft": 64 << 30, "hard": None}}
    result = surroundings.check_limits(_ctx(backend, rlimits=limits))
    assert result.status == status
    if backend == "cuda":
        assert "address space limit (RLIMIT_AS) is 65536 MiB, below the unlimited a PyTorch job needs on cuda" in result.error
        assert "ulimit -v unlimited" in result.remedy
        assert result.details["judged"]["memlock"] == "not judged without --check-distributed"  # pinned memory is not bound by it
        ctx = _ctx(backend, rlimits=limits)
        ctx.options = dataclasses.replace(ctx.options, check_distributed=True)
        assert "locked memory limit (RLIMIT_MEMLOCK) is 8 MiB, below the 64 MiB" in (surroundings.check_limits(ctx).error or "")
    else:
        assert result.details["judged"]["memlock"] == "not judged on cpu (policy: cuda, rocm only)"


def test_a_low_process_limit_does_not_bind_root() -> None:
    limits = {**HEALTHY["rlimits"], "nproc": {"soft": 64, "hard": 64}}
    assert surroundings.check_limits(_ctx(rlimits=limits, euid=0)).details["judged"]["nproc"] == "not enforced for root"
    assert surroundings.check_limits(_ctx(rlimits=limits)).status == "fail"


def test_container_limits_fail_each_with_the_file_they_were_read_from() -> None:
    sources = {**HEALTHY["sources"], "cgroup_pids_max": "/sys/fs/cgroup/pod/pids.max", "shm_size_mb": "os.statvfs('/dev/shm')"}
    result = surroundings.check_container(_ctx(cgroup_pids_max=100, shm_size_mb=64, cgroup_cpu_quota=0.5, sources=sources))
    assert result.status == "fail"
    assert "the cgroup allows 100 processes and threads (pids.max), below 512" in result.error
    assert "/dev/shm holds 64 MiB, below 1024 MiB" in result.error
    assert "the cgroup CPU quota allows 0.5 CPUs, below 1" in result.error
    assert "docker run --shm-size=2g" in result.remedy
    assert "pids.max 100 in /sys/fs/cgroup/pod/pids.max" in result.remedy
    assert result.details["diagnosis"]["cause"] == "container_limit"


def test_threads_beyond_the_cpu_quota_are_oversubscribed_and_the_variable_that_set_them_is_named() -> None:
    source = (
        "the CPUs this process may use (affinity, cpuset, CPU quota): cgroup CPU quota of 2 CPUs: /sys/fs/cgroup/cpu.max (200000 100000)"
    )
    facts = {"cpu_count": 2, "torch_num_threads": 32, "sources": {"cpu_count": source}}
    result = surroundings.check_threads(_ctx(**facts))
    assert result.status == "fail"
    reading = "cgroup CPU quota of 2 CPUs: /sys/fs/cgroup/cpu.max (200000 100000)"  # the reading that bound, without the preamble
    assert result.error.startswith(f"torch will run 32 CPU threads on the 2 CPUs this process may use ({reading})")
    assert "torch's default (one thread per core it counts) does not see this process's CPU limit" in result.error
    assert result.remedy.startswith("set OMP_NUM_THREADS=2 where the job starts (or call torch.set_num_threads(2))")
    result = surroundings.check_threads(_ctx(**facts, thread_env={"OMP_NUM_THREADS": "32"}))
    assert "OMP_NUM_THREADS=32 is set in the environment" in result.error
    assert result.details["diagnosis"]["cause"] == "thread_oversubscription"
