"""Orchestrate one preflight: plan checks, run them isolated, assemble the report.

The orchestrator never imports torch. ``Session`` starts the probe worker (and
its torch import) before anything else so that import overlaps our own start-up.
"""

from __future__ import annotations

import math
import os
import time
from collections.abc import Callable
from dataclasses import replace
from typing import Any

from preflight_action import __version__, ci, redact, untrusted
from preflight_action.errors import UsageError
from preflight_action.host import host_identity, utc_now
from preflight_action.preflight import budget, checks, gang_record, inventory, isolated, levels, report, triage
from preflight_action.preflight.budget import CUT_SLACK_S, Allotment, Budget
from preflight_action.preflight.checks import CheckSpec
from preflight_action.preflight.context import Context
from preflight_action.preflight.early import EarlyWorker
from preflight_action.preflight.options import Options
from preflight_action.preflight.report import CheckResult, Host, Interpreter, Report, RunOptions, Tool, WorkerRestart
from preflight_action.preflight.severity import SeverityPolicy
from preflight_action.process import tree
from preflight_action.process.interrupts import Interrupted
from preflight_action.process.probe_client import ProbeDirectory, ProbeWorker, WorkerFailure, resolve_python
from preflight_action.vocab import FINGERPRINT_ENV_NAMES, FINGERPRINT_ENV_PREFIXES, Unfinished

Progress = Callable[[CheckResult, int, int], None]
Starting = Callable[[str, int, int], None]

# Facts that change run to run on the same machine stay out of the fingerprint.
VOLATILE_FACTS = {"free_memory_mb", "ram_available_mb", "sources"}


class Session:
    """One preflight run; construct it as early as possible, then call ``run``."""

    def __init__(self, options: Options, interrupts: Interrupted | None = None, early: EarlyWorker | None = None) -> None:
        options.validated()
        try:
            self.python, self.python_source = resolve_python(options.python)
        except FileNotFoundError:
            raise UsageError(f"--python {options.python}: no such interpreter") from None
        self.options = options
        self.started_at = utc_now()
        self._t0 = early.started if early else time.perf_counter()
        self._probe_dir = early.directory if early else ProbeDirectory()
        self._worker: ProbeWorker | None = None
        self._stopped: list[ProbeWorker] = []  # killed, not yet reaped
        self._pending: dict[str, int] = {}
        self._hello: dict[str, Any] | None = None  # the interpreter's own word on its version
        self._interrupts = interrupts
        self._crashed: tuple[str, str] | None = None  # (check, why) that took the last worker down
        self._never_started: str | None = None  # the check that found --python is not an interpreter running the probe
        self.worker_restarts: list[dict[str, Any]] = []
        if not self._adopt(early):
            self._prefetch("torch.import", {})
        self._plan_level()
        tree.warm()  # close() finds the worker's children with psutil: load it while torch imports

    def _adopt(self, early: EarlyWorker | None) -> bool:
        """Take over the worker ``early.start`` began (its torch import already under way), when it diagnoses our python."""
        if early is None:
            return False
        if early.python != self.python or not early.worker.alive:
            early.worker.close()
            return False
        self._worker = early.worker
        self._pending["torch.import"] = early.torch_import_mark
        if self._interrupts is not None:
            self._interrupts.current = early.worker.process
        return True

    def _worker_now(self) -> ProbeWorker:
        if self._worker is None or not self._worker.alive:
            if self._worker is not None:  # one that died at once still holds our end of its pipes
                self._hello = self._worker.hello or self._hello
                self._worker.close()
            try:
                self._worker = ProbeWorker(self.python, self._probe_dir)
            except OSError as exc:
                raise UsageError(f"--python {self.python}: cannot start it ({exc})") from None
            self._pending.clear()
            if self._interrupts is not None:
                self._interrupts.current = self._worker.process
        return self._worker

    @property
    def interrupted(self) -> str | None:
        """The signal that interrupted the run (SIGINT, SIGTERM), else None."""
        return self._interrupts.signal_name if self._interrupts is not None else None

    def _restart(self, spec: CheckSpec, ctx: Context) -> float | None:
        """After a crash, start the next worker and import torch in it before the check, so the
        check's own duration stays comparable; the cost is recorded in ``worker_restarts``."""
        if self._crashed is None or (self._worker is not None and self._worker.alive):
            return None
        after, why = self._crashed
        self._crashed = None
        started = time.perf_counter()
        worker = self._worker_now()
        entry: dict[str, Any] = {"after_check": after, "before_check": spec.id, "cause": why, "torch_imported": False}
        if ctx.passed("torch.import"):
            try:
                worker.result("torch.import", self._allotment.wait_s(), worker.request("torch.import", {}))
                entry["torch_imported"] = True
            except WorkerFailure as failure:
                worker.close()
                self._worker = None
                entry["error"] = str(failure)
        entry["restart_ms"] = round((time.perf_counter() - started) * 1000.0, 3)
        self.worker_restarts.append(entry)
        return float(entry["restart_ms"])

    def _prefetch(self, check_id: str, params: dict[str, Any]) -> None:
        self._pending[check_id] = self._worker_now().request(check_id, params)

    def _run_probe(self, spec: CheckSpec, ctx: Context) -> CheckResult:
        if self._never_started:  # one cause, one failure: the first probe check already said why
            return CheckResult.skipped(spec.id, f"{self.python} never started the probe ({self._never_started} failed)")
        restart_ms = self._restart(spec, ctx)
        if self.interrupted:
            return self._not_run(spec)
        started = time.perf_counter()
        worker = self._worker_now()
        mark = self._pending.pop(spec.id, None)
        if mark is None:
            mark = worker.request(spec.id, self._params(spec, ctx))
        watch = self._start_monitor(spec, ctx)
        try:
            record = worker.result(spec.id, self._allotment.wait_s(), mark)
        except WorkerFailure as failure:
            self._stop_monitor(watch)
            self._hello = worker.hello or self._hello
            worker.close()
            self._worker = None
            if self.interrupted:  # the interruption stopped the worker: this check did not fail, it did not finish
                return self._not_run(spec)
            self._crashed = (spec.id, str(failure))
            if self._cut_by_budget():
                return self._budget_cut(spec, started)
            elapsed = (time.perf_counter() - started) * 1000.0
            started_probe = worker.hello is not None or self._hello is not None
            said = isolated.explain(spec.id, str(failure), failure.stderr_tail, started_probe, self.python, self.options.check_timeout)
            self._never_started = spec.id if said.never_started else None
            if said.unjudged:  # the tool's or its input's failure: the node is not judged, never blamed
                return replace(
                    CheckResult.skipped(spec.id, _text(f"{said.error}; {said.remedy}"), unfinished="tool_error"),
                    duration_ms=elapsed,
                    remedy=_text(said.remedy),
                    details={"isolated_failure": True, **said.details},
                )
            return CheckResult(
                spec.id, "fail", elapsed, {"isolated_failure": True, **said.details}, error=_text(said.error), remedy=_text(said.remedy)
            )
        details = record.get("details") or {}
        if restart_ms is not None:
            details = {**details, "worker_restart_ms": restart_ms}
        result = CheckResult(
            id=spec.id,
            status=record["status"],
            duration_ms=float(record.get("duration_ms") or 0.0),
            details=details,
            error=_text(record.get("error")),
            skip_reason=_text(record.get("skip_reason")),
            remedy=_text(record.get("remedy")),
        )
        return self._judge(watch, result)

    def _run_spec(self, spec: CheckSpec, ctx: Context) -> CheckResult:
        if not spec.enabled(self.options):
            return CheckResult.skipped(spec.id, f"not requested (pass {spec.flag} to run it)", spec.source)
        for need in spec.needs:
            if not ctx.passed(need):
                before = ctx.results.get(need)
                state = before.status if before is not None else "not run"
                verb = "failed" if state == "fail" else f"was {'skipped' if state == 'skip' else state}"
                # A check that could not run because its need never finished is not judged either.
                unfinished: Unfinished | None = "needs_unfinished" if before is None or before.unfinished is not None else None
                return CheckResult.skipped(spec.id, f"needs {need}, which {verb}", spec.source, unfinished)
        if spec.host is None:
            return self._run_probe(spec, ctx)
        started = time.perf_counter()
        result = spec.host(ctx)
        elapsed = result.duration_ms or (time.perf_counter() - started) * 1000.0
        # a host check's words quote what the probe read (a path, a cgroup folder): as untrusted as the probe's own
        return replace(result, source="host", duration_ms=elapsed, error=_text(result.error), remedy=_text(result.remedy))

    def run(self, policy: SeverityPolicy, progress: Progress | None = None, starting: Starting | None = None) -> Report:
        ctx = Context(self.options, policy)
        specs = self.plan
        try:
            for index, spec in enumerate(specs, start=1):
                if self.interrupted and spec.enabled(self.options):
                    ctx.results[spec.id] = self._not_run(spec)
                    continue
                if starting:
                    starting(spec.id, index, len(specs))
                result = self._run_budgeted(spec, ctx, [s.id for s in specs[index:]])
                ctx.results[spec.id] = result
                if spec.id == "device.resolve" and result.status == "pass":
                    ctx.device = result.details.get("resolved_device")
                    ctx.backend = result.details.get("backend")
                if progress and not self.interrupted:  # after a signal, one line says so (the CLI's)
                    progress(result, index, len(specs))
        finally:
            self._stop_worker()  # killed now, reaped by close() (the CLI writes the report meanwhile)
        return self._assemble(ctx, policy)

    def _not_run(self, spec: CheckSpec) -> CheckResult:
        return CheckResult.skipped(spec.id, self._interrupts.reason if self._interrupts else "not run", spec.source, "interrupted")

    # Levels and the run budget (policy/levels.yaml, --level, --budget); the budget reaches each
    # check as its allotment, enforced by the same kill-on-timeout that isolates checks.

    def _plan_level(self) -> None:
        """The level's checks and the run's budget; a bad levels policy stops the run before any check."""
        try:
            policy = levels.load(self.options.levels_path)
            self.plan = levels.plan(policy, self.options.level, checks.SPECS)
        except BaseException:
            self.close()
            raise
        self.levels_policy = policy
        total = levels.budget_for(policy, self.options.level, self.options.budget_s)
        started = time.monotonic() - (time.perf_counter() - self._t0)  # the budget counts from the session's start
        self.budget = Budget(total, self.options.check_timeout, policy.share, started)
        self._allotment = Allotment(self.options.check_timeout, False, None, time.monotonic())

    def _run_budgeted(self, spec: CheckSpec, ctx: Context, later: list[str]) -> CheckResult:
        if not spec.enabled(self.options):
            return self._run_spec(spec, ctx)  # "not requested" costs nothing and says more than "out of budget"
        allotment = self.budget.allot(spec.id, later)
        if allotment is None:
            return CheckResult.skipped(spec.id, self.budget.ran_out_reason(spec.id), spec.source, "budget_exhausted")
        self._allotment = allotment
        if spec.host is None or not allotment.by_budget:
            return self._run_spec(spec, ctx)
        # Host checks bound their own subprocesses by --check-timeout: give them the allotment, less a margin to
        # stop those in, and a host check that still ran its allotment out was stopped by the budget, not failed.
        started = time.perf_counter()
        result = self._run_spec(spec, replace(ctx, options=replace(ctx.options, check_timeout=allotment.probe_limit())))
        if result.status == "fail" and allotment.left() <= max(budget.PROBE_MARGIN_S, budget.PROBE_MARGIN_FRACTION * allotment.limit_s):
            cut = self._budget_cut(spec, started)
            return replace(cut, details={**result.details, **cut.details, "error_when_cut": result.error})
        return result

    def _params(self, spec: CheckSpec, ctx: Context) -> dict[str, Any]:
        params = spec.params(ctx)
        if not spec.timed:
            return params
        settings = self.levels_policy.stress.get(spec.id.replace(".", "_"), {})
        return {**params, **settings, "time_limit_s": self._allotment.probe_limit(), "budget_s": self.budget.total_s}

    def _start_monitor(self, spec: CheckSpec, ctx: Context) -> Any:
        return spec.monitor(ctx) if spec.monitor is not None else None

    def _stop_monitor(self, watch: Any) -> None:
        if watch is not None:
            watch.stop()

    def _judge(self, watch: Any, result: CheckResult) -> CheckResult:
        return watch.judge(result) if watch is not None else result

    def _cut_by_budget(self) -> bool:
        return self._allotment.by_budget and self._allotment.left() <= CUT_SLACK_S

    def _budget_cut(self, spec: CheckSpec, started: float) -> CheckResult:
        """A check the budget stopped: failed as hung once it ran ``hang_after_s`` (as --check-timeout would fail it),
        else not judged (the budget was too small to judge it)."""
        ran = time.perf_counter() - started
        used = time.monotonic() - self._allotment.started
        restart = self.worker_restarts[-1] if self.worker_restarts else None
        before = ""
        if restart and restart["before_check"] == spec.id:  # a fresh worker's torch import ate into the allotment
            before = f"restarting the worker after {restart['after_check']} took {restart['restart_ms'] / 1000:.1f} s"
        reason = self.budget.cut_reason(spec.id, self._allotment, ran, used, stopped_early=spec.host is not None, before=before)
        details = {"budget_cut": True, "ran_s": round(ran, 3), "allotment_s": round(self._allotment.limit_s, 3)}
        hang_s = self.levels_policy.hang_after_s(spec.id)
        if ran >= hang_s:
            error = (
                f"no result after {ran:.1f} s: hung ({reason}); a check that runs {hang_s:g} s without an answer fails as "
                "one killed at --check-timeout does (policy/levels.yaml hang_after_s)"
            )
            remedy = (
                f"{spec.id} hung: rerun it alone with a longer --check-timeout to see whether it ends; if it never does, the "
                "device or its driver is stuck (nvidia-smi, the kernel log) and the node should not take jobs"
            )
            return CheckResult(spec.id, "fail", ran * 1000.0, {**details, "hung": True}, error=error, source=spec.source, remedy=remedy)
        return CheckResult(spec.id, "skip", ran * 1000.0, details, skip_reason=reason, source=spec.source, unfinished="budget_cut")

    def _stop_worker(self) -> None:
        if self._worker is not None:
            self._hello = self._worker.hello or self._hello
            self._worker.stop()
            self._stopped.append(self._worker)
            self._worker = None

    def close(self) -> None:
        """Stop the worker, reap every stopped one and remove a temporary probe copy; safe to call twice."""
        self._stop_worker()
        while self._stopped:
            self._stopped.pop().close()
        self._probe_dir.cleanup()

    def _assemble(self, ctx: Context, policy: SeverityPolicy) -> Report:
        threshold = self.options.strict_threshold or policy.strict_threshold
        what_ran = self._inventory(ctx)
        backend_label = ctx.backend or (self.options.device if self.options.device != "auto" else "unknown")
        scored = triage.score_checks(list(ctx.results.values()), policy, ctx.backend or self.options.device)
        caps = ctx.details("capabilities.detect")
        host = Host(**host_identity())
        version = caps.get("python_version") or (self._hello or {}).get("python")
        where = (host.node_id, triage.os_words(caps, host))
        return Report(
            tool=Tool("preflight-action", __version__),
            started_at=self.started_at,
            finished_at=utc_now(),
            duration_ms=round((time.perf_counter() - self._t0) * 1000.0, 3),
            requested_device=self.options.device,
            resolved_device=ctx.device,
            backend=ctx.backend,
            options=RunOptions(
                check_torchvision=self.options.check_torchvision,
                check_compile=self.options.check_compile,
                strict=self.options.strict,
                strict_threshold=threshold,
                check_timeout_s=self.options.check_timeout,
                policy=policy.source,
                level=self.options.level,
                budget_s=self.budget.total_s,
            ),
            interpreter=Interpreter(self.python, version, self.python_source),
            host=host,
            ci=ci.ci_context(),
            checks=scored,
            env_fingerprint=report.fingerprint(self._fingerprint_payload(ctx)),
            triage=triage.build(scored, policy, backend_label, threshold, where=where),
            budget=self.budget.record(),
            interrupted_by=self.interrupted,
            worker_restarts=[WorkerRestart(**entry) for entry in self.worker_restarts],
            inventory=what_ran,
            gang=gang_record.build(self.options.gang, ctx.details(gang_record.CHECK_ID)),
        )

    def _inventory(self, ctx: Context) -> inventory.Inventory:
        """The run's inventory; the distribution scan moves out of deps.consistency's details (said once, at the top)."""
        deps = ctx.results.get("deps.consistency")
        scan = deps.details.get("inventory") if deps is not None else None
        if deps is not None and scan is not None:
            ctx.results["deps.consistency"] = replace(deps, details={k: v for k, v in deps.details.items() if k != "inventory"})
        if deps is None:
            why = "no distribution scan: deps.consistency is not in this level's checks"
        elif deps.status == "skip" and deps.unfinished is not None:
            why = f"no distribution scan: deps.consistency never finished ({deps.unfinished})"
        else:
            why = f"no distribution scan: deps.consistency gave none ({deps.error or deps.skip_reason or deps.status})"
        details = (ctx.details("capabilities.detect"), ctx.details("deps.consistency"), ctx.details("gpu.health"))
        return inventory.build(scan if isinstance(scan, dict) else None, *details, os.environ, why)

    def _fingerprint_payload(self, ctx: Context) -> dict[str, Any]:
        caps = {k: v for k, v in ctx.details("capabilities.detect").items() if k not in VOLATILE_FACTS}
        env = dict(os.environ)
        names = [n for n in env if n.startswith(FINGERPRINT_ENV_PREFIXES) or n in FINGERPRINT_ENV_NAMES]
        return {
            "interpreter": self.python,
            "requested_device": self.options.device,
            "resolved_device": ctx.device,
            "capabilities": caps,
            "packages": ctx.details("deps.consistency").get("installed", {}),
            "environment": redact.redact_environment(env, names),
        }


# Characters of one string a report keeps: room for a stderr tail, a cap on a megabyte environment value.
REPORT_STRING_LIMIT = 4 * untrusted.DEFAULT_LIMIT


def finalize(document: dict[str, Any]) -> dict[str, Any]:
    """Scrub every secret value out of a report document, and make it strict JSON, before anything sees it.

    Paths, environment values, stderr, package metadata and hostnames may hold any bytes: every string and key
    is escaped and capped (``untrusted``), so the report is valid UTF-8 JSON and safe in Markdown and HTML.
    """
    scrubbed = redact.scrub(document, redact.secret_values())
    finite: dict[str, Any] = _finite(untrusted.clean_tree(scrubbed, REPORT_STRING_LIMIT))
    fingerprint = finite.get("env_fingerprint")
    if isinstance(fingerprint, dict) and fingerprint.get("payload") != (scrubbed.get("env_fingerprint") or {}).get("payload"):
        shown = report.fingerprint(fingerprint["payload"])  # the hash stays the hash of what is shown
        finite["env_fingerprint"] = {"payload": shown.payload, "sha256": shown.sha256}
    return finite


def _text(value: Any) -> Any:
    """A worker's words (its stderr, a library's message) made printable and bounded before a terminal shows them."""
    return untrusted.clean(value, REPORT_STRING_LIMIT) if isinstance(value, str) else value


def _finite(value: Any) -> Any:
    """NaN and infinities (a broken device's arithmetic) as strings: strict JSON parsers refuse them as numbers."""
    if isinstance(value, float) and not math.isfinite(value):
        return "NaN" if math.isnan(value) else ("Infinity" if value > 0 else "-Infinity")
    if isinstance(value, dict):
        return {k: _finite(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_finite(v) for v in value]
    return value
