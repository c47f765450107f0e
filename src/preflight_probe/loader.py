"""Which file the dynamic loader took for a library, and why: LD_PRELOAD, RPATH, LD_LIBRARY_PATH, RUNPATH,
a conda or environment-module prefix, the system default, or a load by full path (stdlib only).

What this process really mapped comes from ``/proc/self/maps``; why a file was taken comes from the
loader's own order (glibc ld.so): LD_PRELOAD first, a soname already loaded is reused, then the
requesting object's DT_RPATH (when it has no DT_RUNPATH, its loaders' too), LD_LIBRARY_PATH, its
DT_RUNPATH, /etc/ld.so.cache, the default folders. ``replay`` asks the real loader instead
(``LD_DEBUG=libs``), for a failure worth a second import.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from typing import Any

from preflight_probe import elf

DEFAULT_DIRS = (
    "/lib64",
    "/usr/lib64",
    "/lib",
    "/usr/lib",
    "/lib/x86_64-linux-gnu",
    "/usr/lib/x86_64-linux-gnu",
    "/lib/aarch64-linux-gnu",
    "/usr/lib/aarch64-linux-gnu",
)
LIBRARY_IN_TEXT = re.compile(r"((?:/[^\s:'\"]+/)?lib[\w.+-]*?\.so(?:\.[\w.]+)?)")
_CACHE: dict[str, str] | None = None


def mapped(maps: str = "/proc/self/maps") -> list[str]:
    """Shared libraries this process has mapped, in first-mapped order; [] where /proc is not there."""
    seen: dict[str, None] = {}
    try:
        with open(maps, encoding="utf-8", errors="surrogateescape") as handle:
            for line in handle:
                parts = line.split(None, 5)
                if len(parts) == 6 and ".so" in parts[5]:
                    seen.setdefault(parts[5].rstrip("\n").replace(" (deleted)", ""), None)
    except OSError:
        return []
    return list(seen)


def stem(name: str) -> str:
    """'libgomp.so.1.0.0' -> 'libgomp.so' (what the sonames of one library share)."""
    base = os.path.basename(name)
    return base[: base.index(".so") + 3] if ".so" in base else base


def ld_cache() -> dict[str, str]:
    """soname -> path from ``ldconfig -p`` (the system's /etc/ld.so.cache); {} where there is none."""
    global _CACHE
    if _CACHE is None:
        _CACHE = {}
        for command in (["ldconfig", "-p"], ["/sbin/ldconfig", "-p"]):
            try:
                out = subprocess.run(command, capture_output=True, text=True, timeout=5, check=False).stdout
            except (OSError, subprocess.SubprocessError):
                continue
            for line in out.splitlines():
                name, sep, path = line.strip().partition(" => ")
                if sep:
                    _CACHE.setdefault(name.split(" (")[0], path.strip())
            break
    return _CACHE


def _env_list(name: str, env: dict[str, str]) -> list[str]:
    return [p for p in re.split(r"[:\s]+" if name == "LD_PRELOAD" else r":", env.get(name, "")) if p]


def prefix_of(folder: str, env: dict[str, str]) -> str | None:
    """Who put ``folder`` on a search path: the conda environment, or an environment module that names it."""
    for var in ("CONDA_PREFIX", "CONDA_PREFIX_1", "VIRTUAL_ENV"):
        prefix = env.get(var)
        if prefix and _under(folder, prefix):
            return (
                f"the conda environment's prefix ({var}={prefix})"
                if var.startswith("CONDA")
                else f"the virtual environment ({var}={prefix})"
            )
    names = _env_list("LOADEDMODULES", env)
    for index, modulefile in enumerate(_env_list("_LMFILES_", env)):  # the two lists run in the same order
        try:
            with open(modulefile, encoding="utf-8", errors="replace") as handle:
                if folder.rstrip("/") in handle.read():
                    name = names[index] if index < len(names) else modulefile
                    return f"the environment module {name} ({modulefile})"
        except OSError:
            continue
    return None


def _under(path: str, folder: str) -> bool:
    a, b = os.path.realpath(path), os.path.realpath(folder)
    return a == b or a.startswith(b.rstrip("/") + "/")


def search(soname: str, requester: str | None, env: dict[str, str], chain: tuple[str, ...] = ()) -> list[tuple[str, str]]:
    """(candidate file, why) in the order glibc's loader tries them for ``soname`` needed by ``requester``."""
    found: list[tuple[str, str]] = []
    if "/" in soname:
        return [(soname, "a full path")]
    info = elf.dynamic(requester) if requester else None
    if requester and info and not info["runpath"]:
        for owner in (requester, *chain):
            owner_info = info if owner == requester else elf.dynamic(owner)
            for entry in (owner_info or {}).get("rpath", []):
                found.append((os.path.join(elf.expand(entry, owner), soname), f"the RPATH of {owner}"))
    for entry in _env_list("LD_LIBRARY_PATH", env):
        found.append((os.path.join(entry, soname), "LD_LIBRARY_PATH"))
    if requester:
        for entry in (info or {}).get("runpath", []):
            found.append((os.path.join(elf.expand(entry, requester), soname), f"the RUNPATH of {requester}"))
    cached = ld_cache().get(soname)
    if cached:
        found.append((cached, "the system default (/etc/ld.so.cache)"))
    found.extend((os.path.join(d, soname), "the system default folders") for d in DEFAULT_DIRS)
    return found


def why(path: str, soname: str, requesters: list[str], env: dict[str, str]) -> tuple[str, str | None]:
    """(why the loader took ``path`` for ``soname``, the LD_PRELOAD / LD_LIBRARY_PATH / RPATH entry that did it)."""
    real = os.path.realpath(path)
    for entry in _env_list("LD_PRELOAD", env):
        if os.path.realpath(entry) == real or os.path.basename(entry) in (soname, os.path.basename(path)):
            return f"LD_PRELOAD={env.get('LD_PRELOAD')}", entry
    # torch's own libraries first, then the interpreter itself (a dlopen by name from Python: ctypes, a package)
    for requester in [*requesters, sys.executable]:
        for candidate, reason in search(soname, requester, env):
            if not os.path.exists(candidate):
                continue
            if os.path.realpath(candidate) != real:
                break
            folder = os.path.dirname(candidate)
            owner = prefix_of(folder, env)
            set_by = f", set by {owner}" if owner else ""
            if reason == "LD_LIBRARY_PATH":
                return f"LD_LIBRARY_PATH{set_by} (entry {folder})", folder
            return f"{reason}{' (in ' + owner + ')' if owner else ''}", folder
    owner = prefix_of(os.path.dirname(path), env)
    if owner:
        return f"loaded by full path from {owner}", None
    return (
        "loaded by full path before torch asked for it (a dlopen or ctypes.CDLL of that file, e.g. from another package or a sitecustomize)",
        None,
    )


def foreign(bundled: dict[str, str], loaded: list[str], env: dict[str, str]) -> list[dict[str, Any]]:
    """Libraries torch's stack ships (``bundled``: file name -> path) that this process loaded from elsewhere."""
    by_stem: dict[str, list[str]] = {}
    for name in bundled:
        by_stem.setdefault(stem(name), []).append(name)
    found: list[dict[str, Any]] = []
    shipped: set[tuple[int, int]] | None = None
    for path in loaded:
        base = os.path.basename(path)
        names = [base] if base in bundled else by_stem.get(stem(base), [])
        if not names:
            continue
        if shipped is None:  # one stat per file (realpath would lstat every folder of every path)
            shipped = {key for key in (_identity(p) for p in bundled.values()) if key}
        if _identity(path) in shipped:
            continue
        info = elf.dynamic(path) if names else None
        soname = (info or {}).get("soname") or base
        match = next((n for n in names if n in (soname, base)), None)
        if match is None:
            continue
        requesters = [p for p in loaded if soname in ((elf.dynamic(p) or {}).get("needed") or [])] if _could_need(loaded) else []
        reason, entry = why(path, soname, requesters, env)
        found.append(
            {"library": soname, "loaded": path, "bundled": bundled[match], "why": reason, "entry": entry, "needed_by": requesters[:3]}
        )
    return found


def _identity(path: str) -> tuple[int, int] | None:
    try:
        info = os.stat(path)
    except OSError:
        return None
    return info.st_dev, info.st_ino


def _could_need(loaded: list[str]) -> bool:
    return len(loaded) < 4000  # reading each mapped object's dynamic section is cheap; a bound all the same


def replay(python: str, env: dict[str, str], timeout_s: float = 60.0, code: str = "import torch") -> dict[str, dict[str, str]]:
    """soname -> {"file", "why"} as the real loader resolved them (``LD_DEBUG=libs``); {} where it says nothing (not glibc)."""
    try:
        done = subprocess.run(
            [python, "-c", code],
            env={**env, "LD_DEBUG": "libs"},
            capture_output=True,
            text=True,
            errors="replace",
            timeout=timeout_s,
            check=False,
        )
    except (OSError, subprocess.SubprocessError):
        return {}
    taken: dict[str, dict[str, str]] = {}
    library = reason = None
    for raw in done.stderr.splitlines():
        line = raw.split(":", 1)[1].strip() if ":" in raw and raw.split(":", 1)[0].strip().isdigit() else raw.strip()
        if line.startswith("find library="):
            library, reason = line[len("find library=") :].split(" ", 1)[0], None
        elif line.startswith("search path=") and "(" in line:
            reason = line[line.rindex("(") + 1 : line.rindex(")")] if line.endswith(")") else reason
        elif line.startswith("search cache="):
            reason = "the system default (" + line[len("search cache=") :] + ")"
        elif line.startswith("trying file=") and library:
            taken[library] = {"file": line[len("trying file=") :], "why": reason or "?"}
    return taken


def named_libraries(text: str) -> list[str]:
    """Library file names (with their folder when given) a loader error mentions, in order."""
    return list(dict.fromkeys(m.group(1) for m in LIBRARY_IN_TEXT.finditer(text)))
