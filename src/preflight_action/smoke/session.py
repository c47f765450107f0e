"""One smoke run: worker, memory guard, mode fallback, timeout guard, record, retention."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from preflight_action import __version__, ci
from preflight_action.errors import UsageError
from preflight_action.host import host_identity, node_id, utc_now
from preflight_action.process.interrupts import Interrupted, exit_code
from preflight_action.smoke import guard, modes, record, retention
from preflight_action.smoke.client import Deadline, SmokeWorker, WorkerGone
from preflight_probe import smoke_models as models

Say = Callable[[str], None]


@dataclass(frozen=True)
class SmokeOptions:
    mode: str = "real"
    device: str = "auto"
    dtypes: tuple[str, ...] = ("float32", "float16", "bfloat16")
    models: tuple[str, ...] = models.MODELS
    batch_size: int | None = None
    image_size: int | None = None
    iterations: int = 3
    seed: int = 0
    profile: str = modes.DEFAULT_PROFILE
    python: str = ""
    python_source: str = "sys.executable"
    timeout_s: float = 600.0
    knobs: guard.GuardKnobs = field(default_factory=guard.GuardKnobs)
    output_root: Path = Path("outputs/smoke")
    keep_recent: int = 6
    retention_secs: float = 0.0
    keep: bool = False


@dataclass
class _State:
    """What the run has learned so far; turned into the record at the end, whatever happened."""

    mode: str
    cases: list[dict[str, Any]] = field(default_factory=list)
    hello: dict[str, Any] = field(default_factory=dict)
    inspect: dict[str, Any] = field(default_factory=dict)
    verdict: guard.GuardVerdict | None = None
    sim: modes.SimulatedTarget | None = None
    fallback_reason: str | None = None
    notes: list[str] = field(default_factory=list)
    timed_out: bool = False
    aborted: bool = False
    refused: str | None = None  # a size the device could never hold (exit 2)
    guard: Interrupted = field(default_factory=Interrupted)


def run(options: SmokeOptions, say: Say) -> tuple[dict[str, Any], Path]:
    """Run the smoke and write its record; returns (record, run directory)."""
    if options.mode == "real":  # an absurd size is refused before anything (the run directory included) exists
        guard.refuse_absurd(list(options.models), options.batch_size, options.image_size, guard.host_total_bytes(), "this machine's RAM")
    started, t0 = utc_now(), time.perf_counter()
    run_dir = retention.new_run_dir(options.output_root)
    if options.keep:
        retention.pin(run_dir)
    say(f"smoke: {options.mode} run in {run_dir}")
    deadline = Deadline(options.timeout_s)
    state = _State(mode=options.mode)
    sim = modes.target(options.profile) if options.mode == "simulated" else None
    # Ctrl-C / SIGTERM: the worker is stopped, the cases not finished are recorded as not run, exit 130.
    with state.guard:
        try:
            _execute(options, state, deadline, run_dir, say, sim)
        finally:
            _mark_interrupted(options, state)
            document = _assemble(options, state, run_dir, started, t0)
            record.write(document, run_dir)
            pruned = retention.prune(options.output_root, options.keep_recent, options.retention_secs, protect=run_dir)
            if pruned.removed:
                say(f"smoke: pruned {len(pruned.removed)} old run(s): {', '.join(pruned.removed)}")
    return document, run_dir


def _mark_interrupted(options: SmokeOptions, state: _State) -> None:
    """After a signal, every case that did not finish is not run, saying why (the one in flight included)."""
    if not state.guard.stopped:
        return
    done = {(c["model"], c["dtype"]) for c in state.cases if c.get("reason") != state.guard.reason}
    kept = [c for c in state.cases if (c["model"], c["dtype"]) in done]
    missing = [(m, d) for m in options.models for d in options.dtypes if (m, d) not in done]
    state.cases = kept + [{"model": m, "dtype": d, "outcome": "not_run", "reason": state.guard.reason} for m, d in missing]


def _execute(options: SmokeOptions, state: _State, deadline: Deadline, run_dir: Path, say: Say, sim: modes.SimulatedTarget | None) -> None:
    spec = {
        "op": "stub" if options.mode == "stub" else "run",
        # A simulated run builds on the meta device and never touches a real accelerator.
        "device": "cpu" if options.mode == "simulated" else options.device,
        "models": list(options.models),
        "dtypes": list(options.dtypes),
        "batch_size": options.batch_size,
        "image_size": options.image_size,
        "iterations": options.iterations,
        "seed": options.seed,
    }
    worker = SmokeWorker(options.python, spec, run_dir / "worker.log")
    state.guard.current = worker.process
    in_flight: tuple[str, str] | None = None
    try:
        state.hello = worker.next(deadline)
        if state.hello.get("error"):
            _no_torch(options, state, say, sim)
            return
        state.inspect = worker.next(deadline)
        params = state.inspect.get("params") or {}
        if state.inspect.get("device") is None and options.mode == "real":
            _all(options, state, "skipped", f"no usable device: {state.inspect.get('why')}")
            say(f"smoke: skipped: {state.inspect.get('why')}")
            return
        if options.mode == "simulated":
            assert sim is not None
            _simulate(options, state, params, sim, say)
            return
        if not _guard_allows(options, state, params, say):
            return
        worker.send("run")
        while True:
            message = worker.next(deadline)
            if message["type"] == "start":
                in_flight = (message["model"], message["dtype"])
            elif message["type"] == "case":
                in_flight = None
                case = {k: v for k, v in message.items() if k != "type"}
                case["params"] = params.get(case["model"])
                state.cases.append(case)
                say(progress_line(case))
            elif message["type"] == "done":
                break
    except WorkerGone as gone:
        if not state.guard.stopped:  # an interruption is not a crash: _mark_interrupted records it
            _worker_gone(options, state, gone, in_flight, say)
    finally:
        worker.close()


def _no_torch(options: SmokeOptions, state: _State, say: Say, sim: modes.SimulatedTarget | None) -> None:
    reason = str(state.hello["error"])
    if options.mode == "simulated" and sim is not None:
        state.notes.append(f"parameter counts from the built-in table: {reason}")
        _simulate(options, state, {m: models.PARAM_COUNTS[m] for m in options.models}, sim, say)
        return
    _all(options, state, "skipped", f"environment blocks the real run: {reason}")
    say(f"smoke: skipped: {reason}")


def _guard_allows(options: SmokeOptions, state: _State, params: dict[str, int], say: Say) -> bool:
    info = state.inspect
    if info.get("device_free_bytes") is not None:
        available, source = int(info["device_free_bytes"]), f"{info.get('device_name') or info['device']} free memory"
    elif info.get("device") in ("cpu", "mps", None):
        available, source = guard.host_available_bytes(), "host RAM available"
    else:
        available, source = None, f"{info['device']} free memory is not reported"
    device = info.get("device")
    batch, image = guard.sizes(device, options.batch_size, options.image_size)
    total = info.get("device_total_bytes") or (guard.host_total_bytes() if device in ("cpu", "mps") else None)
    if total is not None and options.mode == "real":
        try:
            guard.refuse_absurd(list(options.models), options.batch_size, options.image_size, int(total), f"the {device} device", device)
        except UsageError as error:
            state.refused = str(error)
            _all(options, state, "not_run", f"refused: {error}")
            raise
    on_host = device in ("cpu", "mps", None)
    verdict = guard.check(params, list(options.dtypes), available, source, options.knobs, batch, image, on_host)
    state.verdict = verdict
    say(f"smoke: {verdict.describe()}")
    if verdict.proceed or options.mode == "stub":
        return True
    if options.knobs.require_real:
        state.aborted = True
        _all(options, state, "not_run", f"aborted by --require-real: {verdict.describe()}")
        say("smoke: aborted: --require-real forbids falling back to a simulated run")
        return False
    try:
        sim = modes.target(options.profile)
    except UsageError as error:
        _all(options, state, "skipped", f"{verdict.describe()}; no simulated fallback: {error}")
        say(f"smoke: skipped: no simulated fallback ({error})")
        return False
    state.fallback_reason = verdict.describe()
    say(f"smoke: falling back to simulated mode (profile {options.profile})")
    _simulate(options, state, params, sim, say)
    return False


def _simulate(options: SmokeOptions, state: _State, params: dict[str, int], sim: modes.SimulatedTarget, say: Say) -> None:
    state.mode, state.sim = "simulated", sim
    state.cases = modes.simulate_cases(sim, params, list(options.dtypes), options.knobs)
    for case in state.cases:
        say(progress_line(case))


def _worker_gone(options: SmokeOptions, state: _State, gone: WorkerGone, in_flight: tuple[str, str] | None, say: Say) -> None:
    state.timed_out = gone.timed_out
    say(f"smoke: {gone.reason}")
    done = {(c["model"], c["dtype"]) for c in state.cases}
    for model in options.models:
        for dtype in options.dtypes:
            if (model, dtype) in done:
                continue
            if (model, dtype) == in_flight and not gone.timed_out:
                tail = " | ".join(gone.stderr[-3:])
                state.cases.append(
                    {
                        "model": model,
                        "dtype": dtype,
                        "outcome": "fail",
                        "reason": f"{gone.reason} during this case{': ' + tail if tail else ''}",
                    }
                )
            elif (model, dtype) == in_flight:
                state.cases.append({"model": model, "dtype": dtype, "outcome": "not_run", "reason": f"in flight when {gone.reason}"})
            else:
                state.cases.append({"model": model, "dtype": dtype, "outcome": "not_run", "reason": gone.reason})
    if not gone.timed_out and in_flight is None and not done:
        state.notes.append(f"the worker ended before any case ran: {' | '.join(gone.stderr[-3:])}")
        for case in state.cases:
            case["outcome"] = "fail"


def _all(options: SmokeOptions, state: _State, outcome: str, reason: str) -> None:
    state.cases = [{"model": m, "dtype": d, "outcome": outcome, "reason": reason} for m in options.models for d in options.dtypes]


def progress_line(case: dict[str, Any]) -> str:
    head = f"smoke: {case['model']:<11} {case['dtype']:<8} {case['outcome']}"
    forward, memory = case.get("forward"), case.get("memory") or {}
    if forward:
        peak = memory.get("peak_bytes")
        mem = f", peak {peak / 2**20:.1f} MiB ({memory['kind']})" if peak is not None else ""
        rel = forward["max_rel_error"]
        err = f"rel err {rel:.2g}" if rel is not None else "non-finite"
        return f"{head} ({forward['samples_per_s'] or 0:.1f} samples/s forward, train step {case['train']['step_ms']:.0f} ms, {err}{mem})"
    return f"{head}: {case.get('reason')}"


def _backend(name: str) -> str:
    """A run that never resolved a device (auto without torch, stub) has no backend to report."""
    return "unknown" if name == "auto" else name


def _counts(cases: list[dict[str, Any]]) -> dict[str, int]:
    return {name: sum(1 for c in cases if c["outcome"] == name) for name in ("pass", "fail", "skipped", "simulated", "not_run")}


def _assemble(options: SmokeOptions, state: _State, run_dir: Path, started: str, t0: float) -> dict[str, Any]:
    outcome = record.run_outcome(state.mode, state.cases, state.timed_out, state.aborted)
    code = record.exit_code(outcome, options.knobs.require_real)
    if state.guard.signal_name:
        outcome, code = "interrupted", exit_code(state.guard.signal_name)
    elif state.refused:
        outcome, code = "aborted", 2
    info, sim = state.inspect, state.sim
    if sim is not None:
        device = {
            "requested": options.device,
            "resolved": None,
            "backend": sim.backend,
            "name": sim.device_name,
            "why": f"simulated profile {sim.profile}",
        }
    else:
        device = {
            "requested": options.device,
            "resolved": info.get("device"),
            "backend": _backend(info.get("backend") or options.device),
            "name": info.get("device_name"),
            "why": info.get("why"),
        }
    return {
        "schema_version": record.SCHEMA_VERSION,
        "kind": "smoke_run",
        "tool": {"name": "preflight-action", "version": __version__},
        "run_id": retention.run_id(run_dir),
        "requested_mode": options.mode,
        "mode": state.mode,
        "simulated": state.mode == "simulated",
        "fallback_reason": state.fallback_reason,
        "outcome": outcome,
        "exit_code": code,
        "started_at": started,
        "finished_at": utc_now(),
        "duration_ms": round((time.perf_counter() - t0) * 1000.0, 3),
        "timed_out": state.timed_out,
        "node_id": node_id(),
        "host": host_identity(),
        "ci": ci.ci_context(),
        "interpreter": {
            "path": options.python,
            "source": options.python_source,
            "python": state.hello.get("python"),
            "torch": state.hello.get("torch"),
        },
        "device": device,
        "profile": {"name": sim.profile, "backend": sim.backend, "facts": sim.facts} if sim else None,
        "options": {
            "models": list(options.models),
            "dtypes": list(options.dtypes),
            "batch_size": options.batch_size,
            "image_size": options.image_size,
            "iterations": options.iterations,
            "seed": options.seed,
            "timeout_s": options.timeout_s,
            "require_real": options.knobs.require_real,
            "allow_high_mem": options.knobs.allow_high_mem,
            "keep_recent": options.keep_recent,
            "retention_secs": options.retention_secs,
        },
        "guard": state.verdict.to_dict() if state.verdict else None,
        "cases": state.cases,
        "counts": _counts(state.cases),
        "notes": state.notes,
        "pinned": retention.is_pinned(run_dir),
        **({"interrupted_by": state.guard.signal_name} if state.guard.signal_name else {}),
    }
