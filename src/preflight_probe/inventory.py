"""Every distribution this interpreter can import: name, version and where it came from. Stdlib only.

Built from the directory listings the distribution scan already made (``distributions._names``: one
listing per ``sys.path`` entry, cached): a wheel's ``name-version.dist-info`` folder names both, so
nothing is opened per package except an ``.egg-info`` without a version in its name. An editable
install is told by its ``direct_url.json`` (PEP 610, one stat per distribution) or an ``.egg-link``;
conda packages that no installer put in site-packages (the CUDA toolkit, MKL, NCCL) come from
``conda-meta/``'s file names (``name-version-build.json``).
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import site
import sys
from typing import Any

from preflight_probe import distributions

META = (".dist-info", ".egg-info", ".egg-link")


def normal(name: str) -> str:
    """The PEP 503 name: ``PyYAML`` and ``pyyaml``, ``typing_extensions`` and ``typing-extensions`` are one package."""
    return re.sub(r"[-_.]+", "-", name).lower()


def _header_version(path: str) -> str | None:
    """``Version:`` from the head of a METADATA / PKG-INFO file (read no further than its first 8 KiB)."""
    try:
        with open(path, encoding="utf-8", errors="replace") as handle:
            head = handle.read(8192)
    except OSError:
        return None
    for line in head.splitlines():
        if not line.strip():
            break
        if line.lower().startswith("version:"):
            return line.split(":", 1)[1].strip() or None
    return None


def _from_name(meta: str) -> tuple[str, str | None]:
    """(name, version) from a metadata folder's name; the version from its file where the name has none."""
    base = os.path.basename(meta)
    stem = base.rsplit(".", 1)[0]
    parts = stem.split("-")
    name = parts[0]
    version = parts[1] if len(parts) > 1 and parts[1][:1].isdigit() else None
    if version is None and base.endswith(".dist-info"):
        version = _header_version(os.path.join(meta, "METADATA"))
    elif version is None and base.endswith(".egg-info"):
        version = _header_version(os.path.join(meta, "PKG-INFO") if os.path.isdir(meta) else meta)
    return name, version


def _editable(meta: str) -> str | None:
    """The source folder of an editable install (PEP 610 ``direct_url.json``), else None."""
    url_file = os.path.join(meta, "direct_url.json")
    if not os.path.exists(url_file):
        return None
    try:
        with open(url_file, encoding="utf-8") as handle:
            document = json.load(handle)
    except (OSError, ValueError):
        return None
    if not isinstance(document, dict) or not (document.get("dir_info") or {}).get("editable"):
        return None
    url = str(document.get("url") or "")
    return url[len("file://") :] if url.startswith("file://") else url or None


def _egg_link(path: str) -> str | None:
    """The source folder a legacy ``setup.py develop`` link points at (its first line)."""
    try:
        with open(path, encoding="utf-8", errors="replace") as handle:
            return handle.readline().strip() or None
    except OSError:
        return None


def _user_site() -> str | None:
    try:
        return os.path.abspath(site.getusersitepackages()) if site.ENABLE_USER_SITE else None
    except Exception:  # a site module replaced by an embedding application
        return None


def _source(base: str, origins: dict[str, str], user_site: str | None) -> tuple[str, str | None]:
    """(how ``base`` got on sys.path, the .pth file that added it)."""
    added = origins.get(base)
    if added == "PYTHONPATH":
        return "pythonpath", None
    if added:
        return "pth", added
    if base == user_site:
        return "user-site", None
    if base.endswith(("site-packages", "dist-packages")):
        return "site-packages", None
    return "sys-path", None


def _conda(prefix: str) -> list[tuple[str, str]]:
    """(name, version) of every package conda installed into ``prefix`` (the file names of ``conda-meta/``)."""
    found = []
    for path in distributions._names(os.path.join(prefix, "conda-meta"), (".json",)):
        parts = os.path.basename(path)[: -len(".json")].rsplit("-", 2)
        if len(parts) == 3:
            found.append((parts[0], parts[1]))
    return found


def scan(limit: int) -> dict[str, Any]:
    """The inventory's distributions, listed under the sys.path entry that holds each (a name under two entries: the
    first wins an import): at most ``limit`` by name, the rest counted in ``omitted`` and folded into ``digest``."""
    origins = distributions.pth_sources()
    user_site = _user_site()
    folders: list[tuple[str, list[str]]] = []
    seen_dirs: set[str] = set()
    for entry in sys.path:
        base = os.path.abspath(entry or ".")
        real = os.path.realpath(base)  # one folder reached twice (a symlinked prefix) is one install
        if real not in seen_dirs:
            seen_dirs.add(real)
            folders.append((base, distributions._names(base, META)))
    # ``setup.py develop``: NAME.egg-link in site-packages names the source folder whose NAME.egg-info is on sys.path
    linked = {os.path.abspath(_egg_link(m) or ""): m for _, metas in folders for m in metas if m.endswith(".egg-link")}
    paths: list[dict[str, Any]] = []
    entries: list[dict[str, Any]] = []
    seen_names: set[str] = set()
    for base, listed in folders:
        metas = [m for m in listed if not m.endswith(".egg-link")]
        if not metas:
            continue
        source, added_by = _source(base, origins, user_site)
        at = len(paths)
        paths.append({"path": base, "source": source, "added_by": added_by})
        for meta in metas:
            name, version = _from_name(meta)
            record: dict[str, Any] = {"name": normal(name), "version": version, "at": at}
            editable = _editable(meta) if meta.endswith(".dist-info") else (base if base in linked else None)
            if editable:
                record["editable"] = editable
            seen_names.add(record["name"])
            entries.append(record)
    conda = [(normal(n), v) for n, v in _conda(sys.prefix) if normal(n) not in seen_names]
    if conda:
        at = len(paths)
        paths.append({"path": os.path.join(sys.prefix, "conda-meta"), "source": "conda-meta", "added_by": None})
        entries.extend({"name": n, "version": v, "at": at} for n, v in conda)
    entries.sort(key=lambda e: (e["name"], e["at"]))
    everything = "\n".join(f"{e['name']}=={e['version']}@{paths[e['at']]['source']}" for e in entries)
    kept = entries[:limit]
    for e in kept:  # each path lists its own: name -> version (a list where one folder holds two)
        place = paths[e["at"]]
        here = place.setdefault("distributions", {})
        here[e["name"]] = [*_as_list(here[e["name"]]), e["version"]] if e["name"] in here else e["version"]
        if e.get("editable"):
            place.setdefault("editable", {})[e["name"]] = e["editable"]
    return {
        "paths": [p for p in paths if "distributions" in p],
        "omitted": len(entries) - len(kept),
        "digest": hashlib.sha256(everything.encode("utf-8")).hexdigest()[:16],
    }


def _as_list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else [value]
