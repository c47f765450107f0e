"""install.record (torch's stack against pip's RECORD) and loader.libraries (where its shared libraries came from)."""

from __future__ import annotations

import os
import sys
from typing import Any

from preflight_probe import background, evidence, remedies
from preflight_probe.outcome import Outcome

JOB = "install.record"
WAIT_S = 60.0  # the background child stats ~17,000 files: well under a second, unless the disk is cold and slow


def _sizes() -> dict[str, Any]:
    from preflight_probe import install_record  # loaded in the child: the worker's own start stays as small as it was

    return install_record.verify_stack("none")


def start_background() -> None:
    """Start the size check of the stack's files as torch's import begins (Linux; elsewhere it runs when asked)."""
    background.start(JOB, _sizes)


_SIZES: dict[str, Any] = {}  # the size check, once per worker (install.record, loader.libraries and a failure all read it)


def stack_record(hash_mode: str = "none", time_limit_s: float | None = None) -> dict[str, Any]:
    """The stack against its RECORDs: the background child's answer for sizes, else computed here."""
    from preflight_probe import install_record

    if hash_mode != "none":
        return install_record.verify_stack(hash_mode, time_limit_s=time_limit_s)
    if not _SIZES:
        found = background.result(JOB, WAIT_S)
        _SIZES.update(found if isinstance(found, dict) else install_record.verify_stack("none", time_limit_s=time_limit_s))
    return _SIZES


def _pip_reinstall(name: str, version: str | None) -> str:
    """pip's own recovery for one damaged distribution: the same version again, its dependencies left alone."""
    spec = f"{name}=={version}" if version else name
    return remedies.pip_install(spec, remedies.local_tag(version), extra="--force-reinstall --no-deps --no-cache-dir ")


def damage_findings(summary: dict[str, Any]) -> tuple[list[str], list[str], list[str]] | None:
    """(what is wrong, remedies, evidence) for files that differ from their RECORD; None when none do."""
    problems = summary.get("problems") or []
    if not problems:
        return None
    from preflight_probe import install_record

    said = [install_record.words(p) for p in problems[:3]]
    more = summary.get("problem_count", len(problems)) - len(said)
    damaged: dict[str, str | None] = {}
    for problem in problems:
        damaged.setdefault(problem["distribution"], problem["version"])
    fixes = [_pip_reinstall(name, version) for name, version in damaged.items()]
    words = "; ".join(said) + (f"; and {more} more" if more > 0 else "")
    return [words], fixes, said


def _missing_words(missing: dict[str, Any]) -> str:
    return f"{missing['name']} ({missing['spec'] or 'any version'}, required by {missing['required_by']}) is not installed"


def _already_named(summary: dict[str, Any], named: list[str]) -> bool:
    from preflight_probe import install_record

    said = [install_record.words(p) for p in summary.get("problems") or []] + [
        _missing_words(m) for m in summary.get("missing_dependencies") or []
    ]
    return summary.get("problem_count", 0) == len(summary.get("problems") or []) and all(s in named for s in said)


def check_install_record(params: dict[str, Any]) -> Outcome:
    modes = params.get("hash") or {}
    hash_mode = str(modes.get(str(params.get("level")), "none") if isinstance(modes, dict) else modes)
    summary = stack_record(hash_mode, params.get("time_limit_s"))
    details: dict[str, Any] = {k: v for k, v in summary.items() if k != "libraries"}
    if not summary.get("distributions"):
        return Outcome.skip("no torch or torchvision distribution is installed for this interpreter (torch.import reports it)", **details)
    damage = damage_findings(summary)
    if (damage or summary.get("missing_dependencies")) and _already_named(summary, params.get("named") or []):  # one cause, one failure
        return Outcome.skip(
            "an earlier check already names everything damaged or missing in the install (details list every file)", **details
        )
    if damage:
        details["diagnosis"] = evidence.diagnosis(evidence.INSTALL_DAMAGED, damage[2])
        error = f"{summary['problem_count']} installed file(s) differ from what pip wrote: {damage[0][0]}"
        return Outcome.fail(error, remedy="reinstall what is damaged: " + "; ".join(damage[1]) + evidence.rests_on(damage[2]), **details)
    missing = summary.get("missing_dependencies") or []
    if missing:
        said = [_missing_words(m) for m in missing]
        details["diagnosis"] = evidence.diagnosis(evidence.DEPENDENCY_MISSING, said)
        fixes = [remedies.pip_install(f"{m['name']}{m['spec'] or ''}") for m in missing]
        return Outcome.fail("; ".join(said), remedy="install what is missing: " + "; ".join(fixes) + evidence.rests_on(said), **details)
    unverifiable = summary.get("without_record") or []
    if unverifiable:
        said = [
            f"{d['name']} {d['version']} at {d['location']} has no RECORD (installer: {d['installer'] or 'unknown'}): its files cannot be "
            "verified, and pip can neither uninstall nor upgrade it"
            for d in unverifiable
        ]
        details["diagnosis"] = evidence.diagnosis(evidence.INSTALL_UNVERIFIABLE, said)
        fixes = [
            "in a conda environment, conda doctor lists files missing from its packages"
            if (d["installer"] or "").startswith("conda")
            else f"give pip a RECORD again with its own recovery: {_pip_reinstall(d['name'], d['version'])}"
            for d in unverifiable
        ]
        return Outcome.fail("; ".join(said), remedy="; ".join(fixes) + evidence.rests_on(said), **details)
    hashed = f", {summary['files_hashed']} of them by sha256" if summary.get("files_hashed") else ""
    skipped = f" ({summary['hash_skipped']} not hashed: out of time)" if summary.get("hash_skipped") else ""
    names = ", ".join(f"{d['name']} {d['version']}" for d in summary["distributions"][:2])
    details["summary"] = (
        f"{summary['files_checked']} files of {len(summary['distributions'])} distributions ({names} and their runtime dependencies) "
        f"match pip's RECORD{hashed}{skipped}"
    )
    return Outcome.ok(**details)


def check_loader_libraries(params: dict[str, Any]) -> Outcome:
    """Shared libraries torch's stack ships that this process loaded from somewhere else, and what put them there."""
    if not os.path.exists("/proc/self/maps"):
        return Outcome.skip(f"no /proc/self/maps on {sys.platform}: the loaded libraries cannot be listed")
    from preflight_probe import loader

    summary = stack_record("none")
    bundled = summary.get("libraries") or {}
    loaded = loader.mapped()
    found = loader.foreign(bundled, loaded, dict(os.environ))
    details: dict[str, Any] = {"libraries_mapped": len(loaded), "libraries_shipped": len(bundled), "found_elsewhere": found}
    if not found:
        details["summary"] = f"every library torch's stack ships and this process loaded ({len(loaded)} mapped) came from the stack itself"
        return Outcome.ok(**details)
    said = [f"{f['library']} was loaded from {f['loaded']} ({f['why']}), not the {f['bundled']} torch's stack ships" for f in found]
    details["diagnosis"] = evidence.diagnosis(evidence.LIBRARY_ELSEWHERE, said)
    fixes = [_undo(f) for f in found]
    error = "; ".join(said) + ": two builds of one library in a process can crash or compute differently even when it loads"
    return Outcome.fail(error, remedy="; ".join(dict.fromkeys(fixes)) + evidence.rests_on(said[:2]), **details)


def _undo(found: dict[str, Any]) -> str:
    """What takes the foreign library out of this process, by the mechanism that put it there."""
    why, entry = found["why"], found.get("entry") or os.path.dirname(found["loaded"])
    if why.startswith("LD_PRELOAD"):
        return f"take {entry} out of LD_PRELOAD for this job"
    if why.startswith("LD_LIBRARY_PATH"):
        module = why.split("set by the environment module ", 1)[1].split(" (", 1)[0] if "environment module" in why else None
        unload = f"module unload {module}, or " if module else ""
        return f"{unload}take {entry} off LD_LIBRARY_PATH (or put it after torch's own library folders) for this job"
    if why.startswith(("the RPATH", "the RUNPATH")):
        owner = why.split(" of ", 1)[1].split(" (in ", 1)[0]
        kind = why.split()[1]
        return f"{owner} carries an {kind} to {entry}: import it after torch, or rebuild it without that {kind}"
    return f"find what loads {found['loaded']} before torch (import torch first, or run with LD_DEBUG=libs to see who opens it)"
