"""Start the local ranks of a collective check, forward the rendezvous port, collect their JSON lines, kill on deadline.

Each rank is a probe module (``distributed_rank`` for ``distributed.allreduce``, ``gang_rank`` for
``gang.allreduce``) under the diagnosed interpreter, started from a private probe copy
(``ProbeDirectory(entry=plan.entry)``) with the user's environment as it is. For ``distributed.allreduce``
rank 0 binds the TCPStore on 127.0.0.1 port 0 and reports the port; the others get it on stdin. Every rank
has its own process-group timeout; here the whole run has one deadline, after which every rank still running
is killed with its children (``tree.kill_tree``). A rank that announces a step with its timeout (a ``stage``
line with ``timeout_s``) and is still in it past ``STAGE_FACTOR`` x that + ``STAGE_GRACE_S`` is killed then
(its own timeout would have raised: it hung). Once one rank fails, the others get ``GRACE_S`` to report
their side (their own timeout usually fires first), then are killed.
"""

from __future__ import annotations

import json
import queue
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, ClassVar, Generic, Protocol, TypeVar

from preflight_action.process.lines import JsonLineProcess
from preflight_action.process.probe_client import ProbeDirectory, describe_exit

GRACE_S = 5.0
STDERR_LINES = 8
POLL_S = 0.1
STAGE_FACTOR = 1.1  # a step may outlive its announced timeout by 10% (its own error and report) ...
STAGE_GRACE_S = 1.0  # ... and this, before the orchestrator kills it as hung
# What a rank is doing once it has sent each line (before its first line: starting the interpreter).
NEXT_STAGE = {
    "hello": "import torch / rendezvous",
    "store": "init_process_group",
    "init": "correctness",
    "correctness": "agreement",
    "timing": "timing",
    "done": "done",
}


class Launch(Protocol):
    """What ``run_ranks`` needs of a plan: which probe module, how many local ranks, the deadline, each rank's argv."""

    @property
    def entry(self) -> str: ...

    @property
    def forwards_port(self) -> bool: ...

    @property
    def world_size(self) -> int: ...

    @property
    def deadline_s(self) -> float: ...

    def argv(self, python: str, boot: str, rank: int) -> list[str]: ...


PlanT = TypeVar("PlanT", bound=Launch)


@dataclass(frozen=True)
class RankPlan:
    entry: ClassVar[str] = "distributed_rank"
    forwards_port: ClassVar[bool] = True  # rank 0's store port goes to the others on stdin
    backend: str  # gloo | nccl (RCCL on ROCm)
    device: str  # cpu | cuda
    world_size: int
    sizes: tuple[int, ...]
    warmup: int
    iterations: int
    elements: int
    rank_timeout_s: float
    deadline_s: float

    def argv(self, python: str, boot: str, rank: int) -> list[str]:
        return [
            python,
            boot,
            *("--rank", str(rank), "--world-size", str(self.world_size), "--backend", self.backend, "--device", self.device),
            *("--timeout", f"{self.rank_timeout_s:g}", "--elements", str(self.elements)),
            *("--sizes", ",".join(str(s) for s in self.sizes), "--warmup", str(self.warmup), "--iters", str(self.iterations)),
        ]


@dataclass
class Rank:
    rank: int
    child: JsonLineProcess
    pid: int | None = None
    stage: str = "starting the interpreter"
    init: dict[str, Any] | None = None
    correctness: dict[str, Any] | None = None
    timings: list[dict[str, Any]] = field(default_factory=list)
    error: dict[str, Any] | None = None
    done: dict[str, Any] | None = None
    exit: str | None = None  # how the process ended, once it did
    killed: bool = False  # still running, without ``done``, when the run ended
    overran: str | None = None  # the announced step it was killed in, past that step's timeout
    stage_until: float | None = None  # monotonic: when the announced step's time is up
    lines: dict[str, dict[str, Any]] = field(default_factory=dict)  # the last line of each other kind (a plan's own)

    @property
    def failed(self) -> bool:
        return self.error is not None or self.killed or (self.exit is not None and self.done is None)

    def take(self, message: dict[str, Any]) -> None:
        kind = message.get("type")
        if kind == "hello":
            self.pid = message.get("pid")
        elif kind == "init":
            self.init = message
        elif kind == "correctness":
            self.correctness = message
        elif kind == "timing":
            self.timings.append(message)
        elif kind == "done":
            self.done = message
        elif kind == "error":
            self.error = message
            self.stage = str(message.get("stage") or self.stage)
            self.stage_until = None
            return
        elif kind == "stage":
            self.stage = str(message.get("stage") or self.stage)
            timeout = message.get("timeout_s")
            self.stage_until = time.monotonic() + float(timeout) * STAGE_FACTOR + STAGE_GRACE_S if timeout else None
            return
        else:
            self.lines[str(kind)] = message
        if kind == "done":
            self.stage_until = None
        self.stage = NEXT_STAGE.get(str(kind), self.stage)

    def record(self) -> dict[str, Any]:
        return {
            "rank": self.rank,
            "pid": self.pid,
            "device": (self.init or {}).get("device"),
            "stage": self.stage,
            "exit": self.exit,
            "killed": self.killed,
            "overran": self.overran,
            "init_ms": (self.init or {}).get("elapsed_ms"),
            "error": (self.error or {}).get("error"),
            "stderr_tail": self.child.stderr_tail(STDERR_LINES) if self.failed else [],
        }


@dataclass
class RankRun(Generic[PlanT]):
    plan: PlanT
    ranks: list[Rank]
    timed_out: bool = False  # the orchestrator's deadline passed with ranks still running
    port: int | None = None
    elapsed_s: float = 0.0


def run_ranks(python: str, plan: PlanT) -> RankRun[PlanT]:
    """Run every rank to the end, to its failure, or to the deadline; nothing is left running on return."""
    inbox: queue.Queue[tuple[int, str]] = queue.Queue()
    probe_dir = ProbeDirectory(entry=plan.entry)
    started = time.monotonic()
    run: RankRun[PlanT] = RankRun(plan, [])
    try:
        for index in range(plan.world_size):
            child = JsonLineProcess(plan.argv(python, str(probe_dir.boot), index), on_line=_forward(inbox, index))
            run.ranks.append(Rank(index, child))
        _collect(run, inbox, started + plan.deadline_s)
    finally:
        for rank in run.ranks:
            rank.child.close_stdin()
            if rank.exit is None and rank.child.alive:
                rank.killed = rank.done is None
                rank.child.kill()
                rank.child.exit_code(wait_s=2)
                rank.exit = "killed by the orchestrator while still running" if rank.killed else "stopped after its done line"
            elif rank.exit is None:
                rank.exit = describe_exit(rank.child.exit_code(wait_s=2))
        _drain(run, inbox)
        probe_dir.cleanup()
    run.elapsed_s = time.monotonic() - started
    return run


def _forward(inbox: queue.Queue[tuple[int, str]], index: int) -> Callable[[str], None]:
    """Each rank's stdout lines into the one inbox, tagged with the rank."""
    return lambda line: inbox.put((index, line))


def _drain(run: RankRun[Any], inbox: queue.Queue[tuple[int, str]]) -> None:
    while True:
        try:
            index, line = inbox.get_nowait()
        except queue.Empty:
            return
        _take(run, index, line)


def _take(run: RankRun[Any], index: int, line: str) -> None:
    try:
        message = json.loads(line)
    except json.JSONDecodeError:
        return  # JsonLineProcess keeps unparsable output in the rank's stderr tail
    if not isinstance(message, dict):
        return
    run.ranks[index].take(message)
    if message.get("type") == "store" and index == 0 and run.plan.forwards_port:
        run.port = int(message["port"])
        for other in run.ranks[1:]:
            other.child.send({"port": run.port})


def _collect(run: RankRun[Any], inbox: queue.Queue[tuple[int, str]], deadline: float) -> None:
    first_failure: float | None = None
    while True:
        now = time.monotonic()
        for rank in run.ranks:
            if rank.exit is None and not rank.child.alive:
                rank.exit = describe_exit(rank.child.exit_code(wait_s=2))  # joins its readers: its last lines are queued
                _drain(run, inbox)
            elif rank.exit is None and rank.stage_until is not None and now >= rank.stage_until:
                _kill_overran(rank)
        if first_failure is None and any(r.failed for r in run.ranks):
            first_failure = now
        if all(r.done is not None or r.exit is not None for r in run.ranks):
            return
        limit = deadline if first_failure is None else min(deadline, first_failure + GRACE_S)
        if now >= limit:
            run.timed_out = now >= deadline
            return
        try:
            index, line = inbox.get(timeout=min(POLL_S, limit - now))
        except queue.Empty:
            continue
        _take(run, index, line)


def _kill_overran(rank: Rank) -> None:
    """A rank still in an announced step past its timeout: its own timeout would have raised, so it hung."""
    rank.overran = rank.stage
    rank.killed = True
    rank.stage_until = None
    rank.child.kill()
    code = rank.child.exit_code(wait_s=2)
    rank.exit = f"killed by the orchestrator in {rank.stage}, past that step's timeout ({describe_exit(code)})"
