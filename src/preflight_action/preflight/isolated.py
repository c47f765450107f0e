"""Words and a remedy for a check whose worker died, hung or never started.

The probe cannot explain these itself: the process that would have said why is
gone. What is left is the exit status, the worker's hello (or its absence) and
its stderr, including the line the probe writes before it imports torch.
"""

from __future__ import annotations

import json
import re
from typing import Any

from preflight_action.preflight import crash
from preflight_action.preflight.crash import Explained
from preflight_probe import evidence

_IMPORTING = re.compile(r"preflight_probe: importing torch from (?P<path>.+?) \(installed: (?P<version>[^)]*)\)\s*$")
_SIGNAL = re.compile(r"killed by (SIG[A-Z]+)")
# The interpreter's own words when it cannot read the boot script this tool wrote for it (probe_cache).
_PROBE_UNREADABLE = re.compile(r"can't open file '[^']*preflight_probe_boot_\w+\.py': \[Errno (?:1|13)\]")
HEAD_LINES = 8
MARKER = "[unparsable worker output] "  # how process.lines keeps stdout lines that are not the probe's JSON
EVIDENCE = "preflight_probe: evidence "  # the worker's limits and sys.path, written before it imports torch
OWN_LINES = ("preflight_probe: importing torch", EVIDENCE)


def _torch_origin(lines: list[str]) -> tuple[str | None, str | None]:
    for line in lines:
        match = _IMPORTING.search(line)
        if match:
            version = match.group("version")
            return match.group("path"), (None if version == "None" else version)
    return None, None


def _how(message: str) -> str:
    """'killed by SIGBUS (exit -7)' from 'the worker was killed by SIGBUS (exit -7)'."""
    return re.sub(r"^the worker (was |ended with )?", "", message)


_THREAD = re.compile(r"^(?:Current thread|Thread) 0x[0-9a-fA-F]+ \(most recent call first\):")
_FRAME = re.compile(r'^\s+File "(?P<file>[^"]+)", line (?P<line>\d+) in (?P<func>\S+)')


def hung_at(lines: list[str]) -> str | None:
    """'FILE:LINE in FUNC': the innermost frame of the thread that ran the check, from the stacks faulthandler printed
    (the thread whose stack reaches the probe's worker loop; the probe's own frames are skipped)."""
    blocks: list[list[str]] = []
    for line in lines:
        if _THREAD.match(line):
            blocks.append([])
        elif blocks and line.strip():
            blocks[-1].append(line)
    for block in reversed(blocks):  # the last dump, if several
        frames = [m for m in map(_FRAME.match, block) if m]
        if any("preflight_probe" in m["file"] and m["file"].endswith("worker.py") for m in frames):
            inner = next((m for m in frames if "preflight_probe" not in m["file"]), frames[0] if frames else None)
            return f"{inner['file']}:{inner['line']} in {inner['func']}" if inner else None
    return None


def _printed(lines: list[str]) -> str:
    shown = [line for line in lines if not line.startswith(OWN_LINES)][:HEAD_LINES]
    if not shown:
        return "it printed nothing"
    return "it printed:\n" + "\n".join(f"stdout: {x[len(MARKER) :]}" if x.startswith(MARKER) else f"stderr: {x}" for x in shown)


def _facts(lines: list[str]) -> dict[str, Any]:
    """What the worker said about itself before importing torch (its limits, its sys.path)."""
    for line in lines:
        if line.startswith(EVIDENCE):
            try:
                found = json.loads(line[len(EVIDENCE) :])
            except ValueError:
                return {}
            return found if isinstance(found, dict) else {}
    return {}


def explain(check_id: str, message: str, lines: list[str], hello: bool, python: str, timeout_s: float) -> Explained:
    """``message`` is the WorkerFailure text ('the worker was killed by SIGBUS (exit -7)', 'timed out after ...')."""
    shown = [line for line in lines if not line.startswith(EVIDENCE)]
    tail = "\n".join(shown[-20:])
    stderr = f"\nlast stderr lines:\n{tail}" if tail else " (no stderr output)"
    if not hello:
        return _never_started(message, lines, python)
    if message.startswith("timed out"):
        frame = hung_at(lines)
        if frame:
            return Explained(
                f"{message}; it was at {frame} when the timeout came (its stack, printed by faulthandler){stderr}",
                f"if it hangs on every run, read {frame} (a lock, a network call or a hung driver call is typical); if {check_id} is "
                f"only slow on this machine (a cold compile cache, a busy runner), raise --check-timeout above {timeout_s:g} s",
                details={"hung_at": frame},
            )
        return Explained(
            message + stderr,
            f"if {check_id} is slow but healthy on this machine (a cold compile cache, a busy runner), raise --check-timeout "
            f"above {timeout_s:g} s; if it hangs on every run, the stderr lines show where (a hung driver call is typical)",
        )
    signal = _SIGNAL.search(message)
    if check_id == "torch.import":
        return crash.torch_import(
            _torch_origin(lines), signal.group(1) if signal else None, _how(message), shown, _facts(lines), python, stderr
        )
    step = crash.check_next_step(check_id, python)
    damaged = crash.damaged_install(_facts(lines), python) if signal else None
    if damaged is not None:
        said, fix, details = damaged
        return Explained(
            f"{check_id} crashed the interpreter ({_how(message)}): the install is damaged: {said}{stderr}", fix, details=details
        )
    if signal:
        return Explained(
            message + stderr,
            f"{check_id} crashed the interpreter ({signal.group(1)}); {crash.NOT_IDENTIFIED}: {step}",
            details={
                "diagnosis": evidence.diagnosis(
                    evidence.NOT_IDENTIFIED, [f"the worker was {_how(message)} during {check_id}"], next_step=step
                )
            },
        )
    return Explained(
        message + stderr,
        f"{check_id} ended the interpreter: something it loaded called exit; the stderr lines show what",
    )


def _never_started(message: str, lines: list[str], python: str) -> Explained:
    if any("too old to run the probe" in line and not line.startswith(MARKER) for line in lines):
        return Explained(
            f"{python} never started the probe: {lines[-1] if lines else message}",
            "point --python at a Python 3.8+ interpreter of the environment to diagnose",
            never_started=True,
        )
    outcome = _how(message)
    signal = _SIGNAL.search(message)
    unreadable = next((line for line in lines if _PROBE_UNREADABLE.search(line)), None)
    if unreadable is not None:  # a wrapper that drops privileges (setpriv, runuser, su) runs it as another user
        return Explained(
            f"not judged: {python} could not read the probe this tool copied for it ({unreadable.strip()[:300]}); it runs as a user "
            "who cannot read this tool's private copy (a wrapper that drops privileges)",
            "run the preflight as the user the interpreter runs as (put the privilege drop before runtime-preflight, not inside --python)",
            never_started=True,
            unjudged=True,
        )
    found = crash.interpreter_environment(lines)
    if found is not None:
        cause, fix, proof = found
        return Explained(
            f"{python} could not start the probe ({outcome}): {cause}; {_printed(lines)}",
            fix + evidence.rests_on(proof),
            never_started=True,
            details={"diagnosis": evidence.diagnosis(evidence.INTERPRETER_ENVIRONMENT, proof)},
        )
    if signal and not lines:  # a program that is no interpreter exits or complains; this one was killed before it said anything
        step = f"run {python} -c pass in the same environment to see it die on its own, and compare ulimit -a and env with a shell where it starts"
        return Explained(
            f"{python} was {outcome} before it started the probe, printing nothing; {crash.NOT_IDENTIFIED}",
            f"{crash.NOT_IDENTIFIED}: {step}",
            never_started=True,
            details={
                "diagnosis": evidence.diagnosis(evidence.NOT_IDENTIFIED, [f"{python} was {outcome} before its first line"], next_step=step)
            },
        )
    printed = _printed(lines)
    return Explained(
        f"{python} is not a Python interpreter, or it never started the probe ({outcome}); {printed}",
        f"point --python at the environment's Python interpreter (in that environment, "
        f"python -c 'import sys; print(sys.executable)' prints its path); {python} is not one",
        never_started=True,
        details={
            "diagnosis": evidence.diagnosis(evidence.INTERPRETER_ENVIRONMENT, [f"{python} {outcome} without the probe's hello; {printed}"])
        },
    )
