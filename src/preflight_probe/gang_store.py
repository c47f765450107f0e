"""A gang rank's view of the gang through the c10d store: serve or reach it, join, learn each rank's place, say who is stuck.

Part of ``gang_rank`` (stdlib + torch only, Python 3.8 syntax). Keys live under ``preflight-gang/<rdzv-id>/``:
``arrivals`` (node ranks by arrival), ``node/<r>`` (each member's record), ``token/<t>`` (a member's node rank
for its other local ranks), ``served_by``, ``gang_id``, ``progress/<rank>`` (the step each rank is in, or
``done`` / ``failed <step>``), ``left`` (ranks done with the store), and ``pg/`` (the process group's own).
"""

from __future__ import annotations

import argparse
import contextlib
import datetime
import json
import os
import socket
import sys
import tempfile
import time
import uuid
from collections.abc import Iterator
from typing import Any

from preflight_probe.distributed_rank import Channel

PREFIX = "preflight-gang/"
POLL_S = 0.1
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
                    f"the rendezvous store went away ({first_line(exc)}) with {len(self.members)} of {nnodes} members joined",
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
        if sys.platform != "win32":  # Windows has no fcntl: bind unlocked, as above
            try:
                import fcntl

                fcntl.flock(handle, fcntl.LOCK_EX)
            except (ImportError, OSError):
                pass  # a file system without locks: as above
        yield


def _listening(host: str, port: int) -> bool:
    try:
        with socket.create_connection((host, port), timeout=1.0):
            return True
    except OSError:
        return False


def first_line(exc: BaseException) -> str:
    return f"{type(exc).__name__}: {(str(exc).strip().splitlines() or [''])[0][:300]}"
