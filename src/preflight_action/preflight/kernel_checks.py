"""kernel.log: the kernel's own word on this node (kernel_log/), as a check scored by its worst new finding."""

from __future__ import annotations

from preflight_action.kernel_log import judge
from preflight_action.preflight.context import Context
from preflight_action.preflight.report import CheckResult
from preflight_action.preflight.severity import SeverityPolicy

CHECK_ID = "kernel.log"
SUBPROCESS_TIMEOUT_S = 10.0  # journalctl or dmesg, where /dev/kmsg cannot be read


def band_score(policy: SeverityPolicy, band: str) -> int:
    """The middle of ``band`` in the severity policy: a finding's band is policy/kernel_log.yaml's, its score follows."""
    low = policy.band_named(band).min_score
    above = [b.min_score for b in policy.bands if b.min_score > low]
    high = min(above) - 1 if above else 100
    return (low + high) // 2


def check_kernel_log(ctx: Context) -> CheckResult:
    """Xid/SXid events, PCIe AER errors, GPUs off the bus and InfiniBand/RoCE ports: new findings fail, scored by the worst."""
    threshold = ctx.options.strict_threshold or ctx.policy.strict_threshold
    verdict = judge.judge(threshold, min(SUBPROCESS_TIMEOUT_S, ctx.options.check_timeout))
    if verdict.status == "skip":
        return CheckResult.skipped(CHECK_ID, verdict.message, "host")
    if verdict.details.get("error_kind") == "input":  # our policy or the saved evidence it was pointed at: not the node's fault
        return CheckResult.skipped(CHECK_ID, f"not judged: {verdict.message}", "host", unfinished="tool_error")
    if verdict.status == "pass":
        return CheckResult(CHECK_ID, "pass", details=verdict.details, source="host")
    details = dict(verdict.details)
    if verdict.worst_band is not None:
        details["score"] = band_score(ctx.policy, verdict.worst_band)  # severity.yaml: kernel.log scored_by_check
    return CheckResult(CHECK_ID, "fail", details=details, error=verdict.message, source="host", remedy=verdict.remedy)
