"""The probe reads what this process may use: its rlimits and the cgroup limits the kernel applies (v1 and v2)."""

from __future__ import annotations

import os
import resource
import sys
from pathlib import Path

import pytest

from preflight_probe import capabilities, surroundings


def _tree(root: Path, files: dict[str, str]) -> None:
    for name, text in files.items():
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text + "\n", encoding="utf-8")


def _proc(tmp_path: Path, cgroup: str, mountinfo: str) -> str:
    proc = tmp_path / "proc-self"
    _tree(proc, {"cgroup": cgroup, "mountinfo": mountinfo})
    return str(proc)


def test_rlimits_are_this_process_s_own_with_none_for_unlimited() -> None:
    found = surroundings.rlimits()
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    assert found["nofile"] == {"soft": soft, "hard": None if hard == resource.RLIM_INFINITY else hard}
    assert set(found) >= {"nofile", "nproc", "memlock", "stack", "as", "fsize"}


def test_v2_limits_are_the_smallest_along_the_path_and_name_their_file(tmp_path: Path) -> None:
    fs = tmp_path / "cgroup2"
    _tree(
        fs,
        {
            "kubepods/cpu.max": "max 100000",
            "kubepods/memory.max": "2147483648",
            "kubepods/pod1/cpu.max": "150000 100000",
            "kubepods/pod1/memory.max": "max",
            "kubepods/pod1/memory.high": "1073741824",
            "kubepods/pod1/pids.max": "300",
            "kubepods/pod1/cpuset.cpus.effective": "0-3,8",
            "kubepods/pod1/memory.current": "536870912",
            "kubepods/pod1/memory.stat": "anon 1\ninactive_file 134217728",
            "kubepods/pids.max": "max",
        },
    )
    mountinfo = f"30 20 0:26 / {fs} rw,nosuid - cgroup2 cgroup2 rw,nsdelegate\n"
    proc = _proc(tmp_path, "0::/kubepods/pod1", mountinfo)
    found = surroundings.cgroup_limits(proc)
    assert found["version"] == "v2"
    assert found["cpu"]["quota_cpus"] == 1.5
    assert found["cpu"]["source"] == f"{fs}/kubepods/pod1/cpu.max (150000 100000)"
    assert found["memory"]["limit_bytes"] == 1 << 30  # memory.high binds before the parent's 2 GiB max
    assert found["pids"]["max"] == 300
    assert found["cpuset"]["cpus"] == 5
    assert surroundings.memory_in_use(proc, found) == (512 - 128) << 20
    cpus, source = surroundings.effective_cpus(found)
    assert cpus == min(2, len(os.sched_getaffinity(0)))
    assert "CPU quota of 1.5 CPUs" in source or source == "os.sched_getaffinity(0)"


def test_v1_limits_follow_each_controller_s_own_mount_and_root(tmp_path: Path) -> None:
    cpu, memory, pids = tmp_path / "cpu,cpuacct", tmp_path / "memory", tmp_path / "pids"
    _tree(cpu, {"job/cpu.cfs_quota_us": "50000", "job/cpu.cfs_period_us": "100000", "cpu.cfs_quota_us": "-1"})
    _tree(memory, {"job/memory.stat": "cache 0\nhierarchical_memory_limit 805306368\ntotal_inactive_file 0"})
    _tree(memory, {"job/memory.usage_in_bytes": "104857600"})
    _tree(pids, {"job/pids.max": "max", "pids.max": "64"})
    # A container's view: the memory hierarchy is mounted with the container's own cgroup as its root.
    mountinfo = "\n".join(
        [
            f"32 31 0:29 / {cpu} rw,relatime - cgroup cgroup rw,cpu,cpuacct",
            f"35 31 0:32 /docker/abc {memory} rw,relatime - cgroup cgroup rw,memory",
            f"39 31 0:36 / {pids} rw,relatime - cgroup cgroup rw,pids",
            "41 31 0:38 / /sys/fs/cgroup/unified rw,relatime - cgroup2 cgroup2 rw",
        ]
    )
    proc = _proc(tmp_path, "4:memory:/docker/abc/job\n3:cpu,cpuacct:/job\n2:pids:/job\n0::/", mountinfo)
    found = surroundings.cgroup_limits(proc)
    assert found["version"] == "hybrid"
    assert found["cpu"]["quota_cpus"] == 0.5
    assert found["memory"] == {
        "limit_bytes": 768 << 20,
        "source": f"{memory}/job/memory.stat hierarchical_memory_limit",
        "folder": f"{memory}/job",
    }
    assert found["pids"]["max"] == 64  # the parent's limit binds the child
    assert surroundings.memory_in_use(proc, found) == 100 << 20
    assert surroundings.effective_cpus(found)[0] == 1


def test_a_cgroup_outside_the_visible_mount_is_said_not_guessed(tmp_path: Path) -> None:
    cpu = tmp_path / "cpu"
    _tree(cpu, {"cpu.cfs_quota_us": "20000", "cpu.cfs_period_us": "100000"})
    proc = _proc(tmp_path, "1:cpu:/", f"32 31 0:29 /.. {cpu} rw - cgroup cgroup rw,cpu")
    found = surroundings.cgroup_limits(proc)
    assert "cpu" not in found
    assert found["unresolved"] == ["cpu / (mounted from /..)"]


def test_mountinfo_escapes_and_no_cgroups_at_all(tmp_path: Path) -> None:
    assert surroundings.cgroup_mounts("32 31 0:29 / /sys/fs/my\\040cg rw - cgroup cgroup rw,pids")[0] == {"pids": ("/", "/sys/fs/my cg")}
    assert surroundings.cgroup_limits(str(tmp_path / "nowhere"))["version"] is None


@pytest.mark.skipif(sys.platform != "linux", reason="cgroups and /dev/shm are Linux's")
def test_capabilities_report_the_limits_and_the_cpus_this_process_may_use() -> None:
    facts = capabilities.collect(run_compiler=False)
    assert facts["rlimits"] == surroundings.rlimits()
    assert facts["cpu_count"] <= facts["cpu_count_host"]
    assert facts["cpu_count"] == surroundings.effective_cpus(surroundings.cgroup_limits())[0]
    assert facts["shm_size_mb"] == os.statvfs("/dev/shm").f_blocks * os.statvfs("/dev/shm").f_frsize // (1 << 20)
    assert facts["ram_total_mb"] <= facts["ram_total_host_mb"]
    assert facts["sources"]["cpu_count"].startswith("the CPUs this process may use")


def test_a_container_s_fresh_mount_wins_over_the_host_s_shadowed_one(tmp_path: Path) -> None:
    cpu = tmp_path / "cpu"
    _tree(cpu, {"cpu.cfs_quota_us": "100000", "cpu.cfs_period_us": "100000"})
    mountinfo = "\n".join(
        [
            "51 50 0:29 /.. /sys/fs/cgroup/cpu rw,relatime - cgroup cgroup rw,cpu",  # the host's, shadowed, outside the namespace
            f"67 66 0:29 / {cpu} rw,relatime - cgroup cgroup rw,cpu",
        ]
    )
    found = surroundings.cgroup_limits(_proc(tmp_path, "1:cpu:/", mountinfo))
    assert found["cpu"]["quota_cpus"] == 1.0
    assert "unresolved" not in found
