"""The cause of a worker that died importing torch or never started, named only from evidence.

The evidence left: the signal, the worker's stderr (its own pre-import line carries its resource limits
and sys.path), and the installed files, which the orchestrator checks against pip's RECORD itself.
A damaged install gets a reinstall of what is damaged; a resource limit gets the limit; a CPU without
the build's instructions gets a build for it; anything else is "cause not identified" with what was
ruled out and the next diagnostic step.
"""

from __future__ import annotations

import os
import re
import sys
from dataclasses import dataclass, field
from typing import Any

from preflight_probe import evidence, install_record, remedies

NOT_IDENTIFIED = evidence.NOT_IDENTIFIED_WORDS
_SHADOW = re.compile(r'File "(?P<path>[^"]+?/(?P<name>[A-Za-z_][A-Za-z0-9_]*)\.py)"')
MEMORY_WORDS = ("bad_alloc", "cannot allocate memory", "failed to map segment", "out of memory")


@dataclass(frozen=True)
class Explained:
    error: str
    remedy: str
    never_started: bool = False
    details: dict[str, Any] = field(default_factory=dict)  # the evidence the words rest on (diagnosis, install, limits)
    # The node was not judged: what stopped the check is the tool's own (its probe copy unreadable to the
    # interpreter's user) or the input it was given (--python is no interpreter), never the machine's health.
    unjudged: bool = False


def _policy_min(key: str, default: float) -> float:
    """policy/surroundings.yaml's floor for one limit (``stack_kib``, ``as_mib``): what a PyTorch job needs."""
    from preflight_action.errors import InputError
    from preflight_action.preflight import surroundings

    try:
        limit = surroundings.load().limits.get(key)
    except InputError:
        return default
    return limit.min if limit else default


def _limit(facts: dict[str, Any], signal: str | None, lines: list[str]) -> tuple[str, str, list[str]] | None:
    """(what happened, remedy, evidence) when the worker's own limits explain the crash.

    A limit is named only with evidence that it was hit: the loader's or the allocator's own words about
    memory, or a crash under a limit below what policy/surroundings.yaml says a PyTorch job needs. A crash
    under a generous limit is not the limit's (any crash happens under some limit)."""
    limits = facts.get("rlimits") or {}
    space = (limits.get("as") or {}).get("soft")
    said = next((line.strip() for line in lines if any(w in line.lower() for w in MEMORY_WORDS)), None)
    tight = space is not None and space < _policy_min("as_mib", 16384) * (1 << 20)
    if space is not None and (said is not None or (tight and signal in ("SIGABRT", "SIGSEGV", "SIGBUS"))):
        proof = [f"RLIMIT_AS soft {space >> 20} MiB (the worker's own getrlimit)", f"the worker was killed by {signal}" if signal else ""]
        proof.append(f"stderr: {said}" if said else f"below the {_policy_min('as_mib', 16384):g} MiB policy/surroundings.yaml asks")
        return (
            f"the address space limit (RLIMIT_AS, {space >> 20} MiB) is too small to map torch's libraries",
            "remove the address-space limit for this job (ulimit -v unlimited where it is set)",
            proof,
        )
    stack = (limits.get("stack") or {}).get("soft")
    if stack is not None and signal == "SIGSEGV" and stack < _policy_min("stack_kib", 1024.0) * 1024:
        return (
            f"the stack size limit (RLIMIT_STACK, {stack >> 10} KiB) is below what torch's threads need",
            "raise the stack limit where the job starts: ulimit -s 8192",
            [f"RLIMIT_STACK soft {stack >> 10} KiB (the worker's own getrlimit)", f"the worker was killed by {signal}"],
        )
    return None


def _install(facts: dict[str, Any]) -> dict[str, Any] | None:
    paths = facts.get("sys_path")
    if not isinstance(paths, list) or not all(isinstance(p, str) for p in paths):
        return None
    return install_record.verify_stack("none", paths=paths)


def torch_import(
    origin: tuple[str | None, str | None], signal: str | None, how: str, lines: list[str], facts: dict[str, Any], python: str, stderr: str
) -> Explained:
    """The worker died importing torch: a CPU without the build's instructions, a limit, a damaged file, or not identified."""
    path, version = origin
    where = f"torch at {path}" if path else "torch"
    if signal == "SIGILL":
        fix = remedies.reinstall("torch", version, python=python)
        proof = ["the worker was killed by SIGILL (an illegal instruction) while torch's libraries loaded"]
        return Explained(
            f"{where} was killed by SIGILL while loading its shared libraries: they use CPU instructions this CPU "
            f"does not have (a build for another CPU){stderr}",
            f"install a torch build for this CPU: {fix}" + evidence.rests_on(proof),
            details={"diagnosis": evidence.diagnosis(evidence.CPU_INSTRUCTIONS, proof)},
        )
    summary = _install(facts)  # files that differ from their RECORD are the stronger evidence: looked at first
    damaged = _damage(summary, python)
    if damaged is not None:
        said, fix, details = damaged
        return Explained(
            f"{where} crashed while loading its shared libraries ({how}): the install is damaged: {said}{stderr}", fix, details=details
        )
    hit = _limit(facts, signal, lines)
    if hit:
        return Explained(
            f"{where} crashed while importing ({how}): {hit[0]}{stderr}",
            hit[1] + evidence.rests_on(hit[2]),
            details={"diagnosis": evidence.diagnosis(evidence.RESOURCE_LIMIT, hit[2])},
        )
    ruled_out = [f"the worker {'was' if how.startswith('killed') else 'ended with'} {how} while importing torch"]
    if summary is not None:
        ruled_out.append(f"{summary.get('files_checked', 0)} files of torch's stack match pip's RECORD sizes")
    if facts.get("rlimits"):
        ruled_out.append("no resource limit of the worker explains it (none below policy/surroundings.yaml, no out-of-memory words)")
    step = evidence.import_next_step(python)
    return Explained(
        f"{where} ended the interpreter while importing ({how}); {NOT_IDENTIFIED} ({'; '.join(ruled_out[1:]) or 'no evidence left'}){stderr}",
        f"{NOT_IDENTIFIED}: {step}",
        details={"diagnosis": evidence.diagnosis(evidence.NOT_IDENTIFIED, ruled_out, next_step=step)},
    )


def _damage(summary: dict[str, Any] | None, python: str) -> tuple[str, str, dict[str, Any]] | None:
    """(what is damaged, the reinstall of exactly that, details) when files differ from their RECORD; else None."""
    problems = (summary or {}).get("problems") or []
    if not problems:
        return None
    said = [install_record.words(p) for p in problems[:3]]
    damaged = dict.fromkeys((p["distribution"], p["version"]) for p in problems)
    fixes = [
        remedies.pip_install(f"{name}=={v}" if v else name, remedies.local_tag(v), "--force-reinstall --no-deps --no-cache-dir ", python)
        for name, v in damaged
    ]
    details = {"diagnosis": evidence.diagnosis(evidence.INSTALL_DAMAGED, said), "install_record": _brief(summary)}
    return "; ".join(said), "reinstall what is damaged: " + "; ".join(fixes) + evidence.rests_on(said), details


def damaged_install(facts: dict[str, Any], python: str) -> tuple[str, str, dict[str, Any]] | None:
    """A crash of any check: the install's files against their RECORD (a library cut short dies with SIGBUS)."""
    return _damage(_install(facts), python)


def _brief(summary: dict[str, Any] | None) -> dict[str, Any]:
    return {k: v for k, v in (summary or {}).items() if k in ("files_checked", "problems", "problem_count")}


def check_next_step(check_id: str, python: str) -> str:
    return (
        f"rerun to see whether it repeats; run the preflight with PYTHONFAULTHANDLER=1 so the worker prints the frame it dies in, "
        f"and read the kernel log (dmesg) for a driver error; {python} -X faulthandler reproduces it outside the preflight"
    )


def interpreter_environment(lines: list[str]) -> tuple[str, str, list[str]] | None:
    """(cause, remedy, evidence) for an interpreter that could not start because of its environment."""
    text = "\n".join(lines)
    said_home = re.search(r"PYTHONHOME = '(?P<home>[^']*)'", text)  # the interpreter's own path configuration dump
    home = said_home.group("home") if said_home else os.environ.get("PYTHONHOME")
    if "Fatal Python error" in text and home is not None:
        said = next(line for line in lines if "Fatal Python error" in line)
        return (
            f"PYTHONHOME={home!r} points the interpreter at a standard library it cannot load",
            "unset PYTHONHOME for this job (a virtual environment or conda environment never needs it)",
            [f"PYTHONHOME={home}", f"stderr: {said.strip()}"],
        )
    stdlib_names: frozenset[str] = getattr(sys, "stdlib_module_names", frozenset())
    for match in _SHADOW.finditer(text):
        name, file = match.group("name"), match.group("path")
        if name in stdlib_names and "/lib/python" not in file and "/Lib/" not in file:
            folder = os.path.dirname(file)
            via = " (it is on PYTHONPATH)" if folder in os.environ.get("PYTHONPATH", "").split(os.pathsep) else ""
            return (
                f"{file} shadows the standard library's {name} module{via}",
                f"rename {file} (or take {folder} off PYTHONPATH / sys.path) so that import {name} finds the standard library",
                [f"the traceback imports {name} from {file}, not from the standard library"],
            )
    return None
