"""A finding's cause, named only from evidence: the record every diagnosis carries (details.diagnosis).

``cause`` is one of CAUSES (the same set as ``preflight_action.vocab.CAUSES``); ``evidence`` lists what the
cause rests on (a file and its RECORD entry, a limit and where it was read, a variable and its value);
``next_step`` is what to run when the cause is ``not_identified``. Stdlib only.
"""

from __future__ import annotations

import sys
from typing import Any

INSTALL_DAMAGED = "install_damaged"
INSTALL_UNVERIFIABLE = "install_unverifiable"
INSTALL_CONFLICT = "install_conflict"
DEPENDENCY_MISSING = "dependency_missing"
LIBRARY_ELSEWHERE = "library_elsewhere"
RESOURCE_LIMIT = "resource_limit"
CONTAINER_LIMIT = "container_limit"
THREAD_OVERSUBSCRIPTION = "thread_oversubscription"
CODE_OUTSIDE_TORCH = "code_outside_torch"
CPU_INSTRUCTIONS = "cpu_instructions"
TOOLCHAIN = "toolchain"
INTERPRETER_ENVIRONMENT = "interpreter_environment"
NOT_IDENTIFIED = "not_identified"
CAUSES = (
    INSTALL_DAMAGED,
    INSTALL_UNVERIFIABLE,
    INSTALL_CONFLICT,
    DEPENDENCY_MISSING,
    LIBRARY_ELSEWHERE,
    RESOURCE_LIMIT,
    CONTAINER_LIMIT,
    THREAD_OVERSUBSCRIPTION,
    CODE_OUTSIDE_TORCH,
    CPU_INSTRUCTIONS,
    TOOLCHAIN,
    INTERPRETER_ENVIRONMENT,
    NOT_IDENTIFIED,
)
NOT_IDENTIFIED_WORDS = "cause not identified"


def diagnosis(cause: str, evidence: list[str], next_step: str | None = None, **facts: Any) -> dict[str, Any]:
    """The ``details.diagnosis`` record: the cause, what it rests on, and the next step where none was found."""
    record: dict[str, Any] = {"cause": cause, "evidence": [e for e in evidence if e]}
    if next_step:
        record["next_step"] = next_step
    record.update(facts)
    return record


def rests_on(evidence: list[str]) -> str:
    """' (evidence: a; b)' for a remedy: every remedy says what it rests on."""
    shown = [e for e in evidence if e]
    return f" (evidence: {'; '.join(shown[:4])})" if shown else ""


def import_next_step(python: str | None = None) -> str:
    """What to run when a torch import failed or crashed and the evidence names no cause."""
    exe = python or sys.executable or "python"
    exe = f'"{exe}"' if " " in exe else exe
    return (
        f"run {exe} -X faulthandler -c 'import torch' to see the Python frame it fails in, and "
        f"LD_DEBUG=libs {exe} -c 'import torch' 2>&1 | tail -30 to see the last library the loader opened; "
        "compare the environment (env, ulimit -a) with a machine where the import works"
    )
