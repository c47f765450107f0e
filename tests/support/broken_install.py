"""Broken installs made from the real torch: a hard-linked copy of the dev venv's stack, then one thing broken.

A hard link costs no disk and no copy time (~25,000 links for torch, torchvision, numpy and their CUDA
wheels), and a damaged file is first unlinked and then written, so the real install is never touched.
The venv reaches only the copy, so every file pip's RECORD lists is the copy's.
"""

from __future__ import annotations

import csv
import errno
import os
import shutil
from pathlib import Path

from preflight_probe import install_record
from tests.support.broken_runtimes import SITE, Runtime, Unavailable, venv_reaching

ROOTS = ("torch", "torchvision", "numpy")


def linked_stack(root: Path) -> tuple[Path, Path]:
    """(python, site): a venv whose only site dir is a hard-linked copy of the dev venv's torch stack."""
    site = root / "linked-site"
    dists, _ = install_record.closure(ROOTS, [str(SITE)])
    if not any(d["name"] == "torch" for d in dists):
        raise Unavailable(f"no torch distribution in {SITE} to copy")
    for dist in dists:
        meta = Path(dist["metadata"])
        text = (meta / "RECORD").read_text(encoding="utf-8")
        for row in csv.reader(text.splitlines()):
            if not row or row[0].startswith(("..", "/")):
                continue
            _link(SITE / row[0], site / row[0])
        for extra in meta.iterdir():  # RECORD itself and what pip wrote after it (INSTALLER, REQUESTED, direct_url.json)
            _link(extra, site / meta.name / extra.name)
    python, _ = venv_reaching(root / "venv", site)
    return python, site


def _link(source: Path, target: Path) -> None:
    if target.exists() or not source.exists():
        return
    if source.is_dir():  # virtualenv's seeded RECORDs list folders too (_distutils_hack/__pycache__): a folder is made, not linked
        target.mkdir(parents=True, exist_ok=True)
        return
    target.parent.mkdir(parents=True, exist_ok=True)
    try:
        os.link(source, target)
    except OSError as exc:
        if exc.errno in (errno.EXDEV, errno.EPERM):
            raise Unavailable(f"cannot hard-link {source} into {target.parent} ({exc.strerror}): needs one filesystem") from None
        raise


def replace(path: Path, data: bytes) -> None:
    """Write ``data`` as a new file at ``path``: unlink first, so the real install behind a hard link is untouched."""
    path.unlink()
    path.write_bytes(data)


def truncated_library(root: Path, library: str = "torch/lib/libc10.so") -> Runtime:
    """The real torch with one of its shared libraries cut to a third (an interrupted copy or a full disk)."""
    python, site = linked_stack(root)
    target = site / library
    data = target.read_bytes()
    replace(target, data[: len(data) // 3])
    return Runtime(python, {}, {"site": str(site), "file": library, "size": str(len(data) // 3), "expected": str(len(data))})


def missing_file(root: Path, rel: str = "torch/_tensor_str.py") -> Runtime:
    """The real torch stack with one file pip installed deleted (a cleanup script, an interrupted upgrade)."""
    python, site = linked_stack(root)
    (site / rel).unlink()
    return Runtime(python, {}, {"site": str(site), "file": rel})


def dependency_not_installed(root: Path, name: str = "sympy") -> Runtime:
    """The real torch stack without one of torch's runtime dependencies (a `pip uninstall` too many)."""
    python, site = linked_stack(root)
    dist = next(site.glob(f"{name}-*.dist-info"), None)
    if dist is None:
        raise Unavailable(f"{name} is not part of the dev venv's torch stack")
    for row in csv.reader((dist / "RECORD").read_text(encoding="utf-8").splitlines()):
        path = site / row[0]
        if row and path.is_file():
            path.unlink()
    shutil.rmtree(dist)
    for folder in sorted({p for p in site.glob(f"{name}*") if p.is_dir()}, reverse=True):
        shutil.rmtree(folder, ignore_errors=True)
    return Runtime(python, {}, {"site": str(site), "name": name})


def record_missing(root: Path) -> Runtime:
    """The real torch stack whose torch dist-info lost its RECORD (a hand-copied site-packages)."""
    python, site = linked_stack(root)
    dist = next(site.glob("torch-*.dist-info"))
    (dist / "RECORD").unlink()
    return Runtime(python, {}, {"site": str(site), "dist": dist.name})


def changed_in_place(root: Path, rel: str) -> tuple[Path, Path]:
    """The stack with one file's bytes changed but not its size (bit rot, an in-place patch): (python, site)."""
    python, site = linked_stack(root)
    target = site / rel
    data = bytearray(target.read_bytes())
    middle = len(data) // 2
    data[middle] = (data[middle] + 1) % 256
    replace(target, bytes(data))
    return python, site


def leftover_metadata(root: Path, version: str = "2.13.0+cpu") -> Runtime:
    """The real torch stack with a second torch metadata folder beside torch's own, listing files of another build
    (a pip install over a conda one, an interrupted upgrade): its RECORD's sizes are not the files' on disk."""
    python, site = linked_stack(root)
    live = next(site.glob("torch-*.dist-info"))
    stale = site / f"torch-{version}.dist-info"
    stale.mkdir()
    for item in live.iterdir():
        if not item.is_file():
            continue  # licenses/: nothing the verdict reads
        text = item.read_text(encoding="utf-8", errors="replace")
        if item.name == "METADATA":
            text = "".join(f"Version: {version}\n" if line.startswith("Version:") else line for line in text.splitlines(keepends=True))
        elif item.name == "RECORD":
            rows = [
                # another build's files: none of these sizes is on disk
                f"{row[0]},,{int(row[2]) + 1}" if len(row) == 3 and row[2].isdigit() else ",".join(row)
                for row in csv.reader(text.splitlines())
            ]
            text = "\n".join(rows) + "\n"
        (stale / item.name).write_text(text, encoding="utf-8")
    return Runtime(python, {}, {"site": str(site), "stale": str(stale), "live": live.name})
