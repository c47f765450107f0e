"""Every installed copy of a package this interpreter can see, and the build each one really is.

``importlib.metadata.version`` answers with the first hit only; a second torch on
``PYTHONPATH`` or behind a ``.pth`` file stays invisible to it. This module walks
every ``sys.path`` entry, names each distribution with its version, path, wheel
tag and the site-packages entry that put it there, and reads an extension's real
build from the CUDA/ROCm libraries it links against (ELF ``DT_NEEDED``, or the
library names inside the binary where it is not ELF). Stdlib only.
"""

from __future__ import annotations

import contextlib
import glob
import importlib.util
import os
import re
import sys
from typing import Any

from preflight_probe import elf

_CUDART = re.compile(rb"(?:lib)?cudart(?:64_|\.so\.|[.-][0-9a-f]{8}\.so\.)(\d+)")
_HIP = re.compile(rb"libamdhip64\.so(?:\.(\d+))?")
_TORCH_ACCEL = re.compile(rb"(?:lib)?(?:c10|torch)_(cuda|hip)\.(?:so|dll|dylib)")


def _normal(name: str) -> str:
    return re.sub(r"[-_.]+", "_", name).lower()


def _read_text(path: str) -> str:
    try:
        with open(path, encoding="utf-8", errors="replace") as handle:
            return handle.read()
    except OSError:
        return ""


def _header(text: str, key: str) -> list[str]:
    prefix = key.lower() + ":"
    found = []
    for line in text.splitlines():
        if not line.strip():
            break  # the body (long description) starts after the first blank line
        if line.lower().startswith(prefix):
            found.append(line.split(":", 1)[1].strip())
    return found


_LISTINGS: dict[str, tuple[int, list[str]]] = {}  # directory -> (its mtime, its sorted visible names)


def _names(directory: str, suffixes: tuple[str, ...]) -> list[str]:
    """Visible entries of ``directory`` ending with one of ``suffixes``, sorted: ``glob("*<suffix>")`` for each,
    from one listing per directory (re-read when the directory changes: an install between two checks)."""
    try:
        stamp = os.stat(directory).st_mtime_ns
    except OSError:
        return []
    cached = _LISTINGS.get(directory)
    if cached is None or cached[0] != stamp:
        try:
            names = sorted(name for name in os.listdir(directory) if not name.startswith("."))
        except OSError:
            names = []
        cached = _LISTINGS[directory] = (stamp, names)
    return [os.path.join(directory, name) for name in cached[1] if name.endswith(suffixes)]


def pth_sources() -> dict[str, str]:
    """sys.path entry -> the .pth file (or PYTHONPATH) that put it there."""
    origin: dict[str, str] = {}
    for entry in os.environ.get("PYTHONPATH", "").split(os.pathsep):
        if entry:
            origin.setdefault(os.path.abspath(entry), "PYTHONPATH")
    for entry in list(sys.path):
        for pth in _names(entry or ".", (".pth",)):
            for raw in _read_text(pth).splitlines():
                line = raw.strip()
                if not line or line.startswith(("#", "import ", "import\t")):
                    continue
                target = os.path.abspath(os.path.join(os.path.dirname(pth), line))
                origin.setdefault(target, pth)
    return origin


RECORD_SAMPLE = 64  # rows of a RECORD compared by size to tell which of two metadata folders the files belong to


def record_agreement(meta_dir: str, base: str, sample: int = RECORD_SAMPLE) -> int:
    """How many of the first ``sample`` sized rows of ``meta_dir``'s RECORD match the files under ``base`` by size."""
    matched = seen = 0
    for line in _read_text(os.path.join(meta_dir, "RECORD")).splitlines():
        parts = line.rsplit(",", 2)
        if len(parts) != 3 or not parts[2].strip().isdigit() or ".dist-info/" in parts[0]:
            continue
        seen += 1
        with contextlib.suppress(OSError):
            matched += os.stat(os.path.join(base, parts[0].strip('"'))).st_size == int(parts[2])
        if seen >= sample:
            break
    return matched


def live_metadata(meta_dirs: list[str], base: str) -> str:
    """Of several metadata folders of one project in one folder (an install over another tool's, an interrupted
    upgrade), the one whose RECORD the files on disk match; the others own nothing. Ties keep the first."""
    return max(meta_dirs, key=lambda meta_dir: record_agreement(meta_dir, base))


def find(name: str) -> list[dict[str, Any]]:
    """Every distribution of ``name`` on sys.path, in import order (the first one wins an import).

    Where one folder holds two metadata folders of ``name``, the one the files belong to comes first and the
    others are marked ``stale`` (with ``live_version``): deleting them, not uninstalling, is their remedy."""
    wanted = _normal(name)
    origins = pth_sources()
    found: list[dict[str, Any]] = []
    seen: set[str] = set()
    for index, entry in enumerate(sys.path):
        base = os.path.abspath(entry or ".")
        real = os.path.realpath(base)  # one directory reached twice (a symlinked prefix) is one install
        if real in seen or not os.path.isdir(base):
            continue
        seen.add(real)
        for meta_dir in _names(base, (".dist-info", ".egg-info")):
            stem = os.path.basename(meta_dir).rsplit(".", 1)[0]
            if _normal(stem.split("-", 1)[0]) != wanted:
                continue
            text = _read_text(os.path.join(meta_dir, "METADATA")) or _read_text(os.path.join(meta_dir, "PKG-INFO"))
            versions = _header(text, "Version")
            version = versions[0] if versions else None
            wheel = _read_text(os.path.join(meta_dir, "WHEEL"))
            found.append(
                {
                    "name": name,
                    "version": version,
                    "location": base,
                    "metadata": meta_dir,
                    "package_dir": os.path.join(base, name) if os.path.isdir(os.path.join(base, name)) else None,
                    "wheel_tags": _header(wheel, "Tag"),
                    "requires": [r for r in _header(text, "Requires-Dist") if _normal(re.split(r"[ ;<>=!(~\[]", r)[0]) == "torch"],
                    "sys_path_index": index,
                    "added_by": origins.get(base, "site-packages" if "-packages" in base else "sys.path"),
                }
            )
    return _mark_stale(found)


def _mark_stale(found: list[dict[str, Any]]) -> list[dict[str, Any]]:
    by_folder: dict[str, list[dict[str, Any]]] = {}
    for dist in found:
        by_folder.setdefault(os.path.realpath(dist["location"]), []).append(dist)
    ordered: list[dict[str, Any]] = []
    for dists in by_folder.values():
        if len(dists) == 1:
            ordered.extend(dists)
            continue
        live_dir = live_metadata([d["metadata"] for d in dists], dists[0]["location"])
        live = next(d for d in dists if d["metadata"] == live_dir)
        ordered.append(live)
        ordered.extend(dict(d, stale=True, live_version=live["version"]) for d in dists if d is not live)
    return ordered


def import_location(name: str, module: Any = None) -> str | None:
    """The directory ``import name`` uses (the imported module's, else the finder's answer without importing)."""
    path = getattr(module, "__file__", None) if module is not None else None
    if path is None:
        try:
            spec = importlib.util.find_spec(name)
        except (ImportError, ValueError):
            spec = None
        if spec is None:
            return None
        path = spec.origin if spec.origin not in (None, "namespace") else next(iter(spec.submodule_search_locations or []), None)
    if not path:
        return None
    return os.path.dirname(os.path.abspath(path)) if os.path.basename(path).startswith("__init__") else os.path.abspath(path)


# ---- the real build of a compiled extension ---------------------------------


def elf_needed(path: str) -> list[str] | None:
    """DT_NEEDED entries of an ELF shared object; None when ``path`` is not a readable ELF file."""
    found = elf.dynamic(path)
    return None if found is None else list(found["needed"])


def _scan_names(path: str, limit: int = 64 << 20) -> bytes:
    """Accelerator library names mentioned inside a non-ELF binary (a Mach-O dylib, a Windows .pyd)."""
    hits: list[bytes] = []
    try:
        with open(path, "rb") as handle:
            tail = b""
            read = 0
            while read < limit:
                chunk = handle.read(1 << 20)
                if not chunk:
                    break
                read += len(chunk)
                block = tail + chunk
                hits.extend(m.group(0) for m in _CUDART.finditer(block))
                hits.extend(m.group(0) for m in _HIP.finditer(block))
                hits.extend(m.group(0) for m in _TORCH_ACCEL.finditer(block))
                tail = block[-64:]
    except OSError:
        return b""
    return b" ".join(hits)


def extension_build(package_dir: str | None, stems: tuple[str, ...] = ("_C",)) -> dict[str, Any]:
    """What a package's compiled extension links against: ``{"build": "cuda 13" | "rocm" | "cpu" | None, ...}``."""
    if not package_dir:
        return {"build": None, "reason": "no package directory"}
    files: list[str] = []
    for stem in stems:
        for ext in ("*.so", "*.pyd", "*.dylib"):
            files.extend(sorted(glob.glob(os.path.join(package_dir, stem + ext))))
    if not files:
        return {"build": None, "reason": f"no compiled extension ({'/'.join(stems)}) in {package_dir}"}
    for path in files:
        needed = elf_needed(path)
        names = " ".join(needed).encode() if needed is not None else _scan_names(path)
        source = "ELF DT_NEEDED" if needed is not None else "library names in the binary"
        cuda = _CUDART.search(names)
        if cuda:
            return {"build": f"cuda {int(cuda.group(1))}", "extension": path, "links": cuda.group(0).decode(), "source": source}
        hip = _HIP.search(names)
        if hip:
            return {"build": "rocm", "extension": path, "links": hip.group(0).decode(), "source": source}
        family = _TORCH_ACCEL.search(names)  # CUDA/ROCm reached only through torch's own libraries
        if family:
            build = "rocm" if family.group(1) == b"hip" else "cuda"
            return {"build": build, "extension": path, "links": family.group(0).decode(), "source": source}
    return {"build": "cpu", "extension": files[0], "links": None, "source": "no CUDA/ROCm runtime among the linked libraries"}


def torch_build_from_files(package_dir: str | None) -> dict[str, Any]:
    """torch's build read from ``torch/version.py`` without importing torch."""
    text = _read_text(os.path.join(package_dir, "version.py")) if package_dir else ""
    cuda = re.search(r"^cuda\s*(?::[^=]*)?=\s*['\"]([0-9.]+)['\"]", text, re.M)
    hip = re.search(r"^hip\s*(?::[^=]*)?=\s*['\"]([0-9.]+)['\"]", text, re.M)
    if cuda:
        return {"build": f"cuda {cuda.group(1).split('.')[0]}", "cuda": cuda.group(1), "source": "torch/version.py"}
    if hip:
        return {"build": "rocm", "hip": hip.group(1), "source": "torch/version.py"}
    if text:
        return {"build": "cpu", "source": "torch/version.py (cuda = None)"}
    return {"build": None, "source": "torch/version.py not readable"}
