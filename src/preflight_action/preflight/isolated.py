"""Words and a remedy for a check whose worker died, hung or never started.

The probe cannot explain these itself: the process that would have said why is
gone. What is left is the exit status, the worker's hello (or its absence) and
its stderr, including the line the probe writes before it imports torch.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

from preflight_probe import remedies

_IMPORTING = re.compile(r"preflight_probe: importing torch from (?P<path>.+?) \(installed: (?P<version>[^)]*)\)\s*$")
_SIGNAL = re.compile(r"killed by (SIG[A-Z]+)")
HEAD_LINES = 8
MARKER = "[unparsable worker output] "  # how process.lines keeps stdout lines that are not the probe's JSON


@dataclass(frozen=True)
class Explained:
    error: str
    remedy: str
    never_started: bool = False
    details: dict[str, Any] = field(default_factory=dict)  # the evidence the words rest on (diagnosis, install, limits)


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


def _printed(lines: list[str]) -> str:
    shown = [line for line in lines if not line.startswith("preflight_probe: importing torch")][:HEAD_LINES]
    if not shown:
        return "it printed nothing"
    return "it printed:\n" + "\n".join(f"stdout: {x[len(MARKER) :]}" if x.startswith(MARKER) else f"stderr: {x}" for x in shown)


def explain(check_id: str, message: str, lines: list[str], hello: bool, python: str, timeout_s: float) -> Explained:
    """``message`` is the WorkerFailure text ('the worker was killed by SIGBUS (exit -7)', 'timed out after ...')."""
    tail = "\n".join(lines[-20:])
    stderr = f"\nlast stderr lines:\n{tail}" if tail else " (no stderr output)"
    if not hello:
        if any("too old to run the probe" in line and not line.startswith(MARKER) for line in lines):
            return Explained(
                f"{python} never started the probe: {lines[-1] if lines else message}",
                "point --python at a Python 3.8+ interpreter of the environment to diagnose",
                never_started=True,
            )
        outcome = _how(message)
        return Explained(
            f"{python} is not a Python interpreter, or it never started the probe ({outcome}); {_printed(lines)}",
            f"point --python at the environment's Python interpreter (in that environment, "
            f"python -c 'import sys; print(sys.executable)' prints its path); {python} is not one",
            never_started=True,
        )
    if message.startswith("timed out"):
        return Explained(
            message + stderr,
            f"if {check_id} is slow but healthy on this machine (a cold compile cache, a busy runner), raise --check-timeout "
            f"above {timeout_s:g} s; if it hangs on every run, the stderr lines show where (a hung driver call is typical)",
        )
    signal = _SIGNAL.search(message)
    if check_id == "torch.import":
        path, version = _torch_origin(lines)
        where = f"torch at {path}" if path else "torch"
        fix = remedies.reinstall("torch", version, python=python)
        if signal and signal.group(1) == "SIGILL":
            return Explained(
                f"{where} was killed by SIGILL while loading its shared libraries: they use CPU instructions this CPU "
                f"does not have (a build for another CPU){stderr}",
                f"install a torch build for this CPU: {fix}",
            )
        if signal:
            return Explained(
                f"{where} crashed while loading its shared libraries ({_how(message)}): this points "
                f"at a damaged install (a truncated or partly written .so, a full disk during pip install){stderr}",
                f"reinstall torch: {fix}",
            )
        return Explained(
            f"{where} ended the interpreter while importing ({_how(message)}){stderr}",
            f"run {python} -c 'import torch' to see the import fail on its own, then reinstall torch: {fix}",
        )
    if signal:
        return Explained(
            message + stderr,
            f"{check_id} crashed the interpreter ({signal.group(1)}): rerun to see whether it repeats; a repeating crash inside "
            "torch points at its build or the device driver (update the driver, reinstall torch)",
        )
    return Explained(
        message + stderr,
        f"{check_id} ended the interpreter: something it loaded called exit; the stderr lines show what",
    )
