"""Multi-GPU readiness host checks: ``device.count``, ``gpu.nvlink`` and ``distributed.allreduce``.

``distributed.allreduce`` (``--check-distributed``) runs one rank per local device
(``preflight.ranks``): on CPU, gloo ranks; on CUDA one per visible GPU with NCCL, on
ROCm the same path with RCCL. Correctness first (exact integer all-reduce and
broadcast), then timed all-reduces whose peak bus bandwidth is compared with
policy/distributed_reference.yaml for the SKU, GPU count and topology. A hang or a
dead rank fails this check alone; every rank is killed and the preflight goes on.
On one device the collective is skipped, saying why, after what one rank can check.

``device.count`` (``--expect-gpus N``) fails when torch sees fewer devices than the job
expects; ``gpu.nvlink`` judges NVML's link states and P2P status (``gpu.interconnect``).
"""

from __future__ import annotations

from typing import Any

from preflight_action.errors import InputError
from preflight_action.gpu import interconnect
from preflight_action.gpu.interconnect import DistributedPolicy
from preflight_action.preflight.context import Context
from preflight_action.preflight.ranks import RankPlan, RankRun, run_ranks
from preflight_action.preflight.report import CheckResult
from preflight_action.process.probe_client import resolve_python

CHECK_ID = "distributed.allreduce"
NO_COLLECTIVE = {
    "mps": "mps backend: one Apple GPU per machine and no collective backend to test",
    "xpu": "xpu backend: this check drives gloo and NCCL/RCCL only (XCCL is not exercised)",
}


def plan_for(ctx: Context, policy: DistributedPolicy) -> RankPlan | str:
    """How many ranks on which backend, or why none can run here."""
    run = policy.run
    deadline = float(ctx.options.check_timeout)
    common = {"elements": run["elements"], "rank_timeout_s": min(float(run["rank_timeout_s"]), deadline / 2), "deadline_s": deadline}
    if ctx.backend == "cpu":
        cpu = run["cpu"]
        return RankPlan("gloo", "cpu", cpu["ranks"], tuple(cpu["sizes_bytes"]), cpu["warmup"], cpu["iterations"], **common)
    if ctx.backend in ("cuda", "rocm"):
        count = ctx.details("capabilities.detect").get("cuda_device_count")
        if not count:
            return "capabilities.detect reports no visible GPU count (torch.cuda.device_count())"
        acc = run["accelerator"]
        sizes = tuple(acc["sizes_bytes"]) if count > 1 else ()
        return RankPlan("nccl", "cuda", int(count), sizes, acc["warmup"], acc["iterations"], **common)
    return NO_COLLECTIVE.get(ctx.backend or "", f"{ctx.backend or 'unknown'} backend: no collective backend to test")


def check_distributed_allreduce(ctx: Context, policy: DistributedPolicy | None = None) -> CheckResult:
    try:
        policy = policy or interconnect.load_policy()
    except InputError as exc:
        return CheckResult(CHECK_ID, "fail", error=f"distributed policy: {exc}", source="host")
    plan = plan_for(ctx, policy)
    if isinstance(plan, str):
        return CheckResult.skipped(CHECK_ID, plan, "host")
    python, _ = resolve_python(ctx.options.python)
    run = run_ranks(python, plan)
    return judge(run, ctx, policy)


def library_of(run: RankRun[Any]) -> dict[str, Any]:
    init = next((r.init for r in run.ranks if r.init), None) or {}
    return {"library": init.get("library"), "nccl_version": init.get("nccl_version"), "torch": init.get("torch")}


def _failures(run: RankRun[RankPlan]) -> list[str]:
    """One sentence per failed rank; likely culprits (wrong result, died, hung) before ranks that only saw the fallout."""
    wrong, died, hung, errored = [], [], [], []
    for rank in run.ranks:
        problems = (rank.correctness or {}).get("problems") or []
        if problems:
            wrong.append(f"rank {rank.rank} got wrong results: {'; '.join(problems)}")
        if rank.error is not None:
            errored.append(f"rank {rank.rank} failed in {rank.stage}: {rank.error.get('error')}")
        elif rank.killed:
            hung.append(f"rank {rank.rank} hung in {rank.stage} and was killed")
        elif rank.done is None:
            died.append(f"rank {rank.rank} died in {rank.stage} ({rank.exit})")
    return wrong + died + hung + errored


def judge(run: RankRun[RankPlan], ctx: Context, policy: DistributedPolicy) -> CheckResult:
    """The verdict over what every rank reported."""
    plan = run.plan
    world = plan.world_size
    details: dict[str, Any] = {
        "backend": plan.backend,
        **library_of(run),
        "world_size": world,
        "device_type": plan.device,
        "rendezvous": f"127.0.0.1:{run.port}" if run.port else None,
        "rank_timeout_s": plan.rank_timeout_s,
        "deadline_s": plan.deadline_s,
        "elapsed_s": round(run.elapsed_s, 3),
        "ranks": [r.record() for r in run.ranks],
        "correctness": correctness_of(run),
    }
    failures = _failures(run)
    if failures:
        head = f"{CHECK_ID} over {world} {plan.backend} rank(s)"
        if run.timed_out:
            head += f" timed out after {plan.deadline_s:g} s (the orchestrator's deadline); every rank still running was killed"
        else:
            head += " failed"
        return CheckResult(CHECK_ID, "fail", run.elapsed_s * 1000.0, details, error=f"{head}: " + "; ".join(failures), source="host")
    library = details["library"] + (f" {details['nccl_version']}" if details["nccl_version"] else "")
    if world == 1:
        reason = (
            f"world size 1 (one visible {ctx.backend} device): no peer to exchange with, so no collective across devices "
            f"and no bus bandwidth (busbw = algbw x 2(n-1)/n is 0); checked instead: {library} initialised and a 1-rank "
            "all-reduce and broadcast returned exact results"
        )
        return CheckResult(CHECK_ID, "skip", run.elapsed_s * 1000.0, details, skip_reason=reason, source="host")
    timings = [{k: v for k, v in t.items() if k not in ("type", "rank")} for t in run.ranks[0].timings]
    details["timings"] = timings
    peak = max((t["busbw_gbs"] for t in timings), default=0.0)
    details["peak_busbw_gbs"] = peak
    details["peak_algbw_gbs"] = max((t["algbw_gbs"] for t in timings), default=0.0)
    passed, comparison = _compare(ctx, policy, world, peak, details)
    sizes = ", ".join(f"{size_words(t['size_bytes'])} {t['busbw_gbs']:.2f}" for t in timings)
    summary = f"{world} {library} ranks: exact all-reduce and broadcast; busbw GB/s by size {sizes}; {comparison}"
    if not passed:
        return CheckResult(CHECK_ID, "fail", run.elapsed_s * 1000.0, details, error=summary, source="host")
    details["summary"] = summary
    return CheckResult(CHECK_ID, "pass", run.elapsed_s * 1000.0, details, source="host")


def size_words(size: int) -> str:
    for unit, scale in (("GiB", 1 << 30), ("MiB", 1 << 20), ("KiB", 1 << 10)):
        if size >= scale:
            return f"{size / scale:g} {unit}"
    return f"{size} B"


def correctness_of(run: RankRun[Any]) -> dict[str, Any]:
    reports = [r.correctness for r in run.ranks if r.correctness]
    first = reports[0] if reports else {}
    return {
        "checked_ranks": [r.rank for r in run.ranks if r.correctness],
        "wrong_ranks": [r.rank for r in run.ranks if r.correctness and not r.correctness.get("ok")],
        "dtype": first.get("dtype"),
        "elements": first.get("elements"),
        "broadcast_roots": first.get("broadcast_roots"),
    }


def _compare(ctx: Context, policy: DistributedPolicy, world: int, peak: float, details: dict[str, Any]) -> tuple[bool, str]:
    """(passed, sentence): the peak against the reference for this node, or why there is none."""
    if ctx.backend == "cpu":
        details["reference"] = None
        details["comparison"] = "skipped: CPU gloo over loopback measures this host's memory system, not a device fabric"
        return True, "comparison " + details["comparison"]
    device_name = ctx.details("capabilities.detect").get("device_name")
    sku = policy.sku(device_name)
    readings = ctx.details("gpu.health").get("readings")
    if readings:
        gpus, _ = interconnect.visible_gpus(readings, world)
        topo, topo_reason = interconnect.topology(gpus)
    else:
        topo, topo_reason = None, "NVML readings are unavailable (gpu.health did not read them)"
    details["topology"], details["topology_reason"] = topo, topo_reason
    reference, why = interconnect.reference_for(policy, sku.name if sku else None, world, topo, interconnect.nccl_algo())
    details["reference"] = reference
    if reference is None:
        details["comparison"] = f"skipped: {why} ({device_name or 'unnamed GPU'}; topology: {topo_reason})"
        return True, "comparison " + details["comparison"]
    passed, sentence = interconnect.compare(peak, reference, float(policy.run["threshold"]))
    details["comparison"] = f"{why}: {sentence}"
    return passed, details["comparison"]


def check_device_count(ctx: Context) -> CheckResult:
    """Fewer visible devices than --expect-gpus is critical: the job would start on a partial node."""
    expected = int(ctx.options.expect_gpus or 0)
    caps = ctx.details("capabilities.detect")
    if caps.get("mps_available"):
        visible, how = 1, "torch.backends.mps.is_available() (one Apple GPU)"
    else:
        visible, how = int(caps.get("cuda_device_count") or 0), "torch.cuda.device_count()"
    details = {"expected": expected, "visible": visible, "source": how, "backend": ctx.backend}
    if visible < expected:
        error = f"{visible} GPU(s) visible ({how}), the job expects {expected} (--expect-gpus)"
        return CheckResult("device.count", "fail", details=details, error=error, source="host")
    details["summary"] = f"{visible} GPU(s) visible ({how}), at least the {expected} expected"
    return CheckResult("device.count", "pass", details=details, source="host")


def check_gpu_nvlink(ctx: Context) -> CheckResult:
    """NVLink link state and P2P status of the GPUs torch sees, judged for SKUs that have NVLink."""
    try:
        policy = interconnect.load_policy()
    except InputError as exc:
        return CheckResult("gpu.nvlink", "fail", error=f"distributed policy: {exc}", source="host")
    readings = ctx.details("gpu.health")["readings"]
    caps = ctx.details("capabilities.detect")
    # without torch (the read-only watch level) every GPU NVML reads is one this node offers its jobs
    count = int(caps.get("cuda_device_count") or 1) if caps else len(readings.get("gpus") or []) or 1
    gpus, missing = interconnect.visible_gpus(readings, count)
    verdict = interconnect.evaluate_nvlink(gpus, policy)
    details = {**verdict.details, "missing": missing}
    if verdict.status == "skip":
        return CheckResult("gpu.nvlink", "skip", details=details, skip_reason=verdict.message, source="host")
    if verdict.status == "fail":
        return CheckResult("gpu.nvlink", "fail", details=details, error=verdict.message, source="host")
    return CheckResult("gpu.nvlink", "pass", details={**details, "summary": verdict.message}, source="host")
