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
import contextlib
import datetime
import json
import os
import socket
import statistics
import sys
import tempfile
import time
import traceback
import uuid
from collections.abc import Iterator
from typing import Any

from preflight_probe import faults
from preflight_probe.channel import private_stdout
from preflight_probe.distributed_rank import correctness, library_version, timing

CHECK_ID = "gang.allreduce"
PREFIX = "preflight-gang/"
POLL_S = 0.1
SLOW_S = 0.25  # the injected "slow" fault: this long added to each of the member's link transfers
# After a step fails, a rank waits this fraction of the collective timeout for the others to fail it too (who has
# not is stuck), and the serving rank this one for them to leave the store: both within the 10% past the timeout
# the orchestrator allows a step (ranks.STAGE_FACTOR) before it kills the rank as hung.
SETTLE_FRACTION = 0.03
LINGER_FRACTION = 0.02
DONE = "done"
FAILED = "failed "  # + the step


class GangError(Exception):
    """A step failed; ``fields`` say who is to blame (``missing``, ``behind``, ``conflict``, ``silent``)."""

    def __init__(self, message: str, **fields: Any) -> None:
        super().__init__(message)
        self.fields = fields


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


class Gang:
    """This rank's view of the gang: the store, the members, its place, and where every rank has got to."""

    def __init__(self, args: argparse.Namespace, chan: Channel, started: float) -> None:
        self.args = args
        self.chan = chan
        self.deadline = started + args.join_timeout
        self.prefix = PREFIX + args.rdzv_id + "/"
        self.store: Any = None
        self.hosting = False
        self.node_rank = -1
        self.members: dict[int, dict[str, Any]] = {}
        self.rank = -1
        self.world = 0

    # ---------------------------------------------------------------- rendezvous

    def connect(self, dist: Any) -> None:
        """Serve the store when this host may and nobody else does yet, else connect to it before the join deadline."""
        args = self.args
        timeout = datetime.timedelta(seconds=args.collective_timeout)
        if args.may_host and args.local_rank == 0:
            with _bind_lock(args.port):
                try:
                    self.store = dist.TCPStore(args.host, args.port, None, True, timeout=timeout, wait_for_workers=False)
                    self.hosting = True
                    return
                except Exception:  # noqa: S110  (the port is taken, most often by the member that serves it: connect)
                    pass
        while not _listening(args.host, args.port):
            if time.monotonic() >= self.deadline:
                raise GangError(f"nothing answered at {args.host}:{args.port} within the {args.join_timeout:g} s join timeout", silent=True)
            time.sleep(POLL_S)
        self.store = dist.TCPStore(args.host, args.port, None, False, timeout=timeout)

    def claim(self) -> None:
        """Take this member's node rank (given, or the next in order of arrival) and publish what it is."""
        args, store = self.args, self.store
        if args.node_rank >= 0:
            rank = args.node_rank
        else:
            rank = int(store.add(self.prefix + "arrivals", 1)) - 1
            if rank >= args.nnodes:
                raise GangError(
                    f"this member arrived after all {args.nnodes} members of the gang had joined (--nnodes {args.nnodes})", conflict=True
                )
        record = {"node_rank": rank, "node_id": args.node_id, "hostname": args.hostname, "ranks": args.local_world, "token": args.token}
        text = json.dumps(record, sort_keys=True)
        if self.hosting:  # before the member's own key: whoever sees this member joined can name the server
            store.set(self.prefix + "served_by", str(rank))
        held = store.compare_set(f"{self.prefix}node/{rank}", "", text).decode()
        if held != text:
            other = json.loads(held)
            raise GangError(
                f"node rank {rank} is already taken by {other.get('node_id')} ({other.get('hostname')}): "
                "two members were given the same --node-rank",
                conflict=True,
            )
        store.set(self.prefix + "token/" + args.token, str(rank))
        self.node_rank = rank

    def learn_rank(self) -> None:
        """A local rank above 0 learns its member's node rank from the key local rank 0 set."""
        key = self.prefix + "token/" + self.args.token
        while not self.store.check([key]):
            if time.monotonic() >= self.deadline:
                raise GangError("this member's local rank 0 never joined the gang within the join timeout")
            time.sleep(POLL_S)
        self.node_rank = int(self.store.get(key))

    def wait_for_members(self) -> None:
        """Poll until every member has joined; past the join deadline, say who never did."""
        nnodes = self.args.nnodes
        keys = [f"{self.prefix}node/{r}" for r in range(nnodes)]
        while True:
            before = len(self.members)
            try:
                for rank, key in enumerate(keys):
                    if rank not in self.members and self.store.check([key]):
                        self.members[rank] = json.loads(self.store.get(key))
            except Exception as exc:  # the serving member gave up (its own deadline) or died: what was seen stands
                raise GangError(
                    f"the rendezvous store went away ({_first_line(exc)}) with {len(self.members)} of {nnodes} members joined",
                    missing=self._absent(),
                    joined=sorted(self.members),
                ) from None
            if len(self.members) != before and self.args.local_rank == 0:
                self.chan.emit("joined", members=[self._public(m) for _, m in sorted(self.members.items())], of=nnodes)
            if len(self.members) == nnodes:
                return
            if time.monotonic() >= self.deadline:
                missing = self._absent()
                raise GangError(
                    f"{len(missing)} of {nnodes} members never joined within the {self.args.join_timeout:g} s join timeout",
                    missing=missing,
                    joined=sorted(self.members),
                )
            time.sleep(POLL_S)

    def _absent(self) -> list[int]:
        return [r for r in range(self.args.nnodes) if r not in self.members]

    @staticmethod
    def _public(member: dict[str, Any]) -> dict[str, Any]:
        return {k: member[k] for k in ("node_rank", "node_id", "hostname", "ranks")}

    def place(self) -> None:
        """Global rank and world size: members in node-rank order, each with its own number of local ranks."""
        first = 0
        for rank in sorted(self.members):
            self.members[rank]["first_rank"] = first
            first += int(self.members[rank]["ranks"])
        self.world = first
        self.rank = int(self.members[self.node_rank]["first_rank"]) + self.args.local_rank
        candidate = self.args.rdzv_id if self.args.rdzv_id != "none" else uuid.uuid4().hex[:12]
        gang_id = self.store.compare_set(self.prefix + "gang_id", "", candidate).decode()
        served_by = int(self.store.get(self.prefix + "served_by")) if self.store.check([self.prefix + "served_by"]) else None
        self.chan.emit(
            "member",
            gang_id=gang_id,
            node_rank=self.node_rank,
            global_rank=self.rank,
            world_size=self.world,
            hosting=self.hosting,
            served_by=served_by,
            members=[dict(self._public(m), first_rank=m["first_rank"]) for _, m in sorted(self.members.items())],
        )

    # ---------------------------------------------------------------- progress and blame

    def step(self, stage: str) -> None:
        """Announce a step that waits on the others: to the orchestrator (its timeout) and to every rank (the store)."""
        self.chan.emit("stage", stage=stage, timeout_s=self.args.collective_timeout)
        if self.rank >= 0:
            self.store.set(f"{self.prefix}progress/{self.rank}", stage)

    def behind(self, stage: str) -> list[dict[str, Any]]:
        """After this rank's step failed: the ranks still inside a step (stuck or dead), once the others had time to fail too."""
        self.store.set(f"{self.prefix}progress/{self.rank}", FAILED + stage)
        keys = [f"{self.prefix}progress/{r}" for r in range(self.world)]
        settle_until = time.monotonic() + min(2.0, SETTLE_FRACTION * self.args.collective_timeout)
        while True:
            progress = [self.store.get(k).decode() if self.store.check([k]) else "" for k in keys]
            stuck = [r for r, p in enumerate(progress) if not (p == DONE or p.startswith(FAILED))]
            if not stuck or time.monotonic() >= settle_until:
                return [dict(self._owner(r), rank=r, stage=progress[r] or "before init_process_group") for r in stuck]
            time.sleep(POLL_S)

    def _owner(self, rank: int) -> dict[str, Any]:
        for node_rank, member in self.members.items():
            if member["first_rank"] <= rank < member["first_rank"] + member["ranks"]:
                return {"node_rank": node_rank, "node_id": member["node_id"]}
        return {"node_rank": None, "node_id": None}

    def leave(self, stuck: int = 0) -> None:
        """Count this rank out; the serving rank keeps the store up until the others have (stuck ones never will)."""
        if self.store is None or self.world == 0:
            return
        try:
            left = int(self.store.add(self.prefix + "left", 1))
            if not self.hosting:
                return
            until = time.monotonic() + min(1.0, LINGER_FRACTION * self.args.collective_timeout)
            while left < self.world - stuck and time.monotonic() < until:
                time.sleep(POLL_S)
                left = int(self.store.add(self.prefix + "left", 0))
        except Exception:  # noqa: S110  (the store is best effort on the way out: the line is already decided)
            pass


@contextlib.contextmanager
def _bind_lock(port: int) -> Iterator[None]:
    """Members on one host try to serve the store one at a time.

    torch's store server binds [::] and falls back to 0.0.0.0: two members binding in the same instant can end
    up listening on both, each serving a gang of its own. A lock per port on this host makes the second see
    the first's listener and connect to it instead.
    """
    path = os.path.join(tempfile.gettempdir(), f"preflight-gang-{port}.lock")
    try:
        handle = open(path, "a")  # noqa: SIM115  (held for the duration of the with block below)
    except OSError:
        yield  # no writable temp folder: bind unlocked (the race needs two members in one instant)
        return
    with handle:
        try:
            import fcntl

            fcntl.flock(handle, fcntl.LOCK_EX)
        except (ImportError, OSError):
            pass  # not POSIX, or a file system without locks: as above
        yield


def _listening(host: str, port: int) -> bool:
    try:
        with socket.create_connection((host, port), timeout=1.0):
            return True
    except OSError:
        return False


def _first_line(exc: BaseException) -> str:
    return f"{type(exc).__name__}: {(str(exc).strip().splitlines() or [''])[0][:300]}"


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
        chan.emit(
            "init",
            backend=dist.get_backend(),
            device=str(device),
            torch=torch.__version__,
            nccl_version=library_version(torch, args.backend),
            library="RCCL" if getattr(torch.version, "hip", None) and args.backend == "nccl" else args.backend.upper(),
            elapsed_ms=round((time.perf_counter() - init_started) * 1000.0, 1),
            joined_after_s=round(joined_after, 3),
        )
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
                fields["store_error"] = _first_line(store_exc)
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
