"""One rank of ``distributed.allreduce``: rendezvous, an exact all-reduce and broadcast, then timed all-reduces.

Started by ``preflight_action.preflight.distributed``, one process per local device,
under the diagnosed interpreter from the private probe copy (stdlib + torch only,
Python 3.8 syntax). Protocol: JSON lines on a private stdout, each carrying ``rank``:
``hello`` -> (rank 0) ``store`` with the rendezvous port -> ``init`` -> ``correctness``
-> ``timing`` per message size -> ``done``; or ``error`` naming the stage, then exit 1.
Ranks above 0 read one stdin line, ``{"port": P}``: rank 0 binds the TCPStore on
127.0.0.1 port 0 and the orchestrator forwards the port it got, so no port is guessed.

Every collective runs under the process group's own timeout (``--timeout``); the
orchestrator's deadline kills whatever outlives it.
"""

from __future__ import annotations

import argparse
import datetime
import json
import os
import sys
import time
import traceback
from typing import Any

from preflight_probe import faults
from preflight_probe.channel import private_stdout

CHECK_ID = "distributed.allreduce"
HOST = "127.0.0.1"
OFFSET = 1000003  # rank r contributes arange + (r + 1) * OFFSET: every element's sum is known exactly


class Channel:
    def __init__(self, rank: int) -> None:
        self.rank = rank
        self.out = private_stdout()

    def emit(self, kind: str, **fields: Any) -> None:
        line = {"type": kind, "rank": self.rank}
        line.update(fields)
        self.out.write(json.dumps(line) + "\n")
        self.out.flush()


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="distributed_rank")
    parser.add_argument("--rank", type=int, required=True)
    parser.add_argument("--world-size", type=int, required=True)
    parser.add_argument("--backend", choices=("gloo", "nccl"), required=True)
    parser.add_argument("--device", choices=("cpu", "cuda"), required=True)
    parser.add_argument("--timeout", type=float, required=True, help="process group timeout, seconds")
    parser.add_argument("--elements", type=int, default=4099, help="int64 elements in the exact checks")
    parser.add_argument("--sizes", default="", help="comma-separated all-reduce message sizes in bytes (empty: no timing)")
    parser.add_argument("--warmup", type=int, default=2)
    parser.add_argument("--iters", type=int, default=5)
    return parser.parse_args(argv)


def _store(dist: Any, args: argparse.Namespace, chan: Channel) -> Any:
    timeout = datetime.timedelta(seconds=args.timeout)
    if args.rank == 0:
        store = dist.TCPStore(HOST, 0, args.world_size, True, timeout=timeout, wait_for_workers=False)
        chan.emit("store", host=HOST, port=int(store.port))
        return store
    line = sys.stdin.readline()
    if not line:
        raise RuntimeError("stdin closed before the rendezvous port arrived")
    return dist.TCPStore(HOST, int(json.loads(line)["port"]), args.world_size, False, timeout=timeout)


def library_version(torch: Any, backend: str) -> str | None:
    if backend != "nccl":
        return None
    version = torch.cuda.nccl.version()
    if isinstance(version, int):  # torch < 1.9: 2708 means 2.7.8
        version = (version // 1000, version % 1000 // 100, version % 100)
    return ".".join(str(part) for part in version)


def init_facts(torch: Any, dist: Any, device: Any, backend: str, since: float) -> dict[str, Any]:
    """The ``init`` line's fields once the process group is up: backend, device, torch, the collective library
    (NCCL, or RCCL on ROCm) and its version, and the milliseconds since ``since``."""
    return {
        "backend": dist.get_backend(),
        "device": str(device),
        "torch": torch.__version__,
        "nccl_version": library_version(torch, backend),
        "library": "RCCL" if getattr(torch.version, "hip", None) and backend == "nccl" else backend.upper(),
        "elapsed_ms": round((time.perf_counter() - since) * 1000.0, 1),
    }


def _sync(torch: Any, device: Any) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def _mismatch(torch: Any, got: Any, expected: Any) -> str | None:
    """'element 17 is 35, expected 34' for the first differing element, None when equal."""
    got, expected = got.cpu(), expected.cpu()
    if torch.equal(got, expected):
        return None
    index = int((got != expected).nonzero()[0][0])
    return f"element {index} is {int(got[index])}, expected {int(expected[index])}"


def correctness(torch: Any, dist: Any, device: Any, rank: int, world: int, elements: int, corrupt: bool) -> dict[str, Any]:
    """An all-reduce and a broadcast from every root whose exact integer results are known."""
    base = torch.arange(elements, dtype=torch.int64)
    x = (base + (rank + 1) * OFFSET).to(device)
    dist.all_reduce(x)
    _sync(torch, device)
    if corrupt:
        x[elements // 2] += 1  # injected: this rank's result is wrong, as a bad link or HBM would leave it
    expected = base * world + OFFSET * world * (world + 1) // 2
    problems = []
    wrong = _mismatch(torch, x, expected)
    if wrong:
        problems.append("all_reduce(sum): " + wrong)
    for root in range(world):
        want = base * (root + 7) + root
        y = want.to(device) if rank == root else torch.full((elements,), -1, dtype=torch.int64, device=device)
        dist.broadcast(y, src=root)
        _sync(torch, device)
        wrong = _mismatch(torch, y, want)
        if wrong:
            problems.append(f"broadcast from rank {root}: {wrong}")
    return {
        "ok": not problems,
        "allreduce_ok": not any(p.startswith("all_reduce") for p in problems),
        "broadcast_ok": not any(p.startswith("broadcast") for p in problems),
        "problems": problems,
        "dtype": "int64",
        "elements": elements,
        "broadcast_roots": world,
    }


def timing(torch: Any, dist: Any, device: Any, world: int, size: int, warmup: int, iters: int) -> dict[str, Any]:
    """Mean all-reduce time over ``iters`` (the slowest rank's), as nccl-tests reports it: algbw and busbw."""
    count = max(1, size // 4)
    buf = torch.zeros(count, dtype=torch.float32, device=device)  # zeros stay finite however often they are summed
    for _ in range(warmup):
        dist.all_reduce(buf)
    _sync(torch, device)
    dist.all_reduce(torch.zeros(1, device=device))  # line the ranks up before the clock starts
    _sync(torch, device)
    started = time.perf_counter()
    for _ in range(iters):
        dist.all_reduce(buf)
    _sync(torch, device)
    elapsed = torch.tensor([(time.perf_counter() - started) / iters], dtype=torch.float64, device=device)
    dist.all_reduce(elapsed, op=dist.ReduceOp.MAX)
    seconds = float(elapsed.item())
    algbw = count * 4 / seconds / 1e9
    return {
        "size_bytes": count * 4,
        "dtype": "float32",
        "iterations": iters,
        "time_us": round(seconds * 1e6, 3),
        "algbw_gbs": round(algbw, 4),
        "busbw_gbs": round(algbw * 2 * (world - 1) / world, 4),
    }


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    chan = Channel(args.rank)
    chan.emit("hello", pid=os.getpid(), python=sys.version.split()[0])
    stage = "import torch"
    try:
        started = time.perf_counter()
        import torch
        import torch.distributed as dist

        if not dist.is_available():
            raise RuntimeError(f"this torch ({torch.__version__}) was built without torch.distributed")
        stage = "rendezvous"
        store = _store(dist, args, chan)
        stage = "init_process_group"
        device = torch.device("cuda", args.rank) if args.device == "cuda" else torch.device("cpu")
        if device.type == "cuda":
            torch.cuda.set_device(device)
        timeout = datetime.timedelta(seconds=args.timeout)
        dist.init_process_group(args.backend, store=store, rank=args.rank, world_size=args.world_size, timeout=timeout)
        chan.emit("init", **init_facts(torch, dist, device, args.backend, started))
        stage = "correctness"
        fault = faults.for_rank(CHECK_ID, args.rank)
        if fault in ("segfault", "hang", "exit"):
            faults.inject(fault, f"{CHECK_ID} rank {args.rank}")
        result = correctness(torch, dist, device, args.rank, args.world_size, args.elements, fault == "wrong")
        chan.emit("correctness", **result)
        stage = "agreement"
        bad = torch.tensor([0 if result["ok"] else 1], dtype=torch.int64, device=device)
        dist.all_reduce(bad)  # every rank learns whether to go on, so none waits in a collective the others skipped
        failed = int(bad.item())
        sizes = [int(s) for s in args.sizes.split(",") if s.strip()] if not failed else []
        for size in sizes:
            stage = f"timing {size} bytes"
            chan.emit("timing", **timing(torch, dist, device, args.world_size, size, args.warmup, args.iters))
        stage = "destroy_process_group"
        dist.destroy_process_group()
        chan.emit("done", ranks_failed=failed, timed=bool(sizes))
        return 0
    except Exception as exc:
        message = (str(exc).strip().splitlines() or [""])[0][:500]
        tail = "".join(traceback.format_exception(type(exc), exc, exc.__traceback__)[-3:]).strip()
        chan.emit("error", stage=stage, error=f"{type(exc).__name__}: {message}", traceback_tail=tail[-2000:])
        sys.stderr.flush()
        os._exit(1)  # a broken communicator's teardown can hang; the error is already out


if __name__ == "__main__":
    raise SystemExit(main())
