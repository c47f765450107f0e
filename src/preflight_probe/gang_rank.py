"""One rank of ``gang.allreduce``: join the gang at its c10d store, exact collectives, timed all-reduces, the link ring.

Started by ``preflight_action.preflight.gang``, one process per local device, under the diagnosed
interpreter from the private probe copy (stdlib + torch only, Python 3.8 syntax). Every member (node) of
the gang runs its own orchestrator; their ranks meet at the c10d TCPStore on ``--host``/``--port``
(torchrun's c10d rendezvous: a member on that host serves the store, the others connect to it).

Lines on the private stdout, each carrying ``rank`` (the local rank): ``hello``; ``stage`` before every
step that waits on the others, with the step's timeout (the orchestrator kills a rank that outlives it);
``joined`` each time the members seen change; ``member`` (this rank's place in the gang); ``init``;
``correctness``; ``timing`` per size; ``links``; ``done``; or ``error`` with the stage and, where another
member is to blame, who (``missing``: never joined; ``behind``: stopped answering in a step).
"""

from __future__ import annotations

import argparse
import datetime
import os
import statistics
import sys
import time
import traceback
from typing import Any

from preflight_probe import faults
from preflight_probe.distributed_rank import Channel, correctness, init_facts, timing
from preflight_probe.gang_store import DONE, Gang, GangError, first_line

CHECK_ID = "gang.allreduce"
SLOW_S = 0.25  # the injected "slow" fault: this long added to each of the member's link transfers


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="gang_rank")
    add = parser.add_argument
    add("--local-rank", type=int, required=True)
    add("--local-world", type=int, required=True)
    add("--host", required=True, help="the c10d store's host (--rdzv-endpoint)")
    add("--port", type=int, required=True)
    add("--nnodes", type=int, required=True)
    add("--node-rank", type=int, default=-1, help="-1: assigned in order of arrival")
    add("--rdzv-id", default="none", help="the gang's store keys live under it; 'none': the serving member makes a gang id up")
    add("--token", required=True, help="this member's own key, so its other local ranks learn its node rank")
    add("--may-host", type=int, default=0, help="1: try to serve the store (this host is the endpoint's)")
    add("--join-timeout", type=float, required=True, help="seconds from this process's start to wait for every member")
    add("--collective-timeout", type=float, required=True, help="each step's timeout (the process group's)")
    add("--backend", choices=("gloo", "nccl"), required=True)
    add("--device", choices=("cpu", "cuda"), required=True)
    add("--elements", type=int, default=4099)
    add("--sizes", default="")
    add("--warmup", type=int, default=2)
    add("--iters", type=int, default=5)
    add("--link-bytes", type=int, default=1 << 22)
    add("--link-iters", type=int, default=5)
    add("--node-id", required=True)
    add("--hostname", required=True)
    return parser.parse_args(argv)


def _sync(torch: Any, device: Any) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def _phase(sender: int, world: int) -> int:
    """Which of (up to) three phases link sender -> sender+1 runs in: no rank sends and receives in the same phase."""
    if world % 2 and sender == world - 1:
        return 2
    return sender % 2


def links(torch: Any, dist: Any, device: Any, gang: Gang, nbytes: int, warmup: int, iters: int, slow_s: float) -> list[float]:
    """Every rank's receive time from the rank before it (median of ``iters``), one link at a time, gathered to all ranks."""
    rank, world = gang.rank, gang.world
    count = max(1, nbytes // 4)
    send = torch.ones(count, dtype=torch.float32, device=device)
    recv = torch.empty(count, dtype=torch.float32, device=device)
    right, left = (rank + 1) % world, (rank - 1) % world
    line_up = torch.zeros(1, device=device)
    mine: list[float] = []
    for phase in range(3 if world % 2 else 2):
        sending, receiving = _phase(rank, world) == phase, _phase(left, world) == phase
        for index in range(warmup + iters):
            dist.all_reduce(line_up)  # every rank starts the transfer together
            _sync(torch, device)
            started = time.perf_counter()
            if slow_s and (sending or receiving):
                time.sleep(slow_s)
            out = dist.isend(send, right) if sending else None
            got = dist.irecv(recv, left) if receiving else None
            if got is not None:
                got.wait()
                _sync(torch, device)
                if index >= warmup:
                    mine.append(time.perf_counter() - started)
            if out is not None:
                out.wait()
            _sync(torch, device)
    times = torch.zeros(world, dtype=torch.float64, device=device)
    times[rank] = statistics.median(mine) if mine else 0.0
    dist.all_reduce(times)  # each rank filled its own slot: the sum is everyone's
    return [float(t) for t in times.cpu()]


def init_group(dist: Any, gang: Gang) -> None:
    """The process group over the gang's store, under its own prefix, with the collective timeout."""
    timeout = datetime.timedelta(seconds=gang.args.collective_timeout)
    store = dist.PrefixStore(gang.prefix + "pg/", gang.store)
    dist.init_process_group(gang.args.backend, store=store, rank=gang.rank, world_size=gang.world, timeout=timeout)


def measure(torch: Any, dist: Any, gang: Gang, args: argparse.Namespace, device: Any) -> int:
    """The collectives, each announced as a step: exact results first, then the timings and the link ring."""
    chan = gang.chan
    fault = faults.for_rank(CHECK_ID, gang.rank)
    gang.step("correctness")
    if fault in ("segfault", "hang", "exit"):
        faults.inject(fault, f"{CHECK_ID} rank {gang.rank}")
    result = correctness(torch, dist, device, gang.rank, gang.world, args.elements, fault == "wrong")
    chan.emit("correctness", **result)
    gang.step("agreement")
    wrong = torch.zeros(gang.world, dtype=torch.int64, device=device)
    wrong[gang.rank] = 0 if result["ok"] else 1
    dist.all_reduce(wrong)  # every rank learns who got wrong results, so none waits in a collective the others skipped
    wrong_ranks = [r for r, flag in enumerate(wrong.cpu().tolist()) if flag]
    chan.emit("agreement", wrong_ranks=wrong_ranks)
    if wrong_ranks:
        return len(wrong_ranks)
    for size in [int(s) for s in args.sizes.split(",") if s.strip()]:
        gang.step(f"timing {size} bytes")
        chan.emit("timing", **timing(torch, dist, device, gang.world, size, args.warmup, args.iters))
    if gang.world > 1:
        gang.step("links")
        slow_s = SLOW_S if fault == "slow" else 0.0
        times = links(torch, dist, device, gang, args.link_bytes, 1, args.link_iters, slow_s)
        chan.emit("links", bytes=max(4, args.link_bytes // 4 * 4), iterations=args.link_iters, statistic="median", recv_s=times)
    return 0


def main(argv: list[str] | None = None) -> int:
    started = time.monotonic()
    args = parse_args(argv)
    chan = Channel(args.local_rank)
    chan.emit("hello", pid=os.getpid(), python=sys.version.split()[0])
    gang = Gang(args, chan, started)
    stage = "import torch"
    stuck = 0
    try:
        import torch
        import torch.distributed as dist

        if not dist.is_available():
            raise RuntimeError(f"this torch ({torch.__version__}) was built without torch.distributed")
        stage = "rendezvous"
        chan.emit("stage", stage=stage, timeout_s=max(gang.deadline - time.monotonic(), 0.1))
        gang.connect(dist)
        if args.local_rank == 0:
            gang.claim()
        else:
            gang.learn_rank()
        gang.wait_for_members()
        joined_after = time.monotonic() - started
        gang.place()
        stage = "init_process_group"
        gang.step(stage)
        device = torch.device("cuda", args.local_rank) if args.device == "cuda" else torch.device("cpu")
        if device.type == "cuda":
            torch.cuda.set_device(device)
        init_started = time.perf_counter()
        init_group(dist, gang)
        chan.emit("init", **init_facts(torch, dist, device, args.backend, init_started), joined_after_s=round(joined_after, 3))
        stage = "collectives"
        failed = measure(torch, dist, gang, args, device)
        gang.store.set(f"{gang.prefix}progress/{gang.rank}", DONE)
        dist.destroy_process_group()
        gang.leave()
        chan.emit("done", ranks_failed=failed, hosting=gang.hosting)
        return 0
    except Exception as exc:
        fields: dict[str, Any] = dict(getattr(exc, "fields", {}))
        where = _current(gang, stage)
        if gang.world and "missing" not in fields:
            try:
                fields["behind"] = gang.behind(where)
                stuck = len(fields["behind"])
            except Exception as store_exc:  # the store went with the member that served it
                fields["store_error"] = first_line(store_exc)
        gang.leave(stuck)
        tail = "".join(traceback.format_exception(type(exc), exc, exc.__traceback__)[-3:]).strip()
        message = (str(exc).strip().splitlines() or [""])[0][:500]
        error = message if isinstance(exc, GangError) else f"{type(exc).__name__}: {message}"
        chan.emit("error", stage=where, error=error, traceback_tail=tail[-2000:], hosting=gang.hosting, **fields)
        sys.stderr.flush()
        os._exit(1)  # a broken communicator's teardown can hang; the error is already out


def _current(gang: Gang, stage: str) -> str:
    """The step the rank was in: the last it announced to the store, else the coarse stage."""
    if stage == "collectives" and gang.store is not None and gang.rank >= 0:
        try:
            return str(gang.store.get(f"{gang.prefix}progress/{gang.rank}").decode())
        except Exception:  # noqa: S110  (the store went away: the coarse stage still says where)
            pass
    return stage


if __name__ == "__main__":
    raise SystemExit(main())
