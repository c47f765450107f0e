"""Run planned steps as subprocesses: timeouts, per-step logs, steps.ldjson, interruption, resume."""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import threading
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from preflight_action import redact
from preflight_action.process.interrupts import Interrupted
from preflight_action.process.probe_client import describe_exit
from preflight_action.process.tree import kill_tree
from preflight_action.sweep.artifacts import RunDir, append_step, drop_partial_line, read_steps
from preflight_action.sweep.planner import iso, utc_now
from preflight_action.sweep.progress import Progress
from preflight_action.sweep.records import STEP_FINAL, PlannedPoint, PlannedStep, SweepPlan

METRICS_TAIL_BYTES = 64 * 1024


def parse_metrics(stdout_path: Path) -> tuple[dict[str, Any], str | None]:
    """The last stdout line that is a JSON object of scalars; ``(metrics, skip_reason)``."""
    with stdout_path.open("rb") as handle:
        handle.seek(0, os.SEEK_END)
        size = handle.tell()
        handle.seek(max(0, size - METRICS_TAIL_BYTES))
        tail = handle.read().decode("utf-8", errors="replace")
    for raw in reversed(tail.splitlines()):
        line = raw.strip()
        if not (line.startswith("{") and line.endswith("}")):
            continue
        try:
            document = json.loads(line)
        except json.JSONDecodeError:
            continue
        if isinstance(document, dict):
            metrics = {str(k): v for k, v in document.items() if isinstance(v, (str, int, float, bool)) and k != "skip_reason"}
            skip = document.get("skip_reason")
            return metrics, str(skip) if skip else None
    return {}, None


def _stderr_tail(path: Path, lines: int = 3) -> str:
    text = path.read_text(encoding="utf-8", errors="replace").strip().splitlines()
    return " | ".join(text[-lines:])[:500]


def reap_group(pgid: int) -> None:
    """Kill what a finished step left running in its process group (compile workers, stray children)."""
    if not (hasattr(os, "killpg") and hasattr(signal, "SIGKILL")):  # Windows: no groups; kill_tree's psutil walk is all
        return
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(pgid, signal.SIGKILL)


def run_step(
    run: RunDir,
    point: PlannedPoint,
    step: PlannedStep,
    env: dict[str, str],
    guard: Interrupted,
    secrets: list[str],
) -> dict[str, Any]:
    """Run one step to its record (not yet written)."""
    stdout_path = run.stream_log(point.id, "stdout", step.index, step.name)
    stderr_path = run.stream_log(point.id, "stderr", step.index, step.name)
    stdout_path.parent.mkdir(parents=True, exist_ok=True)
    stderr_path.parent.mkdir(parents=True, exist_ok=True)
    started = utc_now()
    begin = time.perf_counter()
    status, error, returncode = "passed", None, None
    process_s = 0.0
    timed_out = threading.Event()
    with stdout_path.open("wb") as out, stderr_path.open("wb") as err:
        try:
            spawn = time.perf_counter()
            proc = subprocess.Popen(
                list(step.argv), stdout=out, stderr=err, stdin=subprocess.DEVNULL, env=env, start_new_session=os.name == "posix"
            )
        except OSError as exc:
            proc = None
            status, error = "error", f"could not start {step.argv[0]}: {exc.strerror or exc}"
        if proc is not None:
            guard.current = proc  # stopped at once when the signal landed between the loop's check and the spawn

            def on_timeout() -> None:
                timed_out.set()
                kill_tree(proc)

            timer = threading.Timer(step.timeout_s, on_timeout)
            timer.daemon = True
            timer.start()
            try:
                returncode = proc.wait()
            finally:
                timer.cancel()
                guard.current = None
            process_s = time.perf_counter() - spawn
            reap_group(proc.pid)
            if guard.stopped:
                status, error = "interrupted", f"stopped by {guard.signal_name}"
            elif timed_out.is_set():
                status, error = "timeout", f"timed out after {step.timeout_s:g} s; the process group was killed"
    metrics: dict[str, Any] = {}
    if proc is not None and status == "passed":
        metrics, skip_reason = parse_metrics(stdout_path)
        if returncode != 0:
            status, error = "failed", f"{describe_exit(returncode)}: {_stderr_tail(stderr_path)}"
        elif skip_reason:
            status, error = "skipped", skip_reason
    for path in (stdout_path, stderr_path):  # always: token shapes are secret without a secret-named variable
        text = path.read_text(encoding="utf-8", errors="replace")
        scrubbed = redact.scrub_text(text, secrets)
        if scrubbed != text:
            path.write_text(scrubbed, encoding="utf-8")
    record = {
        "run_id": run.run_id,
        "point_id": point.id,
        "step_index": step.index,
        "step": step.name,
        "adapter": step.adapter,
        "status": status,
        "started_utc": iso(started),
        "finished_utc": iso(utc_now()),
        "duration_s": round(time.perf_counter() - begin, 6),
        "process_s": round(process_s, 6),
        "returncode": returncode,
        "argv": list(step.argv),
        "metrics": metrics,
        "error": error,
        "stdout_log": str(stdout_path.relative_to(run.path)),
        "stderr_log": str(stderr_path.relative_to(run.path)),
    }
    scrubbed_record: dict[str, Any] = redact.scrub(record, secrets)
    return scrubbed_record


def step_env(plan: SweepPlan, point: PlannedPoint, base: dict[str, str] | None = None) -> dict[str, str]:
    env = dict(os.environ if base is None else base)
    env.update(
        PREFLIGHT_SWEEP_RUN_ID=plan.run_id,
        PREFLIGHT_SWEEP_POINT=point.id,
        PREFLIGHT_SWEEP_SEED=str(point.seed),
        PYTHONHASHSEED=str(point.seed),
    )
    return env


def todo(run: RunDir, points: Sequence[PlannedPoint]) -> list[tuple[PlannedPoint, list[PlannedStep]]]:
    """Per point, the steps that have no finished record yet (what a run or ``--resume`` still has to do)."""
    out = []
    for point in points:
        finished = {i for i, r in read_steps(run.steps_log(point.id)).items() if r["status"] in STEP_FINAL}
        out.append((point, [s for s in point.steps if s.index not in finished]))
    return out


def execute(run: RunDir, plan: SweepPlan, points: Sequence[PlannedPoint], progress: Progress) -> str | None:
    """Run every unfinished step of ``points``; returns the signal name when interrupted, else None."""
    work = todo(run, points)
    progress.start(sum(len(steps) for _, steps in work), f"{plan.flow.name} ({run.run_id})")
    secrets = redact.secret_values()
    try:
        with Interrupted() as guard:
            for point, steps in work:
                if guard.stopped:
                    break
                if not steps:
                    continue
                env = step_env(plan, point)
                run.subrun(point.id).mkdir(parents=True, exist_ok=True)
                drop_partial_line(run.steps_log(point.id))
                with run.steps_log(point.id).open("a", encoding="utf-8") as log:
                    for step in steps:
                        if guard.stopped:
                            break
                        record = run_step(run, point, step, env, guard, secrets)
                        append_step(log, record, str(run.steps_log(point.id)))
                        progress.step_done(point.id, record)
            return guard.signal_name
    finally:
        progress.close()
