"""The process's surroundings judged against policy/surroundings.yaml: ``host.limits``, ``host.container``, ``host.threads``.

Pure computations over what ``capabilities.detect`` read inside the diagnosed interpreter's own process
(getrlimit, its cgroups, /dev/shm, its CPU affinity): a job is judged against what this process may use,
not against what the host has. Each failure names the limit, its value and where it was read.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from preflight_action import policy_files
from preflight_action.errors import InputError
from preflight_action.preflight.context import Context
from preflight_action.preflight.report import CheckResult
from preflight_probe import evidence


@dataclass(frozen=True)
class Limit:
    key: str
    min: float
    why: str
    backends: tuple[str, ...] | None = None  # judged only on these; None: every backend
    unlimited_on: tuple[str, ...] = ()  # these backends need no limit at all
    distributed_only: bool = False  # judged only when the run checks distributed readiness


@dataclass(frozen=True)
class SurroundingsPolicy:
    source: str
    limits: dict[str, Limit]
    container: dict[str, Limit]
    max_threads_per_cpu: float


def _limits(section: dict[str, Any]) -> dict[str, Limit]:
    return {
        key: Limit(
            key,
            float(e["min"]),
            e["why"],
            tuple(e["backends"]) if "backends" in e else None,
            tuple(e.get("unlimited_on", ())),
            bool(e.get("distributed_only", False)),
        )
        for key, e in section.items()
    }


def _build(document: dict[str, Any], source: str) -> SurroundingsPolicy:
    return SurroundingsPolicy(
        source, _limits(document["limits"]), _limits(document["container"]), float(document["threads"]["max_per_cpu"])
    )


def load(path: str | Path | None = None) -> SurroundingsPolicy:
    """The surroundings policy: ``path``, else $PREFLIGHT_SURROUNDINGS_POLICY, else the shipped policy/surroundings.yaml."""
    return policy_files.load(policy_files.SURROUNDINGS, _build, path)


# policy key -> (getrlimit key, bytes per policy unit, words, ulimit flag, the flag's unit in bytes)
RLIMITS = {
    "nofile": ("nofile", 1, "open files", "RLIMIT_NOFILE", "-n", 1),
    "nproc": ("nproc", 1, "processes and threads", "RLIMIT_NPROC", "-u", 1),
    "stack_kib": ("stack", 1 << 10, "stack size", "RLIMIT_STACK", "-s", 1 << 10),
    "memlock_kib": ("memlock", 1 << 10, "locked memory", "RLIMIT_MEMLOCK", "-l", 1 << 10),
    "as_mib": ("as", 1 << 20, "address space", "RLIMIT_AS", "-v", 1 << 10),
    "fsize_mib": ("fsize", 1 << 20, "file size", "RLIMIT_FSIZE", "-f", 1 << 10),
}
HARD_LIMIT_HOMES = "/etc/security/limits.conf, docker run --ulimit, systemd Limit*=, or the batch system's limit propagation"


def _size(value: float | None, scale: int) -> str:
    if value is None:
        return "unlimited"
    if scale == 1:
        return f"{value:g}"
    mib = value / (1 << 20)
    return f"{mib:g} MiB" if mib >= 1 else f"{value / 1024:g} KiB"


def _policy(ctx: Context, check_id: str) -> SurroundingsPolicy | CheckResult:
    try:
        return load()
    except InputError as exc:
        return CheckResult(check_id, "fail", error=f"surroundings policy: {exc}", source="host")


def _fail(check_id: str, details: dict[str, Any], problems: list[tuple[str, str, str]], cause: str) -> CheckResult:
    """One failure for every limit below its policy: (what is wrong, what to do, what it rests on)."""
    proof = [p[2] for p in problems]
    details["diagnosis"] = evidence.diagnosis(cause, proof)
    error = "; ".join(p[0] for p in problems)
    remedy = "; ".join(f"{p[1]}{evidence.rests_on([p[2]])}" for p in problems)
    return CheckResult(check_id, "fail", details=details, error=error, remedy=remedy, source="host")


def check_limits(ctx: Context) -> CheckResult:
    """Resource limits (getrlimit) of the diagnosed process against what a PyTorch job needs."""
    policy = _policy(ctx, "host.limits")
    if isinstance(policy, CheckResult):
        return policy
    caps = ctx.details("capabilities.detect")
    found = caps.get("rlimits") or {}
    if not found:
        return CheckResult.skipped("host.limits", "no resource limits to read on this OS (getrlimit is POSIX)", "host")
    backend = ctx.backend or (ctx.options.device if ctx.options.device not in ("auto", "") else "cpu")
    root = caps.get("euid") == 0
    problems: list[tuple[str, str, str]] = []
    shown: list[str] = []
    judged: dict[str, Any] = {}
    for key, limit in policy.limits.items():
        name, scale, words, rname, flag, flag_unit = RLIMITS[key]
        value = found.get(name)
        if value is None:
            continue
        soft, hard = value.get("soft"), value.get("hard")
        shown.append(f"{words} {_size(soft, scale)}")
        if limit.backends is not None and backend not in limit.backends:
            judged[name] = f"not judged on {backend} (policy: {', '.join(limit.backends)} only)"
            continue
        if limit.distributed_only and not ctx.options.check_distributed:
            judged[name] = "not judged without --check-distributed"
            continue
        if name == "nproc" and root:
            judged[name] = "not enforced for root"
            continue
        need = None if backend in limit.unlimited_on else limit.min * scale
        if soft is None or (need is not None and soft >= need):
            judged[name] = "ok"
            continue
        judged[name] = "below policy"
        want = "unlimited" if need is None else _size(need, scale)
        proof = f"{rname} soft {_size(soft, scale)}, hard {_size(hard, scale)} (getrlimit in the diagnosed interpreter's process)"
        problem = f"the {words} limit ({rname}) is {_size(soft, scale)}, below the {want} a PyTorch job needs on {backend}: {limit.why}"
        # shells count -f in 512- or 1024-byte blocks: a file-size limit a job needs is best none at all
        target = "unlimited" if need is None or name == "fsize" else str(int(-(-need // flag_unit)))
        if hard is None or (need is not None and hard >= need):
            fix = f"raise the soft {words} limit in the shell or job script that starts the job: ulimit {flag} {target}"
        else:
            fix = f"the hard {words} limit is {_size(hard, scale)}: raise it where it is set ({HARD_LIMIT_HOMES}), then ulimit {flag} {target}"
        problems.append((problem, fix, proof))
    details = {"rlimits": found, "judged": judged, "backend": backend, "policy": policy.source, "summary": ", ".join(shown)}
    if problems:
        return _fail("host.limits", details, problems, evidence.RESOURCE_LIMIT)
    return CheckResult("host.limits", "pass", details=details, source="host")


def _source(caps: dict[str, Any], fact: str) -> str:
    return str((caps.get("sources") or {}).get(fact) or fact)


def check_container(ctx: Context) -> CheckResult:
    """The limits a container or batch cgroup imposes (CPU quota, pids, /dev/shm); memory is judged by memory.headroom."""
    policy = _policy(ctx, "host.container")
    if isinstance(policy, CheckResult):
        return policy
    caps = ctx.details("capabilities.detect")
    version = caps.get("cgroup_version")
    quota, pids, shm = caps.get("cgroup_cpu_quota"), caps.get("cgroup_pids_max"), caps.get("shm_size_mb")
    memory, host_ram = caps.get("cgroup_memory_limit_mb"), caps.get("ram_total_host_mb")
    if version is None and shm is None:
        return CheckResult.skipped("host.container", "no cgroups and no /dev/shm on this OS: no container limits to read", "host")
    details: dict[str, Any] = {
        "cgroup_version": version,
        "cpu_quota": quota,
        "cpus_usable": caps.get("cpu_count"),
        "cpus_host": caps.get("cpu_count_host"),
        "memory_limit_mb": memory,
        "host_ram_mb": host_ram,
        "pids_max": pids,
        "shm_size_mb": shm,
        "policy": policy.source,
    }
    if caps.get("cgroup_unresolved"):
        details["unresolved"] = caps["cgroup_unresolved"]
    problems: list[tuple[str, str, str]] = []
    rule = policy.container
    if quota is not None and "cpus" in rule and quota < rule["cpus"].min:
        where = _source(caps, "cgroup_cpu_quota")
        problems.append(
            (
                f"the cgroup CPU quota allows {quota:g} CPUs, below {rule['cpus'].min:g}: {rule['cpus'].why}",
                "give the job at least one CPU (docker run --cpus, Kubernetes resources.limits.cpu, Slurm --cpus-per-task)",
                f"CPU quota {quota:g} CPUs in {where}",
            )
        )
    if pids is not None and "pids" in rule and pids < rule["pids"].min:
        where = _source(caps, "cgroup_pids_max")
        problems.append(
            (
                f"the cgroup allows {pids} processes and threads (pids.max), below {rule['pids'].min:g}: {rule['pids'].why}",
                "raise the pids limit (docker run --pids-limit, Kubernetes podPidsLimit, systemd TasksMax=)",
                f"pids.max {pids} in {where}",
            )
        )
    if shm is not None and "shm_mib" in rule and shm < rule["shm_mib"].min:
        problems.append(
            (  # words about the shared-memory filesystem; nothing here writes a temporary file
                f"/dev/shm holds {shm} MiB, below {rule['shm_mib'].min:g} MiB: {rule['shm_mib'].why}",  # noqa: S108
                "give the container a larger /dev/shm (docker run --shm-size=2g or --ipc=host; Kubernetes: an emptyDir "
                "with medium: Memory mounted at /dev/shm), or use DataLoader(num_workers=0)",
                f"/dev/shm is {shm} MiB ({_source(caps, 'shm_size_mb')})",  # noqa: S108
            )
        )
    limits = [f"CPU quota {quota:g}" if quota is not None else "no CPU quota"]
    limits.append(f"memory limit {memory} MB of {host_ram} MB" if memory is not None else "no memory limit")
    limits.append(f"pids.max {pids}" if pids is not None else "no pids limit")
    details["summary"] = f"cgroup {version or 'none'}: {', '.join(limits)}; /dev/shm {shm if shm is not None else '?'} MiB"
    if problems:
        return _fail("host.container", details, problems, evidence.CONTAINER_LIMIT)
    return CheckResult("host.container", "pass", details=details, source="host")


def check_threads(ctx: Context) -> CheckResult:
    """torch's CPU thread count against the CPUs this process may use (an oversubscribed pool waits for CPUs in turn)."""
    policy = _policy(ctx, "host.threads")
    if isinstance(policy, CheckResult):
        return policy
    caps = ctx.details("capabilities.detect")
    threads, cpus = caps.get("torch_num_threads"), caps.get("cpu_count")
    if not isinstance(threads, int) or not isinstance(cpus, int) or cpus < 1:
        return CheckResult.skipped("host.threads", "torch's thread count or the usable CPU count is unknown", "host")
    settings = caps.get("thread_env") or {}
    where = _source(caps, "cpu_count").split("): ", 1)[-1]  # the reading that bound, without capabilities' preamble
    details = {
        "torch_num_threads": threads,
        "cpus_usable": cpus,
        "cpus_host": caps.get("cpu_count_host"),
        "cpus_source": where,
        "thread_env": settings,
        "max_per_cpu": policy.max_threads_per_cpu,
        "policy": policy.source,
        "summary": f"torch uses {threads} CPU threads on {cpus} usable CPUs",
    }
    if threads <= policy.max_threads_per_cpu * cpus:
        return CheckResult("host.threads", "pass", details=details, source="host")
    if "OMP_NUM_THREADS" in settings:
        why = f"OMP_NUM_THREADS={settings['OMP_NUM_THREADS']} is set in the environment"
    else:
        why = "torch's default (one thread per core it counts) does not see this process's CPU limit"
    problem = (
        f"torch will run {threads} CPU threads on the {cpus} CPUs this process may use ({where}): {why}; "
        "oversubscribed threads wait for a CPU in turn and every parallel op slows down"
    )
    fix = f"set OMP_NUM_THREADS={cpus} where the job starts (or call torch.set_num_threads({cpus}))"
    proof = f"torch.get_num_threads() = {threads}; usable CPUs = {cpus} ({where})" + (f"; {why}" if "OMP_NUM_THREADS" in settings else "")
    return _fail("host.threads", details, [(problem, fix, proof)], evidence.THREAD_OVERSUBSCRIPTION)
