"""``gang.allreduce`` (preflight-gang): one all-reduce across the gang's nodes, each member judged from what its ranks saw.

Every member (node) runs ``preflight-gang`` once, started by the launcher it already has (torchrun's flags,
``srun``, a Kubernetes Indexed Job); this check starts one rank per local device (``preflight.ranks``,
``preflight_probe.gang_rank``: gloo on the CPU, NCCL on GPUs) and the ranks of all members meet at the c10d
store on the rendezvous endpoint. Exact results first, then the gang's bus bandwidth against
policy/distributed_reference.yaml ``gang.references``, then the link ring (which member is slow).

Nothing waits without a bound: the rendezvous has the join timeout (counted from the ranks' start), every
step after it the collective timeout, in the rank and here (``ranks.STAGE_FACTOR``), and the whole check a
deadline. How what the ranks saw becomes a verdict is ``gang_judge``.
"""

from __future__ import annotations

import socket
import uuid
from dataclasses import replace
from typing import Any

from preflight_action.errors import InputError
from preflight_action.gpu import interconnect
from preflight_action.gpu.interconnect import DistributedPolicy
from preflight_action.host import node_id
from preflight_action.preflight import gang_judge
from preflight_action.preflight.context import Context
from preflight_action.preflight.distributed import NO_COLLECTIVE
from preflight_action.preflight.gang_record import CHECK_ID
from preflight_action.preflight.gang_view import GangPlan
from preflight_action.preflight.options import GangOptions, Options
from preflight_action.preflight.ranks import STAGE_FACTOR, STAGE_GRACE_S, run_ranks
from preflight_action.preflight.report import CheckResult
from preflight_action.process.probe_client import resolve_python

FIXED_STEPS = 4  # init_process_group, correctness, agreement, links; plus one per timed size
WRAP_UP_S = 5.0  # the ranks' exit and the serving member's wait for the others to leave


def settings_of(policy: DistributedPolicy) -> dict[str, Any]:
    """The policy's ``gang`` section; InputError for a policy written before it existed."""
    if policy.gang is None:
        raise InputError(f"{policy.source}: /gang: missing (the gang all-reduce's timeouts, sizes and references)")
    return policy.gang


def timeouts(gang: GangOptions, policy: DistributedPolicy) -> tuple[float, float]:
    """(join, collective) timeouts in seconds: the flags', else the policy's."""
    settings = settings_of(policy)
    join = gang.join_timeout_s if gang.join_timeout_s is not None else float(settings["join_timeout_s"])
    collective = gang.collective_timeout_s if gang.collective_timeout_s is not None else float(settings["collective_timeout_s"])
    return join, collective


def needed_s(gang: GangOptions, policy: DistributedPolicy) -> float:
    """The longest the check can take: the join timeout, then every step at its bound, then the wrap-up."""
    join, collective = timeouts(gang, policy)
    settings = settings_of(policy)
    sizes = max(len(settings["cpu"]["sizes_bytes"]), len(settings["accelerator"]["sizes_bytes"]))
    return join * STAGE_FACTOR + STAGE_GRACE_S + (FIXED_STEPS + sizes) * (collective * STAGE_FACTOR + STAGE_GRACE_S) + WRAP_UP_S


def with_room(options: Options, *, keep_check_timeout: bool = False, keep_budget: bool = False) -> Options:
    """``options`` with a --check-timeout and a level budget the gang's own timeouts fit in (what preflight-gang runs)."""
    from preflight_action.preflight import levels

    if options.gang is None:
        return options
    needed = needed_s(options.gang, interconnect.load_policy())
    if not keep_check_timeout:
        options = replace(options, check_timeout=max(options.check_timeout, needed))
    if not keep_budget:
        level_budget = levels.budget_for(levels.load(options.levels_path), options.level, None)
        if level_budget is not None:
            options = replace(options, budget_s=level_budget + needed)
    return options


def host_is_local(host: str) -> bool:
    """Whether ``host`` names this machine (loopback or one of its interface addresses): a member here may serve the store."""
    try:
        addresses = {str(info[4][0]).split("%")[0] for info in socket.getaddrinfo(host, None)}
    except (OSError, UnicodeError):
        return False  # the ranks say it cannot be resolved when they try to connect
    if any(a.startswith("127.") or a == "::1" for a in addresses):
        return True
    import psutil

    local = {str(a.address).split("%")[0] for addrs in psutil.net_if_addrs().values() for a in addrs}
    return bool(addresses & local)


def plan_for(ctx: Context, policy: DistributedPolicy, gang: GangOptions) -> GangPlan | str:
    """How many local ranks on which backend, or why this member cannot take part."""
    settings = settings_of(policy)
    join, collective = timeouts(gang, policy)
    if ctx.backend == "cpu":
        backend, device, local, chosen = "gloo", "cpu", gang.nproc_per_node or 1, settings["cpu"]
    elif ctx.backend in ("cuda", "rocm"):
        count = ctx.details("capabilities.detect").get("cuda_device_count")
        if not count:
            return "capabilities.detect reports no visible GPU count (torch.cuda.device_count())"
        if gang.nproc_per_node and gang.nproc_per_node > int(count):
            return f"--nproc-per-node {gang.nproc_per_node}, but torch sees {count} GPU(s) here"
        backend, device, local, chosen = "nccl", "cuda", gang.nproc_per_node or int(count), settings["accelerator"]
    else:
        return NO_COLLECTIVE.get(ctx.backend or "", f"{ctx.backend or 'unknown'} backend: no collective backend to test")
    return GangPlan(
        gang=gang,
        backend=backend,
        device=device,
        world_size=local,
        settings=chosen,
        elements=int(policy.run["elements"]),
        join_timeout_s=join,
        collective_timeout_s=collective,
        deadline_s=min(float(ctx.options.check_timeout), needed_s(gang, policy)),
        may_host=gang.is_host if gang.is_host is not None else host_is_local(gang.host),
        node_id=node_id(),
        hostname=socket.gethostname(),
        token=uuid.uuid4().hex,
    )


def check_gang_allreduce(ctx: Context, policy: DistributedPolicy | None = None) -> CheckResult:
    gang = ctx.options.gang
    if gang is None:  # enabled_by="gang": the session never runs it without
        return CheckResult.skipped(CHECK_ID, "not requested (run preflight-gang)", "host")
    try:
        policy = policy or interconnect.load_policy()
        plan = plan_for(ctx, policy, gang)
    except InputError as exc:
        return CheckResult(CHECK_ID, "fail", error=f"distributed policy: {exc}", source="host")
    if isinstance(plan, str):
        reason = f"this member cannot take part, so the gang is not judged here: {plan}"
        return CheckResult.skipped(CHECK_ID, reason, "host", "gang_incomplete")
    python, _ = resolve_python(ctx.options.python)
    return gang_judge.judge(run_ranks(python, plan), ctx, policy)
