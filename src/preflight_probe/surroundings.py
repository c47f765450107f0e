"""What this process may use, read the way the kernel applies it: resource limits, cgroup limits, /dev/shm.

A container's CPU quota, memory limit and pids limit live in the cgroup of the process (v1: one hierarchy
per controller; v2: one tree), found through ``/proc/self/cgroup`` and the cgroup mounts in
``/proc/self/mountinfo``; a limit on an ancestor binds too, so each is the smallest along the path to the
mount's root. Stdlib only, a few small files: cheap enough for every level. Every reader returns None
(or leaves a key out) where the fact is not readable here, never raises.
"""

from __future__ import annotations

import math
import os
import sys
from typing import Any

from preflight_probe.files import read_text

# getrlimit names -> the key in the report; bytes for sizes, counts otherwise, None for unlimited.
RLIMITS = (
    ("nofile", "RLIMIT_NOFILE"),
    ("nproc", "RLIMIT_NPROC"),
    ("memlock", "RLIMIT_MEMLOCK"),
    ("stack", "RLIMIT_STACK"),
    ("as", "RLIMIT_AS"),
    ("fsize", "RLIMIT_FSIZE"),
    ("core", "RLIMIT_CORE"),
)
UNLIMITED_V1 = 1 << 62  # v1 memory.limit_in_bytes reads 9223372036854771712 (PAGE_COUNTER_MAX pages) when unset
MAX_DEPTH = 32  # ancestors walked at most (cgroup trees are a few levels deep)


def rlimits() -> dict[str, dict[str, int | None]]:
    """``{"nofile": {"soft": 1024, "hard": 4096}, ...}``: this process's limits; None where unlimited; {} off POSIX."""
    if sys.platform == "win32":  # no resource module
        return {}
    try:
        import resource
    except ImportError:  # a POSIX build without it
        return {}
    found: dict[str, dict[str, int | None]] = {}
    for key, name in RLIMITS:
        which = getattr(resource, name, None)
        if which is None:
            continue
        try:
            soft, hard = resource.getrlimit(which)
        except (OSError, ValueError):
            continue
        found[key] = {"soft": _limit(soft, resource.RLIM_INFINITY), "hard": _limit(hard, resource.RLIM_INFINITY)}
    return found


def _limit(value: int, infinity: int) -> int | None:
    return None if value == infinity or value < 0 else int(value)


def _read(path: str) -> str | None:
    text = read_text(path)
    return None if text is None else text.strip()


def _unescape(field: str) -> str:
    """mountinfo escapes space, tab, newline and backslash as octal (\\040 ...)."""
    if "\\" not in field:
        return field
    out, i = [], 0
    while i < len(field):
        if field[i] == "\\" and field[i + 1 : i + 4].isdigit():
            out.append(chr(int(field[i + 1 : i + 4], 8)))
            i += 4
        else:
            out.append(field[i])
            i += 1
    return "".join(out)


def cgroup_mounts(mountinfo: str) -> tuple[dict[str, tuple[str, str]], tuple[str, str] | None]:
    """({v1 controller: (mount root, mount point)}, (root, mount point) of cgroup2 or None) from mountinfo text."""
    v1: dict[str, tuple[str, str]] = {}
    v2: tuple[str, str] | None = None
    for line in mountinfo.splitlines():
        left, sep, right = line.partition(" - ")
        fields, tail = left.split(), right.split()
        if not sep or len(fields) < 5 or len(tail) < 3:
            continue
        root, point = _unescape(fields[3]), _unescape(fields[4])
        # A later mount of a hierarchy wins: a container mounts a fresh /sys/fs/cgroup over the host's view.
        if tail[0] == "cgroup2":
            v2 = (root, point)
        elif tail[0] == "cgroup":
            for option in tail[2].split(","):
                if option not in ("rw", "ro") and "=" not in option:
                    v1[option] = (root, point)
    return v1, v2


def membership(text: str) -> tuple[dict[str, str], str | None]:
    """({v1 controller: cgroup path}, the v2 path or None) from /proc/self/cgroup text."""
    v1: dict[str, str] = {}
    v2 = None
    for line in text.splitlines():
        parts = line.split(":", 2)
        if len(parts) != 3:
            continue
        hierarchy, controllers, path = parts
        if hierarchy == "0" and controllers == "":
            v2 = path
        for name in controllers.split(","):
            if name:
                v1[name] = path
    return v1, v2


def _directory(mount: tuple[str, str], path: str) -> str | None:
    """The folder of cgroup ``path`` under a mount whose root is ``mount[0]``; None where it is not below that root
    (a cgroup namespace over a mount made outside it shows its root as /..: the folder is not findable)."""
    root, point = mount
    root = root.rstrip("/") or "/"
    if root != "/" and not (path == root or path.startswith(root + "/")):
        return None
    relative = path[len(root) :] if root != "/" else path
    return os.path.join(point, relative.lstrip("/")) if relative.strip("/") else point


def _ancestors(directory: str, point: str) -> list[str]:
    """``directory`` and each parent up to and including the mount point, nearest first."""
    found = [directory]
    current = directory
    while current.rstrip("/") != point.rstrip("/") and len(found) < MAX_DEPTH:
        parent = os.path.dirname(current.rstrip("/"))
        if not parent or parent == current or len(parent) < len(point.rstrip("/")):
            break
        found.append(parent)
        current = parent
    return found


def _number(text: str | None) -> int | None:
    return int(text) if text is not None and text.lstrip("-").isdigit() else None


def _cpus(text: str | None) -> list[int] | None:
    """'0-3,8' -> [0, 1, 2, 3, 8]."""
    if not text:
        return None
    found: list[int] = []
    for part in text.split(","):
        low, sep, high = part.partition("-")
        if not low.strip().isdigit() or (sep and not high.strip().isdigit()):
            return None
        found.extend(range(int(low), int(high) + 1) if sep else [int(low)])
    return found


def _smallest(current: dict[str, Any] | None, value: float | None, source: str, key: str, folder: str) -> dict[str, Any] | None:
    if value is None or (current is not None and current[key] <= value):
        return current
    return {key: value, "source": source, "folder": folder}


def _v2_limits(folders: list[str], found: dict[str, Any]) -> None:
    for folder in folders:
        quota = (_read(os.path.join(folder, "cpu.max")) or "").split()
        if len(quota) == 2 and quota[0].isdigit() and quota[1].isdigit() and int(quota[1]):
            cpus = int(quota[0]) / int(quota[1])
            found["cpu"] = _smallest(found.get("cpu"), cpus, f"{folder}/cpu.max ({quota[0]} {quota[1]})", "quota_cpus", folder)
        for name in ("memory.max", "memory.high"):
            value = _number(_read(os.path.join(folder, name)))
            found["memory"] = _smallest(found.get("memory"), value, f"{folder}/{name}", "limit_bytes", folder)
        pids = _number(_read(os.path.join(folder, "pids.max")))
        found["pids"] = _smallest(found.get("pids"), pids, f"{folder}/pids.max", "max", folder)
    cpuset = _cpus(_read(os.path.join(folders[0], "cpuset.cpus.effective")))
    if cpuset:
        found["cpuset"] = {"cpus": len(cpuset), "source": f"{folders[0]}/cpuset.cpus.effective"}


def _v1_limits(controller: str, folders: list[str], found: dict[str, Any]) -> None:
    if controller == "cpu":
        for folder in folders:
            quota = _number(_read(os.path.join(folder, "cpu.cfs_quota_us")))
            period = _number(_read(os.path.join(folder, "cpu.cfs_period_us")))
            if quota is not None and quota > 0 and period:
                source = f"{folder}/cpu.cfs_quota_us ({quota}) / cpu.cfs_period_us ({period})"
                found["cpu"] = _smallest(found.get("cpu"), quota / period, source, "quota_cpus", folder)
    elif controller == "memory":
        # The kernel's own answer for the whole path (memory.use_hierarchy), else the walk.
        stat = _read(os.path.join(folders[0], "memory.stat")) or ""
        hierarchical = next((line.split()[1] for line in stat.splitlines() if line.startswith("hierarchical_memory_limit ")), None)
        value = _number(hierarchical)
        if value is not None and value < UNLIMITED_V1:
            found["memory"] = {"limit_bytes": value, "source": f"{folders[0]}/memory.stat hierarchical_memory_limit", "folder": folders[0]}
        elif value is None:
            for folder in folders:
                limit = _number(_read(os.path.join(folder, "memory.limit_in_bytes")))
                if limit is not None and limit < UNLIMITED_V1:
                    found["memory"] = _smallest(found.get("memory"), limit, f"{folder}/memory.limit_in_bytes", "limit_bytes", folder)
    elif controller == "pids":
        for folder in folders:
            pids = _number(_read(os.path.join(folder, "pids.max")))
            found["pids"] = _smallest(found.get("pids"), pids, f"{folder}/pids.max", "max", folder)
    elif controller == "cpuset":
        cpus = _cpus(_read(os.path.join(folders[0], "cpuset.effective_cpus")) or _read(os.path.join(folders[0], "cpuset.cpus")))
        if cpus:
            found["cpuset"] = {"cpus": len(cpus), "source": f"{folders[0]}/cpuset.cpus"}


def cgroup_limits(proc: str = "/proc/self") -> dict[str, Any]:
    """The cgroup limits on this process: ``{"version", "paths", "cpu", "memory", "pids", "cpuset", "unresolved"}``.

    ``cpu.quota_cpus`` is the CPU time the quota allows per period in CPUs (0.5, 2.0); ``memory.limit_bytes``
    the smallest of memory.max / memory.high (v2) or the hierarchical limit (v1); each with the file it came from.
    """
    text = _read(os.path.join(proc, "cgroup"))
    if text is None:
        return {"version": None, "reason": f"{proc}/cgroup is not readable (not Linux, or no cgroups)"}
    v1_paths, v2_path = membership(text)
    v1_mounts, v2_mount = cgroup_mounts(_read(os.path.join(proc, "mountinfo")) or "")
    found: dict[str, Any] = {"paths": {**v1_paths, **({"unified": v2_path} if v2_path is not None else {})}}
    unresolved: list[str] = []
    bound_v1 = [c for c in ("cpu", "memory", "pids", "cpuset") if c in v1_paths and c in v1_mounts]
    if v2_path is not None and v2_mount is not None:
        folder = _directory(v2_mount, v2_path)
        if folder is None:
            unresolved.append(f"unified {v2_path} (mounted from {v2_mount[0]})")
        else:
            _v2_limits(_ancestors(folder, v2_mount[1]), found)
    for controller in bound_v1:
        folder = _directory(v1_mounts[controller], v1_paths[controller])
        if folder is None:
            unresolved.append(f"{controller} {v1_paths[controller]} (mounted from {v1_mounts[controller][0]})")
            continue
        _v1_limits(controller, _ancestors(folder, v1_mounts[controller][1]), found)
    v2 = v2_path is not None and v2_mount is not None
    found["version"] = ("hybrid" if v2 else "v1") if bound_v1 else ("v2" if v2 else None)
    if unresolved:
        found["unresolved"] = unresolved
    return {k: v for k, v in found.items() if v is not None}


def memory_in_use(proc: str = "/proc/self", limits: dict[str, Any] | None = None) -> int | None:
    """Bytes the process's memory cgroup holds that it cannot reclaim (usage less inactive page cache); None unknown."""
    memory = (limits or {}).get("memory")
    if not memory:
        return None
    folder = memory["folder"]
    stat = _read(os.path.join(folder, "memory.stat")) or ""
    fields = dict(line.split(" ", 1) for line in stat.splitlines() if " " in line)
    current = _number(_read(os.path.join(folder, "memory.current")) or _read(os.path.join(folder, "memory.usage_in_bytes")))
    inactive = _number(fields.get("inactive_file") or fields.get("total_inactive_file"))
    if current is None:
        return None
    return max(0, current - (inactive or 0))


def effective_cpus(limits: dict[str, Any]) -> tuple[int | None, str]:
    """The CPUs this process may use: its affinity, the cgroup cpuset and the CPU quota (rounded up), the smallest."""
    candidates: list[tuple[int, str]] = []
    try:
        affinity: int | None = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else None  # Linux only
    except OSError:
        affinity = None
    if affinity:
        candidates.append((affinity, "os.sched_getaffinity(0)"))
    else:
        count = os.cpu_count()
        if count:
            candidates.append((count, "os.cpu_count()"))
    cpuset = limits.get("cpuset")
    if cpuset:
        candidates.append((int(cpuset["cpus"]), cpuset["source"]))
    cpu = limits.get("cpu")
    if cpu:
        candidates.append((max(1, math.ceil(cpu["quota_cpus"] - 1e-9)), f"cgroup CPU quota of {cpu['quota_cpus']:g} CPUs: {cpu['source']}"))
    if not candidates:
        return None, "no CPU count readable"
    count, source = min(candidates, key=lambda c: c[0])
    return count, source


def shm(path: str = "/dev/shm") -> dict[str, Any] | None:  # noqa: S108 - measured with statvfs, never written
    """Size of the shared-memory filesystem DataLoader workers hand tensors through; None where there is none."""
    if not hasattr(os, "statvfs"):  # Windows
        return None
    try:
        info = os.statvfs(path)
    except OSError:
        return None
    return {"path": path, "size_mb": info.f_blocks * info.f_frsize // (1 << 20), "source": f"os.statvfs({path!r})"}


def thread_settings() -> dict[str, str]:
    """The variables that set the CPU thread count of torch and its math libraries, as set."""
    names = ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS")
    return {name: os.environ[name] for name in names if name in os.environ}


def collect(facts: Any, limits: dict[str, Any], total: int | None, available: int | None, mem_source: str) -> None:
    """Resource limits, cgroup limits and /dev/shm; RAM as this process may use it (the cgroup limit binds first)."""
    facts.put("rlimits", rlimits(), "resource.getrlimit (bytes for sizes; null: unlimited)")
    facts.put("euid", os.geteuid() if hasattr(os, "geteuid") else None, "os.geteuid() (RLIMIT_NPROC does not bind root)")
    facts.put("cgroup_version", limits.get("version"), limits.get("reason") or "/proc/self/cgroup and /proc/self/mountinfo")
    for fact, key, field, scale in (
        ("cgroup_cpu_quota", "cpu", "quota_cpus", 1),
        ("cgroup_memory_limit_mb", "memory", "limit_bytes", 1 << 20),
        ("cgroup_pids_max", "pids", "max", 1),
        ("cgroup_cpuset_cpus", "cpuset", "cpus", 1),
    ):
        entry = limits.get(key)
        value = (entry[field] if scale == 1 else int(entry[field]) // scale) if entry else None
        facts.put(fact, value, entry["source"] if entry else "no such limit on this process's cgroups")
    if limits.get("unresolved"):
        facts.put("cgroup_unresolved", limits["unresolved"], "cgroup paths outside the visible mount (a cgroup namespace)")
    facts.put("ram_total_host_mb", total, mem_source)
    limit = facts.values["cgroup_memory_limit_mb"]
    if limit is not None and total is not None and limit < total:
        used = memory_in_use(limits=limits)
        free = max(0, limit - used // (1 << 20)) if used is not None else None
        where = limits["memory"]["source"]
        facts.put("ram_total_mb", int(limit), f"the cgroup memory limit ({where}), below the host's {total}MB")
        best = min(x for x in (free, available) if x is not None) if free is not None or available is not None else None
        facts.put("ram_available_mb", best, f"the cgroup memory limit less what the cgroup holds ({where}), and {mem_source}")
    else:
        facts.put("ram_total_mb", total, mem_source)
        facts.put("ram_available_mb", available, mem_source)
    shared = shm() if os.name == "posix" else None
    facts.put("shm_size_mb", shared["size_mb"] if shared else None, shared["source"] if shared else "no /dev/shm")
    facts.put("thread_env", thread_settings(), "OMP_NUM_THREADS, MKL_NUM_THREADS, OPENBLAS_NUM_THREADS as set")
