"""``--gate slurm``: drain this node with a ``preflight:`` reason on a blocking finding; resume only what we drained.

Like LBNL NHC (which marks its reasons ``NHC:``), the gate resumes a node only
when the drain reason carries our prefix, and never overwrites a reason someone
else set. Run it as ``HealthCheckProgram`` or from a ``Prolog``; slurmd runs
both as root, which ``scontrol update`` needs, and with no PATH: scontrol and
sinfo are found in ``$SLURM_BIN_DIR``, else on PATH (else /bin:/usr/bin).

Before draining, a circuit breaker counts the nodes of this node's partitions
already drained by preflight; at the limit (``--max-drained``, policy/gates.yaml)
the node is not drained, the gate says so and exits 4 (``EXIT_BREAKER_OPEN``):
one bad image or threshold must not drain a fleet.
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
from collections.abc import Callable
from dataclasses import dataclass

from preflight_action.gates.policy import DrainLimit
from preflight_action.gates.verdict import BLOCKING, COULD_NOT_RUN, PASS, GateVerdict, first_line
from preflight_action.vocab import EXIT_BREAKER_OPEN

PREFIX = "preflight:"
# Slurm stores a node reason as a plain string with no documented cap, but `sinfo -R`
# shows only its first 20 characters: ours starts "preflight: <check>" and stays short.
REASON_LIMIT = 100
TIMEOUT_S = 30.0
DRAINED_STATES = frozenset({"DRAIN", "DRAINED", "DRAINING", "DOWN", "FAIL"})


class SlurmUnavailable(RuntimeError):
    """scontrol / sinfo cannot be found or answered with an error."""


def node_name(environ: dict[str, str] | None = None) -> str:
    """SLURMD_NODENAME (set by slurmd for prologs and health checks), else the short hostname."""
    env = os.environ if environ is None else environ
    return env.get("SLURMD_NODENAME") or socket.gethostname().split(".")[0]


def command(name: str, environ: dict[str, str] | None = None) -> str:
    """The absolute path of Slurm's ``name``: in $SLURM_BIN_DIR when set, else on PATH (slurmd gives none: /bin:/usr/bin)."""
    env = os.environ if environ is None else environ
    bin_dir = env.get("SLURM_BIN_DIR")
    if bin_dir:
        candidate = os.path.join(bin_dir, name)
        if os.path.isfile(candidate) and os.access(candidate, os.X_OK):
            return candidate
        raise SlurmUnavailable(f"{name} is not an executable in $SLURM_BIN_DIR ({bin_dir})")
    search = env.get("PATH") or os.defpath
    found = shutil.which(name, path=search)
    if found:
        return found
    where = f"PATH ({search})" if env.get("PATH") else f"the default PATH {os.defpath} (slurmd gives its prologs and health checks none)"
    raise SlurmUnavailable(
        f"{name} not found on {where}: set SLURM_BIN_DIR to the directory holding scontrol and sinfo "
        "(in /etc/default/preflight-gate for the deploy/slurm scripts)"
    )


def drain_reason(verdict: GateVerdict) -> str:
    worst = verdict.worst
    assert worst is not None, "only a blocking verdict drains"
    head = f"{PREFIX} {worst.check_id} {worst.band}"
    detail = first_line(worst.error)
    reason = f"{head}: {detail}" if detail else head
    return reason if len(reason) <= REASON_LIMIT else reason[: REASON_LIMIT - 1] + "…"


def _flags(state: str) -> frozenset[str]:
    return frozenset(part.rstrip("*~#!%$@^-") for part in state.upper().split("+") if part)


@dataclass(frozen=True)
class NodeState:
    flags: frozenset[str]  # IDLE, ALLOCATED, DRAIN, DOWN, ...
    reason: str

    @property
    def drained(self) -> bool:
        return bool(self.flags & DRAINED_STATES)

    @property
    def ours(self) -> bool:
        return self.reason.startswith(PREFIX)


@dataclass(frozen=True)
class Breaker:
    """The drain circuit breaker as one gate run found it."""

    open: bool
    drained: tuple[str, ...]  # the other nodes of this node's partitions drained with a preflight: reason
    limit: int  # drained nodes at which no more are drained
    nodes: int  # nodes in this node's partitions
    partitions: tuple[str, ...]
    setting: str  # the --max-drained / policy value the limit came from

    def words(self) -> str:
        shown = ", ".join(self.drained[:5]) + (", ..." if len(self.drained) > 5 else "")
        where = f"partition{'s' if len(self.partitions) != 1 else ''} {','.join(self.partitions) or '(all)'} ({self.nodes} nodes)"
        drained = f"{len(self.drained)} node{'s' if len(self.drained) != 1 else ''} of {where} already drained by preflight"
        return f"{drained}{f' ({shown})' if shown else ''}, limit {self.limit} (--max-drained {self.setting})"


def _run(argv: list[str]) -> str:
    try:
        done = subprocess.run(argv, capture_output=True, text=True, timeout=TIMEOUT_S, check=False)
    except (OSError, subprocess.TimeoutExpired) as exc:
        raise SlurmUnavailable(f"{argv[0]}: {exc}") from None
    if done.returncode != 0:
        raise SlurmUnavailable(f"{' '.join(argv[:3])} exited {done.returncode}: {first_line(done.stderr or done.stdout)}")
    return done.stdout


def read_state(node: str) -> NodeState:
    shown = _run([command("scontrol"), "-o", "show", "node", node])
    state = next((token[len("State=") :] for token in shown.split() if token.startswith("State=")), "")
    reason = _run([command("sinfo"), "-h", "-N", "-n", node, "-o", "%E"]).splitlines()
    text = reason[0].strip() if reason else ""
    return NodeState(_flags(state), "" if text == "none" else text)


def breaker(node: str, limit: DrainLimit) -> Breaker:
    """Count the nodes sharing a partition with ``node`` that preflight drained (``sinfo``: one line per node and partition)."""
    listing = _run([command("sinfo"), "-h", "-N", "-o", "%N|%P|%T|%E"])
    rows = []
    for line in listing.splitlines():
        parts = line.split("|", 3)
        if len(parts) == 4:
            rows.append((parts[0].strip(), parts[1].strip().rstrip("*"), parts[2].strip(), parts[3].strip()))
    partitions = tuple(sorted({p for n, p, _, _ in rows if n == node}))
    scope = [row for row in rows if not partitions or row[1] in partitions]
    nodes = {n for n, _, _, _ in scope}
    drained = sorted({n for n, _, state, reason in scope if n != node and reason.startswith(PREFIX) and _flags(state) & DRAINED_STATES})
    allowed = limit.nodes(len(nodes))
    return Breaker(len(drained) >= allowed, tuple(drained), allowed, len(nodes), partitions, str(limit))


@dataclass(frozen=True)
class Outcome:
    """What the Slurm gate did: its exit code and, when it came to draining, the breaker it found."""

    code: int
    breaker: Breaker | None = None


def apply(verdict: GateVerdict, node: str, limit: DrainLimit) -> Outcome:
    """Drain or resume ``node`` as the verdict says; say what was done on stderr (one line); the gate's exit code."""

    def say(message: str) -> None:
        print(f"preflight gate (slurm, node {node}): {message}", file=sys.stderr, flush=True)

    if verdict.code == COULD_NOT_RUN:
        say("not judged, so the node is left exactly as it is")
        return Outcome(COULD_NOT_RUN)
    try:
        state = read_state(node)
    except SlurmUnavailable as exc:
        say(f"{verdict.word}, but the node's state cannot be read ({exc}): nothing changed")
        return Outcome(verdict.code)
    if verdict.code == BLOCKING:
        return _drain(verdict, node, state, limit, say)
    if state.drained and state.ours:
        try:
            _run([command("scontrol"), "update", f"NodeName={node}", "State=RESUME"])
        except SlurmUnavailable as exc:
            say(f"healthy; resuming failed: {exc}")
            return Outcome(PASS)
        say(f"healthy: resumed (it was drained by preflight: {state.reason!r})")
    elif state.drained:
        say(f"healthy, but drained by someone else ({state.reason!r}): left drained")
    else:
        say("healthy: nothing to change")
    return Outcome(PASS)


def _drain(verdict: GateVerdict, node: str, state: NodeState, limit: DrainLimit, tell: Callable[[str], None]) -> Outcome:
    if state.drained and not state.ours:
        tell(f"blocking finding, but the node is already {'+'.join(sorted(state.flags))} by someone else ({state.reason!r}): left as is")
        return Outcome(BLOCKING)
    reason = drain_reason(verdict)
    if state.drained:
        tell(f"blocking finding; already drained by preflight ({state.reason!r})")
        return Outcome(BLOCKING)
    try:
        found = breaker(node, limit)
    except SlurmUnavailable as exc:  # without a count the breaker cannot vouch for the fleet: do not drain
        tell(f"blocking finding ({reason}), but the drained nodes cannot be counted ({exc}): NOT drained")
        return Outcome(EXIT_BREAKER_OPEN)
    if found.open:
        tell(
            f"drain circuit breaker OPEN: {found.words()}; this node was NOT drained despite a blocking finding ({reason}). "
            "Many nodes failing at once points at a fleet-wide cause (an image, a driver, a threshold): fix it, or raise --max-drained"
        )
        return Outcome(EXIT_BREAKER_OPEN, found)
    try:
        _run([command("scontrol"), "update", f"NodeName={node}", "State=DRAIN", f"Reason={reason}"])
    except SlurmUnavailable as exc:
        tell(f"blocking finding; draining failed: {exc}")
        return Outcome(BLOCKING, found)
    tell(f"drained: {reason} (breaker closed: {found.words()})")
    return Outcome(BLOCKING, found)
