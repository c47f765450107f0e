"""``gang.allreduce``'s verdict on one member, from what its own ranks reported.

A member's check fails for what its own ranks did: a wrong result, a rank that died or hung in a step, a
slow member (both its inter-node links far below the others'), or a gang that failed with no member left
behind (cause not identified). It is not judged (``unfinished="gang_incomplete"``) when another member kept
the gang from finishing: one never joined, stopped answering in a step, or got wrong results. Every member
is named: by the node id it joined with, else the launcher's name for its node rank, else "node rank N".
"""

from __future__ import annotations

from typing import Any

from preflight_action.gpu import interconnect
from preflight_action.gpu.interconnect import DistributedPolicy
from preflight_action.preflight import gang_links
from preflight_action.preflight.context import Context
from preflight_action.preflight.distributed import correctness_of, library_of, size_words
from preflight_action.preflight.gang_record import CHECK_ID
from preflight_action.preflight.gang_view import GangPlan, View, member_row
from preflight_action.preflight.ranks import Rank, RankRun
from preflight_action.preflight.report import CheckResult

NOT_A_FABRIC = (
    "CPU gloo measures the hosts' TCP stack (loopback, or whatever network joins them), not the GPU fabric the references describe"
)
DYNAMIC_HINT = " (node ranks were given in order of arrival: pass --node-rank to name who is missing)"


def _view(run: RankRun[GangPlan]) -> View:
    member = next((r.lines["member"] for r in run.ranks if "member" in r.lines), {})
    view = View(run, member)
    joined = member.get("members") or (run.ranks[0].lines.get("joined") or {}).get("members") or []
    for m in joined:
        view.members[int(m["node_rank"])] = member_row(int(m["node_rank"]), str(m["node_id"]), int(m["ranks"]))
    return view


def _first_error(run: RankRun[GangPlan]) -> tuple[Rank, dict[str, Any]] | None:
    return next(((r, r.error) for r in run.ranks if r.error is not None), None)


def judge(run: RankRun[GangPlan], ctx: Context, policy: DistributedPolicy) -> CheckResult:
    """This member's result, with the gang's members and figures in its details."""
    view = _view(run)
    plan = view.plan
    init = next((r.init for r in run.ranks if r.init), None) or {}
    details: dict[str, Any] = {
        "gang_id": view.member.get("gang_id"),
        "launcher": plan.gang.launcher,
        "endpoint": plan.gang.endpoint,
        "size": plan.gang.nnodes,
        "node_rank": view.node_rank,
        "hosting": bool(view.member.get("hosting")),
        "served_by": view.name(view.member["served_by"]) if view.member.get("served_by") is not None else None,
        "backend": plan.backend,
        **library_of(run),
        "device_type": plan.device,
        "world_size": view.member.get("world_size"),
        "local_ranks": plan.world_size,
        "join_timeout_s": plan.join_timeout_s,
        "collective_timeout_s": plan.collective_timeout_s,
        "deadline_s": plan.deadline_s,
        "joined_after_s": init.get("joined_after_s"),
        "elapsed_s": round(run.elapsed_s, 3),
        "ranks": [r.record() for r in run.ranks],
    }
    verdict = _own_failure(view) or _not_finished(view) or _wrong(view)
    if verdict is None:
        verdict = _figures(view, ctx, policy, details)
    status, sentence = verdict
    details["members"] = [view.members[r] for r in sorted(view.members)]
    elapsed_ms = run.elapsed_s * 1000.0
    if status == "pass":
        details["summary"] = sentence
        return CheckResult(CHECK_ID, "pass", elapsed_ms, details, source="host")
    if status == "skip":
        return CheckResult(CHECK_ID, "skip", elapsed_ms, details, skip_reason=sentence, source="host", unfinished="gang_incomplete")
    return CheckResult(CHECK_ID, "fail", elapsed_ms, details, error=sentence, source="host")


Verdict = tuple[str, str]  # (pass | skip | fail, the sentence)


def _own_failure(view: View) -> Verdict | None:
    """This member's own ranks died, hung in a step, or failed before the rendezvous."""
    plan, run = view.plan, view.run
    problems = []
    for index, rank in enumerate(run.ranks):
        if rank.overran and rank.overran != "rendezvous":
            problems.append(
                f"local rank {index} hung in {rank.overran}: still in it past the step's {plan.collective_timeout_s:g} s "
                "collective timeout (+10%), while a rank only waiting for the others gives up at the timeout; it was killed"
            )
        elif rank.killed and rank.stage != "rendezvous":
            problems.append(f"local rank {index} was still in {rank.stage} at the check's {plan.deadline_s:g} s deadline and was killed")
        elif rank.error is None and rank.done is None and rank.exit is not None and not rank.killed:
            problems.append(f"local rank {index} died in {rank.stage} ({rank.exit})")
        elif rank.error is not None and rank.error.get("stage") == "import torch":
            problems.append(f"local rank {index} failed in import torch: {rank.error.get('error')}")
    if not problems:
        return None
    view.mark(view.node_rank, "failed")
    return "fail", f"{CHECK_ID}: this member ({view.name(view.node_rank)}) failed: " + "; ".join(problems)


def _not_finished(view: View) -> Verdict | None:
    """The rendezvous or a step failed; another member is to blame (not judged), or no one is (a failure)."""
    run, plan = view.run, view.plan
    stuck = next((r for r in run.ranks if r.killed and r.stage == "rendezvous"), None)
    if stuck is not None:
        return "skip", (
            f"the rendezvous at {plan.gang.endpoint} did not finish within the {plan.join_timeout_s:g} s join timeout: this "
            "member's rank was still reaching the store and was killed; the gang is not judged"
        )
    found = _first_error(run)
    if found is None:
        return None
    _, error = found
    stage = str(error.get("stage"))
    if stage == "rendezvous":
        return "skip", _rendezvous(view, error)
    behind = [b for b in error.get("behind") or [] if b.get("node_rank") != view.node_rank]
    if behind:
        culprits = sorted({int(b["node_rank"]) for b in behind if b.get("node_rank") is not None})
        for culprit in culprits:
            view.mark(culprit, "stopped")
        where = ", ".join(sorted({str(b["stage"]) for b in behind}))
        return "skip", (
            f"{view.named(culprits)} stopped answering in {where}: this member's {stage} timed out after "
            f"{plan.collective_timeout_s:g} s waiting for it ({error.get('error')}); the gang is not judged here"
        )
    if error.get("store_error"):
        served_by = view.member.get("served_by")
        view.mark(served_by, "stopped")
        return "skip", (
            f"the rendezvous store went away in {stage} ({error['store_error']}): {view.name(served_by)}, which served it, "
            f"stopped; this member's step failed: {error.get('error')}; the gang is not judged here"
        )
    return "fail", (
        f"{CHECK_ID}: {stage} failed on every member, with no member left behind: {error.get('error')}; cause not identified "
        "(the fabric between the members, or a setting they share): run the gang again with NCCL_DEBUG=INFO, or pairs of members"
    )


def _rendezvous(view: View, error: dict[str, Any]) -> str:
    plan = view.plan
    if error.get("missing") is not None:
        missing = [int(r) for r in error["missing"]]
        for rank in missing:
            view.members[rank] = member_row(rank, view.name(rank), None, "never_joined")
        joined = [r for r in sorted(view.members) if r not in missing]
        hint = DYNAMIC_HINT if plan.gang.node_rank is None and not plan.gang.names else ""
        return (
            f"{len(missing)} of {plan.gang.nnodes} members never joined the gang at {plan.gang.endpoint} within the "
            f"{plan.join_timeout_s:g} s join timeout: {view.named(missing)}{hint}; joined: {view.named(joined) or 'none'}; "
            "the gang is not judged (nor is any member for it)"
        )
    if error.get("silent"):
        return (
            f"nothing answered at {plan.gang.endpoint} within the {plan.join_timeout_s:g} s join timeout: the member that serves "
            f"the rendezvous (one on {plan.gang.host}) never came, or {plan.gang.endpoint} cannot be reached from this node; "
            "the gang is not judged"
        )
    if error.get("conflict"):
        return f"the gang was launched wrong: {error.get('error')}; the gang is not judged"
    return f"the rendezvous at {plan.gang.endpoint} failed: {error.get('error')}; the gang is not judged"


def _wrong(view: View) -> Verdict | None:
    """Wrong results in the exact collectives: this member's own ranks (a failure), or another member's (not judged)."""
    wrong: list[int] = next((r.lines["agreement"]["wrong_ranks"] for r in view.run.ranks if "agreement" in r.lines), [])
    if not wrong:
        return None
    problems = {r.lines["member"]["global_rank"]: r.correctness for r in view.run.ranks if "member" in r.lines and r.correctness}
    own = [g for g in wrong if view.mine(g)]
    for culprit in sorted({o for o in (view.owner(g) for g in wrong) if o is not None}):
        view.mark(culprit, "failed")
    if own:
        said = "; ".join(f"global rank {g}: {'; '.join((problems.get(g) or {}).get('problems') or ['wrong'])}" for g in own)
        return "fail", f"{CHECK_ID}: this member ({view.name(view.node_rank)}) got wrong results in the exact collectives: {said}"
    others = sorted({o for o in (view.owner(g) for g in wrong) if o is not None})
    return "skip", (
        f"{view.named(others)} got wrong results in the exact all-reduce and broadcast (global ranks {', '.join(map(str, wrong))}); "
        "this member's were exact, the gang's figures were not measured: not judged here"
    )


def _figures(view: View, ctx: Context, policy: DistributedPolicy, details: dict[str, Any]) -> Verdict:
    """Every rank done: the gang's busbw against the reference, the link ring, the slow member."""
    run, plan = view.run, view.plan
    for row in view.members.values():
        row["state"] = "ok"
    details["correctness"] = correctness_of(run)
    timings = [{k: v for k, v in t.items() if k not in ("type", "rank")} for t in run.ranks[0].timings]
    details["timings"] = timings
    peak = max((t["busbw_gbs"] for t in timings), default=None)
    details["peak_busbw_gbs"] = peak
    details["peak_algbw_gbs"] = max((t["algbw_gbs"] for t in timings), default=None)
    library = str(details["library"]) + (f" {details['nccl_version']}" if details["nccl_version"] else "")
    head = f"{len(view.members)} members, {details['world_size']} {library} ranks at {plan.gang.endpoint}: exact all-reduce and broadcast"
    if not timings or peak is None:
        return "pass", f"{head}; one member: no collective across nodes and no bus bandwidth (busbw = algbw x 2(n-1)/n is 0)"
    sizes = ", ".join(f"{size_words(t['size_bytes'])} {t['busbw_gbs']:.2f}" for t in timings)
    links_said, slow, me_slow = gang_links.judge(view, details)
    passed, comparison = _compare(view, ctx, policy, peak, details)
    sentence = f"{head}; gang busbw GB/s by size {sizes}; {links_said}; {comparison}"
    if me_slow:
        return "fail", f"{CHECK_ID}: this member ({view.name(view.node_rank)}) is the slow member of the gang: {sentence}"
    if not passed and not slow:
        return "fail", f"{CHECK_ID}: {sentence}"
    if not passed:
        sentence += f" (held down by {view.named(slow)}, whose own report fails)"
    return "pass", sentence


def _compare(view: View, ctx: Context, policy: DistributedPolicy, peak: float, details: dict[str, Any]) -> tuple[bool, str]:
    """(passed, sentence): the gang's peak busbw against the reference for this SKU and GPUs per node, or why none."""
    if view.plan.backend == "gloo":
        details["reference"], details["comparison"] = None, f"skipped: {NOT_A_FABRIC}"
        return True, "comparison " + details["comparison"]
    device_name = ctx.details("capabilities.detect").get("device_name")
    sku = policy.sku(device_name)
    per_node, algo = view.plan.world_size, interconnect.nccl_algo()
    references = (policy.gang or {}).get("references") or []
    key = (sku.name if sku else None, per_node, algo)
    reference = next((dict(r) for r in references if (r["sku"], r["gpus_per_node"], r["nccl_algo"]) == key), None)
    details["reference"] = reference
    if reference is None:
        why = f"no gang reference for {per_node} x {sku.name if sku else device_name or 'this GPU'} per node"
        details["comparison"] = f"skipped: {why} with {f'NCCL_ALGO={algo}' if algo else 'NCCL choosing'} in {policy.source}"
        return True, "comparison " + details["comparison"]
    threshold = float(policy.run["threshold"])
    passed, sentence = interconnect.compare(peak, reference, threshold)
    details["comparison"] = f"{per_node} x {reference['sku']} per node across {len(view.members)} members: {sentence}"
    return passed, details["comparison"]
