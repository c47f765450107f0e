"""Why ``import torch`` raised, from evidence only: a limit that was hit, a file that differs from pip's RECORD,
a dependency that is not installed, a library the loader took from elsewhere, code outside torch that raised.

Where none of these holds, the answer is "cause not identified" with what was ruled out and the next
diagnostic step; a reinstall is proposed only when the RECORD shows the install itself is damaged.
"""

from __future__ import annotations

import errno
import os
import re
import sys
import sysconfig
from typing import Any

from preflight_probe import checks_install, distributions, evidence, loader, remedies, surroundings

LOADER_SIGNS = (
    "cannot open shared object",
    "undefined symbol",
    "wrong elf class",
    "invalid elf header",
    "file too short",
    "cannot read file data",
)
MEMORY_SIGNS = ("cannot allocate memory", "failed to map segment", "bad_alloc", "memoryerror", "out of memory")
# Words that say a thread or process could not be started. EAGAIN alone says nothing of threads: a lock
# taken with LOCK_NB, a non-blocking socket and a busy device all answer it.
THREAD_SIGNS = ("can't start new thread", "pthread_create")
THREAD_WORDS = ("thread", "fork", "clone")  # beside EAGAIN's words, they say what could not be started
FILE_SIGNS = ("too many open files",)
# glibc's words for a library too old for its user: "/opt/lib/libstdc++.so.6: version `CXXABI_1.3.8' not found (required by .../libtorch_cpu.so)"
_VERSION_NOT_FOUND = re.compile(r"(/[^\s:]+): version [`']([^'`]+)' not found \(required by ([^)]+)\)")
# Address space that importing torch maps, measured: 3.2 GB for torch 2.14's CUDA build on a CPU host (VmPeak).
# A limit at or above policy/surroundings.yaml's as_mib floor (16 GiB) is not what stopped an import.
AS_ENOUGH_MIB = 16384
# Memory a cgroup must allow for the import alone (its resident size is about 0.5 GB): a larger limit did not stop it.
CGROUP_ENOUGH_MB = 4096


def _errnos(exc: BaseException) -> set[int]:
    found: set[int] = set()
    current: BaseException | None = exc
    for _ in range(8):
        if current is None:
            break
        if isinstance(current, OSError) and current.errno:
            found.add(current.errno)
        current = current.__cause__ or current.__context__
    return found


def _limit_words(name: str, value: dict[str, Any] | None, unit: int = 1) -> str | None:
    if not value or value.get("soft") is None:
        return None
    soft, hard = value["soft"], value.get("hard")
    scale = (lambda v: f"{v // unit} MiB") if unit > 1 else str
    return f"{name} soft {scale(soft)}, hard {'unlimited' if hard is None else scale(hard)} (getrlimit in this process)"


def limit_cause(text: str, codes: set[int], limits: dict[str, Any], cgroup_memory_mb: float | None = None) -> tuple[str, str, str] | None:
    """(cause, what happened, what to do) when the failure is a resource limit's, from the error and the limits."""
    lowered = text.lower()
    if errno.EMFILE in codes or any(s in lowered for s in FILE_SIGNS):
        proof = _limit_words("RLIMIT_NOFILE", limits.get("nofile"))
        if proof:
            return (
                proof,
                "the process ran out of file descriptors (too many open files)",
                "raise the open-files limit: ulimit -n 65536 (up to the hard limit)",
            )
    if errno.ENOMEM in codes or any(s in lowered for s in MEMORY_SIGNS):
        space = (limits.get("as") or {}).get("soft")
        proof = _limit_words("RLIMIT_AS", limits.get("as"), 1 << 20)
        if proof and space is not None and space < AS_ENOUGH_MIB << 20:
            hard = (limits.get("as") or {}).get("hard")
            return (
                proof,
                "the address space limit is too small for torch's libraries",
                "remove the address-space limit for this job: " + _raise_words("ulimit -v", space, hard, 1 << 10),
            )
        if cgroup_memory_mb is not None and cgroup_memory_mb < CGROUP_ENOUGH_MB:
            proof = f"cgroup memory limit {cgroup_memory_mb:g} MB"
            return (
                proof,
                "the cgroup memory limit is too small to load torch",
                "raise the job's memory limit (docker run --memory, resources.limits.memory, Slurm --mem)",
            )
    nproc = limits.get("nproc") or {}
    eagain = errno.EAGAIN in codes or "resource temporarily unavailable" in lowered
    started = any(s in lowered for s in THREAD_SIGNS) or (eagain and any(w in lowered for w in THREAD_WORDS))
    if started and _nproc_binds(nproc):
        proof = _limit_words("RLIMIT_NPROC", nproc)
        if proof:
            return (
                proof,
                "the process could not start a thread (the processes/threads limit)",
                "raise the processes/threads limit: "
                + _raise_words("ulimit -u", nproc["soft"], nproc.get("hard"))
                + ", or the cgroup's pids.max",
            )
    return None


def _raise_words(command: str, soft: int, hard: int | None, unit: int = 1) -> str:
    """How to lift a soft limit: to unlimited, to its hard limit, or (soft already the hard) where only an administrator can."""
    if hard is None:
        return f"{command} unlimited"
    if hard > soft:
        return f"{command} {hard // unit} (its hard limit), or unlimited where the hard limit is set"
    return (
        f"the soft limit is already the hard one ({hard // unit}), so {command} cannot raise it here: raise it where it is set "
        "(/etc/security/limits.conf, docker run --ulimit, systemd Limit*=, the batch system)"
    )


def _nproc_binds(nproc: dict[str, Any]) -> bool:
    """Whether RLIMIT_NPROC can have stopped a thread: it is finite, and the kernel does not apply it to root."""
    geteuid = getattr(os, "geteuid", None)
    return nproc.get("soft") is not None and not (geteuid is not None and geteuid() == 0)


def named_files(exc: BaseException) -> list[str]:
    """The files an exception names: a SyntaxError's file and every frame of its traceback (and its cause's)."""
    found: list[str] = []
    current: BaseException | None = exc
    for _ in range(4):
        if current is None:
            break
        filename = getattr(current, "filename", None)
        if isinstance(filename, str):
            found.append(filename)
        tb = current.__traceback__
        while tb is not None:
            found.append(tb.tb_frame.f_code.co_filename)
            tb = tb.tb_next
        current = current.__cause__ or current.__context__
    return list(dict.fromkeys(os.path.realpath(f) for f in found if f and not f.startswith("<")))


def hash_named(exc: BaseException) -> dict[str, Any]:
    """The files the error names, hashed against their RECORD whatever the level: a same-size edit (a patched
    module, bit rot) passes the size check the import failure's first look makes, and its sha256 does not."""
    from preflight_probe import install_record

    named = named_files(exc)
    problems: list[dict[str, Any]] = []
    if named:
        dists, _ = install_record.closure()
        for dist in dists:
            base = os.path.realpath(dist["location"]) + os.sep
            mine = {os.path.relpath(f, base).replace(os.sep, "/") for f in named if f.startswith(base)}
            if mine:
                result = install_record.verify(dist, "none", only=mine)
                problems += [{"distribution": result["name"], "version": result["version"], **p} for p in result["problems"]]
    return {"problems": problems, "problem_count": len(problems)}


def _unowned(origin: str) -> tuple[str, str] | None:
    """(what happened, remedy) when the torch imported is a folder no installed distribution owns while an installed
    torch sits elsewhere on sys.path: a PyTorch source tree or a project's own torch/ on PYTHONPATH, imported first."""
    installed = [d for d in distributions.find("torch") if not d.get("stale") and d.get("package_dir")]
    real = os.path.realpath(origin)
    if not installed or any(os.path.realpath(d["package_dir"]) == real for d in installed):
        return None
    parent = os.path.dirname(origin)
    on_path = "PYTHONPATH" if parent in os.environ.get("PYTHONPATH", "").split(os.pathsep) else "sys.path"
    first = installed[0]
    return (
        f"the torch imported is {origin}, a folder no installed distribution owns (its parent {parent} is on {on_path}), "
        f"ahead of the installed torch {first['version']} at {first['location']}",
        f"take {parent} off {on_path} (or rename {origin}) so the installed torch is imported; to use that tree, build it "
        "(pip install -e . in it) instead",
    )


def raised_at(exc: BaseException, torch_dir: str | None) -> str | None:
    """'FILE:LINE' of the innermost frame outside the standard library, when that file is not torch's."""
    stdlib = os.path.realpath(sysconfig.get_paths()["stdlib"])
    frame = None
    tb = exc.__traceback__
    while tb is not None:
        name = tb.tb_frame.f_code.co_filename
        if not name.startswith("<") and not os.path.realpath(name).startswith(stdlib + os.sep):
            frame = (name, tb.tb_lineno)
        tb = tb.tb_next
    if frame is None or (torch_dir and os.path.realpath(frame[0]).startswith(os.path.realpath(torch_dir) + os.sep)):
        return None
    if os.path.basename(frame[0]) in ("checks_core.py",) and os.path.dirname(frame[0]).endswith("preflight_probe"):
        return None  # our own import call, not the code that raised
    return f"{frame[0]}:{frame[1]}"


def named_first(summary: dict[str, Any], text: str) -> dict[str, Any]:
    """The RECORD problems with the files the error names (a library, a module) first: the evidence that leads."""
    modules = [m.replace(".", "/") for m in re.findall(r"No module named '([\w.]+)'", text)]

    def named(problem: dict[str, Any]) -> bool:
        path = problem["path"]
        return os.path.basename(path) in text or any(path.startswith((m + ".", m + "/")) for m in modules)

    problems = summary.get("problems") or []
    return {**summary, "problems": sorted(problems, key=lambda p: not named(p))}


def _foreign_from_replay(bundled: dict[str, str]) -> list[dict[str, Any]]:
    taken = loader.replay(sys.executable, dict(os.environ), timeout_s=120.0)
    found = []
    for soname, where in taken.items():
        shipped = bundled.get(soname)
        if shipped and os.path.exists(where["file"]) and os.path.realpath(where["file"]) != os.path.realpath(shipped):
            found.append({"library": soname, "loaded": where["file"], "bundled": shipped, "why": where["why"]})
    return found


def explain(exc: BaseException, text: str, origin: str, version: str | None) -> dict[str, Any]:
    """``{"error", "remedy", "diagnosis"}`` for an import of the torch at ``origin`` that raised ``exc``."""
    head = f"import torch from {origin} failed: {text}"
    named = checks_install.damage_findings(hash_named(exc))
    if named:  # a file the error names differs from what pip wrote: nothing is stronger evidence
        words, fixes, proof = named
        return _said(
            f"{head}; the install is damaged: {words[0]}",
            "reinstall what is damaged: " + "; ".join(fixes) + evidence.rests_on(proof),
            evidence.diagnosis(evidence.INSTALL_DAMAGED, proof),
        )
    stray = _unowned(origin)
    if stray:  # a torch/ folder no installed distribution owns (a source tree, a project's package) came first
        return _said(
            f"{head}; {stray[0]}", stray[1] + evidence.rests_on([stray[0]]), evidence.diagnosis(evidence.INSTALL_CONFLICT, [stray[0]])
        )
    where = raised_at(exc, origin)
    if where:  # the frame that raised is the strongest evidence: a hook's MemoryError or EAGAIN is the hook's
        proof = [f"the exception was raised at {where}, which is not torch's code ({origin})"]
        return _said(
            f"{head}; it was raised by code outside torch, at {where}",
            f"read {where}: the code there (an import hook, a sitecustomize, another package) stops torch's import"
            + evidence.rests_on(proof),
            evidence.diagnosis(evidence.CODE_OUTSIDE_TORCH, proof, raised_at=where),
        )
    limits = surroundings.rlimits()
    cgroup = surroundings.cgroup_limits() if sys.platform == "linux" else {}
    memory = cgroup.get("memory", {}).get("limit_bytes")
    hit = limit_cause(text, _errnos(exc), limits, memory / (1 << 20) if memory else None)
    if hit:
        proof = [hit[0], f"the import failed with: {text[:200]}"]
        cause = evidence.CONTAINER_LIMIT if hit[0].startswith("cgroup") else evidence.RESOURCE_LIMIT
        return _said(f"{head}; {hit[1]}", hit[2] + evidence.rests_on(proof), evidence.diagnosis(cause, proof))
    if isinstance(exc, UnicodeError) and any(0xDC80 <= ord(c) <= 0xDCFF for c in origin):
        proof = [f"torch's folder {origin} holds bytes that are not UTF-8", f"the import failed with: {text[:200]}"]
        return _said(
            f"{head}; torch's own code encodes its folder's name as UTF-8, and this one is not",
            "move or rename the environment to a folder whose name is valid UTF-8" + evidence.rests_on(proof),
            evidence.diagnosis(evidence.INTERPRETER_ENVIRONMENT, proof),
        )
    summary = checks_install.stack_record("none")
    damage = checks_install.damage_findings(named_first(summary, text))
    if damage:
        words, fixes, proof = damage
        return _said(
            f"{head}; the install is damaged: {words[0]}",
            "reinstall what is damaged: " + "; ".join(fixes) + evidence.rests_on(proof),
            evidence.diagnosis(evidence.INSTALL_DAMAGED, proof),
        )
    missing = summary.get("missing_dependencies") or []
    if missing:
        proof = [checks_install._missing_words(m) for m in missing]
        fixes = [remedies.pip_install(f"{m['name']}{m['spec'] or ''}") for m in missing]
        return _said(
            f"{head}; {'; '.join(proof)}",
            "install what is missing: " + "; ".join(fixes) + evidence.rests_on(proof),
            evidence.diagnosis(evidence.DEPENDENCY_MISSING, proof),
        )
    older = _VERSION_NOT_FOUND.search(text)
    if older:  # a library the loader took from elsewhere, too old for what torch's own libraries need (a conda libstdc++)
        library, needed, requester = older.groups()
        why, entry = loader.why(library, os.path.basename(library), [requester], dict(os.environ))
        proof = [f"{library} lacks the symbol version {needed} that {requester} needs", f"the loader took it from {why}"]
        fix = checks_install._undo({"why": why, "entry": entry, "loaded": library})
        return _said(
            f"{head}; the loader took {os.path.basename(library)} from {why}, and it is older than torch's libraries need ({needed})",
            fix + ", so the loader takes a copy new enough (the system's, or the environment's own)" + evidence.rests_on(proof),
            evidence.diagnosis(evidence.LIBRARY_ELSEWHERE, proof),
        )
    if any(sign in text.lower() for sign in LOADER_SIGNS):
        bundled = summary.get("libraries") or {}
        elsewhere = loader.foreign(bundled, loader.mapped(), dict(os.environ)) or _foreign_from_replay(bundled)
        if elsewhere:
            proof = [f"{f['library']} was taken from {f['loaded']} ({f['why']}); torch's stack ships {f['bundled']}" for f in elsewhere[:3]]
            fixes = [checks_install._undo(f) for f in elsewhere[:3]]
            return _said(
                f"{head}; the loader took a library torch ships from elsewhere: {proof[0]}",
                "; ".join(dict.fromkeys(fixes)) + evidence.rests_on(proof),
                evidence.diagnosis(evidence.LIBRARY_ELSEWHERE, proof),
            )
    checked = summary.get("files_checked", 0)
    ruled_out = [
        f"{checked} files of torch's stack match pip's RECORD sizes",
        "no resource limit was hit",
        "no library torch ships came from elsewhere",
    ]
    step = evidence.import_next_step()
    return _said(
        f"{head}; {evidence.NOT_IDENTIFIED_WORDS} ({'; '.join(ruled_out)})",
        f"{evidence.NOT_IDENTIFIED_WORDS}: {step}",
        evidence.diagnosis(evidence.NOT_IDENTIFIED, ruled_out, next_step=step),
    )


def _said(error: str, remedy: str, diagnosis: dict[str, Any]) -> dict[str, Any]:
    return {"error": error, "remedy": remedy, "diagnosis": diagnosis}
