"""``--gate slurm``: drain this node with a ``preflight:`` reason on a blocking finding; resume only what we drained.

Like LBNL NHC (which marks its reasons ``NHC:``), the gate resumes a node only
when the drain reason carries our prefix, and never overwrites a reason someone
else set. Run it as ``HealthCheckProgram`` or from a ``Prolog``; slurmd runs
both as root, which ``scontrol update`` needs.
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
from dataclasses import dataclass

from preflight_action.gates.verdict import BLOCKING, COULD_NOT_RUN, PASS, GateVerdict, first_line

PREFIX = "preflight:"
# Slurm stores a node reason as a plain string with no documented cap, but `sinfo -R`
# shows only its first 20 characters: ours starts "preflight: <check>" and stays short.
REASON_LIMIT = 100
TIMEOUT_S = 30.0


def node_name(environ: dict[str, str] | None = None) -> str:
    """SLURMD_NODENAME (set by slurmd for prologs and health checks), else the short hostname."""
    env = os.environ if environ is None else environ
    return env.get("SLURMD_NODENAME") or socket.gethostname().split(".")[0]


def drain_reason(verdict: GateVerdict) -> str:
    worst = verdict.worst
    assert worst is not None, "only a blocking verdict drains"
    head = f"{PREFIX} {worst.check_id} {worst.band}"
    detail = first_line(worst.error)
    reason = f"{head}: {detail}" if detail else head
    return reason if len(reason) <= REASON_LIMIT else reason[: REASON_LIMIT - 1] + "…"


@dataclass(frozen=True)
class NodeState:
    flags: frozenset[str]  # IDLE, ALLOCATED, DRAIN, DOWN, ...
    reason: str

    @property
    def drained(self) -> bool:
        return bool(self.flags & {"DRAIN", "DRAINED", "DRAINING", "DOWN", "FAIL"})

    @property
    def ours(self) -> bool:
        return self.reason.startswith(PREFIX)


def _run(argv: list[str]) -> str:
    try:
        done = subprocess.run(argv, capture_output=True, text=True, timeout=TIMEOUT_S, check=False)
    except (OSError, subprocess.TimeoutExpired) as exc:
        raise RuntimeError(f"{argv[0]}: {exc}") from None
    if done.returncode != 0:
        raise RuntimeError(f"{' '.join(argv[:3])} exited {done.returncode}: {first_line(done.stderr or done.stdout)}")
    return done.stdout


def read_state(node: str) -> NodeState:
    shown = _run(["scontrol", "-o", "show", "node", node])
    state = next((token[len("State=") :] for token in shown.split() if token.startswith("State=")), "")
    flags = frozenset(part.rstrip("*~#!%$@^-") for part in state.upper().split("+") if part)
    reason = _run(["sinfo", "-h", "-N", "-n", node, "-o", "%E"]).splitlines()
    text = reason[0].strip() if reason else ""
    return NodeState(flags, "" if text == "none" else text)


def apply(verdict: GateVerdict, node: str) -> int:
    """Drain or resume ``node`` as the verdict says; print what was done on stderr; return the gate's exit code."""

    def say(message: str) -> None:
        print(f"preflight gate (slurm, node {node}): {message}", file=sys.stderr)

    if verdict.code == COULD_NOT_RUN:
        say("could not run, so the node is left exactly as it is")
        return COULD_NOT_RUN
    try:
        state = read_state(node)
    except RuntimeError as exc:
        say(f"cannot read the node's state ({exc}); nothing changed")
        return verdict.code
    if verdict.code == BLOCKING:
        if state.drained and not state.ours:
            say(f"blocking finding, but the node is already {'+'.join(sorted(state.flags))} by someone else ({state.reason!r}): left as is")
            return BLOCKING
        reason = drain_reason(verdict)
        try:
            _run(["scontrol", "update", f"NodeName={node}", "State=DRAIN", f"Reason={reason}"])
        except RuntimeError as exc:
            say(f"blocking finding; draining failed: {exc}")
            return BLOCKING
        say(f"drained: {reason}")
        return BLOCKING
    if state.drained and state.ours:
        try:
            _run(["scontrol", "update", f"NodeName={node}", "State=RESUME"])
        except RuntimeError as exc:
            say(f"healthy; resuming failed: {exc}")
            return PASS
        say(f"healthy: resumed (it was drained by preflight: {state.reason!r})")
    elif state.drained:
        say(f"healthy, but drained by someone else ({state.reason!r}): left drained")
    return PASS
