"""Verify torch, torchvision and their runtime dependencies against pip's RECORD (stdlib only).

pip writes, per distribution, a RECORD of every file it installed with its size and sha256. Checking
the files against it names a missing, truncated or changed file exactly, instead of inferring damage from
a crash. Sizes are one ``stat`` per file (about 0.1 s for torch and its CUDA wheels); hashes read every
byte (gigabytes), so they are asked for per level (``hash``: ``none``, ``compiled`` libraries, ``all``)
or for the one library a failure names, and stop at a time limit saying how far they got.
"""

from __future__ import annotations

import base64
import csv
import hashlib
import os
import re
import sys
import time
from typing import Any

from preflight_probe import markers
from preflight_probe.distributions import live_metadata
from preflight_probe.files import read_text as _read

ROOTS = ("torch", "torchvision")
MAX_PROBLEMS = 40  # per run: enough to name the damage, small enough for a pipe and a report
_COMPILED = re.compile(r"\.(so(\.\d+)*|pyd|dll|dylib)$")


def installed(paths: list[str] | None = None) -> dict[str, dict[str, Any]]:
    """normalized name -> the first distribution on ``paths`` (sys.path): what ``import`` and ``importlib.metadata`` see."""
    found: dict[str, dict[str, Any]] = {}
    for entry in paths if paths is not None else sys.path:
        base = os.path.abspath(entry or ".")
        try:
            names = sorted(os.listdir(base))
        except OSError:
            continue
        here: dict[str, list[str]] = {}
        for name in names:
            if name.endswith(".dist-info"):
                here.setdefault(markers.normal(name[: -len(".dist-info")].partition("-")[0]), []).append(name)
        for key, folders in here.items():
            if key in found:
                continue
            # Two metadata folders of one project here: the files belong to one of them; the other's RECORD would
            # call every file damaged and ask to reinstall the wrong version (deps.consistency names the stale one).
            chosen = folders[0] if len(folders) == 1 else os.path.basename(live_metadata([os.path.join(base, f) for f in folders], base))
            version = chosen[: -len(".dist-info")].partition("-")[2]
            found[key] = {"name": key, "version": version or None, "location": base, "metadata": os.path.join(base, chosen)}
    return found


def requirements(dist: dict[str, Any]) -> list[str]:
    text = _read(os.path.join(dist["metadata"], "METADATA")) or ""
    head = text.split("\n\n", 1)[0]
    return [line.split(":", 1)[1].strip() for line in head.splitlines() if line.lower().startswith("requires-dist:")]


def closure(roots: tuple[str, ...] = ROOTS, paths: list[str] | None = None) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """(the installed roots and every runtime dependency they need here, those required but not installed)."""
    available = installed(paths)
    wanted: dict[str, set[str]] = {}
    queue: list[tuple[str, tuple[str, ...], str | None, str | None]] = [(markers.normal(r), (), None, None) for r in roots]
    missing: list[dict[str, Any]] = []
    order: list[str] = []
    while queue:
        name, extras, spec, parent = queue.pop(0)
        dist = available.get(name)
        if dist is None:
            if parent is not None:  # a root that is not installed is deps.consistency's and torch.import's to say
                missing.append({"name": name, "spec": spec, "required_by": parent})
            continue
        seen = wanted.setdefault(name, set())
        new = set(extras) - seen if name in order else set(extras) | {""}
        if name not in order:
            order.append(name)
        if not new:
            continue
        seen.update(new)
        for line in requirements(dist):
            parsed = markers.parse(line)
            if parsed is None:
                continue
            child, child_extras, child_spec, marker = parsed
            if markers.holds(marker, tuple(sorted(e for e in new if e))) is True:
                queue.append(
                    (child, child_extras, child_spec, f"{name}{'[' + ','.join(sorted(e for e in new if e)) + ']' if any(new) else ''}")
                )
    unique = {m["name"]: m for m in missing if m["name"] not in available}
    return [available[n] for n in order], list(unique.values())


def _hash(path: str, deadline: float | None) -> str | None:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        while True:
            block = handle.read(1 << 20)
            if not block:
                break
            digest.update(block)
            if deadline is not None and time.monotonic() > deadline:
                return None
    return "sha256=" + base64.urlsafe_b64encode(digest.digest()).rstrip(b"=").decode()


def verify(dist: dict[str, Any], hash_mode: str = "none", only: set[str] | None = None, deadline: float | None = None) -> dict[str, Any]:
    """One distribution against its RECORD: ``{"files", "checked", "hashed", "problems", "record"}``."""
    record = os.path.join(dist["metadata"], "RECORD")
    out: dict[str, Any] = {"name": dist["name"], "version": dist["version"], "location": dist["location"], "record": record}
    text = _read(record)
    if text is None:
        installer = (_read(os.path.join(dist["metadata"], "INSTALLER")) or "").strip() or None
        out.update(record=None, installer=installer, problems=[], files=0, checked=0, hashed=0, libraries={})
        return out
    problems: list[dict[str, Any]] = []
    files = checked = hashed = skipped = 0
    libraries: dict[str, str] = {}
    base = dist["location"]
    try:  # stat relative to the site directory: the kernel walks its long path once, not 15,000 times
        folder: int | None = os.open(base, os.O_RDONLY | getattr(os, "O_DIRECTORY", 0)) if os.stat in os.supports_dir_fd else None
    except OSError:
        folder = None
    fast = hash_mode == "none" and only is None
    try:
        for line in text.splitlines():
            # a path with a comma or a quote is CSV-quoted; every other row splits at its last two commas (twice as fast)
            row = next(csv.reader([line]), []) if '"' in line else line.rsplit(",", 2)
            if len(row) < 3:
                continue
            rel, digest, size = row[0], row[1], row[2]
            files += 1
            if rel.startswith("lib", rel.rfind("/") + 1) and ".so" in rel and _COMPILED.search(rel):
                libraries.setdefault(rel[rel.rfind("/") + 1 :], os.path.normpath(os.path.join(base, rel)))
            if not digest or rel.endswith(".pyc") or "__pycache__/" in rel or rel.startswith(("..", "/")):
                # RECORD itself (no hash), bytecode the interpreter may rewrite, and console scripts outside the
                # site directory (bin/torchrun: where they land depends on the install scheme, and no import reads them)
                continue
            if only is not None and rel not in only:
                continue
            checked += 1
            if fast and folder is not None:
                try:  # the common case inline: one stat, one size comparison
                    if os.stat(rel, dir_fd=folder).st_size == int(size):
                        continue
                except (OSError, ValueError):
                    pass
            problem, did_hash, skip = _check(base, folder, rel, digest, size, hash_mode, only is not None, deadline)
            hashed += did_hash
            skipped += skip
            if problem:
                problems.append(problem)
    finally:
        if folder is not None:
            os.close(folder)
    out.update(files=files, checked=checked, hashed=hashed, problems=problems, libraries=libraries)
    if skipped:
        out["hash_skipped"] = skipped
    return out


def _check(
    base: str, folder: int | None, rel: str, digest: str, size: str, hash_mode: str, named: bool, deadline: float | None
) -> tuple[dict[str, Any] | None, int, int]:
    """(the problem with one RECORD entry or None, 1 if it was hashed, 1 if its hash was skipped for time)."""
    relative = folder is not None and not rel.startswith(("/", "..")) and ":" not in rel
    path = rel if rel.startswith("/") else os.path.join(base, rel)
    try:
        info = os.stat(rel, dir_fd=folder) if relative else os.stat(path)
    except OSError:
        return {"path": rel, "kind": "missing", "expected_size": int(size) if size.isdigit() else None}, 0, 0
    if size.isdigit() and info.st_size != int(size):
        return {"path": rel, "kind": "size", "expected_size": int(size), "size": info.st_size}, 0, 0
    if not (named or hash_mode == "all" or (hash_mode == "compiled" and _COMPILED.search(rel))):
        return None, 0, 0
    if deadline is not None and time.monotonic() > deadline:
        return None, 0, 1
    try:
        found = _hash(path, deadline)
    except OSError as exc:
        return {"path": rel, "kind": "unreadable", "error": str(exc)[:200]}, 0, 0
    if found is None:
        return None, 0, 1
    if found != digest:
        return {"path": rel, "kind": "hash", "expected": digest, "found": found}, 1, 0
    return None, 1, 0


def verify_stack(
    hash_mode: str = "none", roots: tuple[str, ...] = ROOTS, paths: list[str] | None = None, time_limit_s: float | None = None
) -> dict[str, Any]:
    """Every distribution of the stack against its RECORD, and the runtime dependencies required but not installed."""
    started = time.monotonic()
    deadline = started + time_limit_s if time_limit_s else None
    dists, missing = closure(roots, paths)
    results = [verify(d, hash_mode, deadline=deadline) for d in dists]
    problems = [{"distribution": r["name"], "version": r["version"], **p} for r in results for p in r["problems"]]
    summary = {
        "hash": hash_mode,
        "distributions": [{k: r.get(k) for k in ("name", "version", "files", "checked", "hashed")} for r in results],
        "files_checked": sum(r["checked"] for r in results),
        "files_hashed": sum(r["hashed"] for r in results),
        "problems": problems[:MAX_PROBLEMS],
        "problem_count": len(problems),
        "without_record": [
            {"name": r["name"], "version": r["version"], "location": r["location"], "installer": r["installer"]}
            for r in results
            if r["record"] is None
        ],
        "missing_dependencies": missing,
        "libraries": {name: path for r in results for name, path in r["libraries"].items()},
        "elapsed_ms": round((time.monotonic() - started) * 1000.0, 1),
    }
    skipped = sum(r.get("hash_skipped", 0) for r in results)
    if skipped:
        summary["hash_skipped"] = skipped
    return summary


def owner(problems: list[dict[str, Any]], filename: str) -> dict[str, Any] | None:
    """The RECORD problem about a file whose name is ``filename`` (a library the loader named), if any."""
    return next((p for p in problems if os.path.basename(p["path"]) == os.path.basename(filename)), None)


def words(problem: dict[str, Any]) -> str:
    """'torch/lib/libc10.so is 412345 bytes, its RECORD says 1237035 (torch 2.14.1)'."""
    where = f"{problem['path']} ({problem['distribution']} {problem['version']})"
    kind = problem["kind"]
    if kind == "missing":
        return f"{where} is listed in its RECORD but missing"
    if kind == "size":
        return f"{where} is {problem['size']} bytes, its RECORD says {problem['expected_size']}"
    if kind == "hash":
        return f"{where} has the right size but not the sha256 its RECORD lists (its content changed)"
    return f"{where} cannot be read: {problem.get('error')}"
