"""Runtimes whose process is confined: resource limits, cgroup limits, a small /dev/shm, private namespaces.

Each is a real confinement of the diagnosed interpreter only (the orchestrator, like a scheduler's
prolog, stays outside): a ``--python`` wrapper that sets ``ulimit`` and execs the real interpreter; a
cgroup made for the test (cgroup v1 or v2, whichever this kernel gives the controller) that the
wrapper joins before it execs; ``unshare`` for a private mount, cgroup, UTS or PID namespace. They need
root and a writable cgroup hierarchy: without them a builder raises ``Unavailable`` saying which.
"""

from __future__ import annotations

import os
import shlex
import shutil
import sys
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from pathlib import Path

from tests.support.broken_runtimes import Runtime, Unavailable

CGROUP_ROOT = Path("/sys/fs/cgroup")


def wrapper(root: Path, lines: list[str], name: str = "python") -> Path:
    """A ``--python`` that runs ``lines`` (POSIX sh) and then execs the real interpreter with its arguments."""
    if os.name != "posix":
        raise Unavailable("the confining wrapper is a POSIX shell script")
    script = root / "bin" / name
    script.parent.mkdir(parents=True, exist_ok=True)
    body = "\n".join(lines)
    script.write_text(f'#!/bin/sh\n{body}\nexec {shlex.quote(sys.executable)} "$@"\n', encoding="utf-8")
    script.chmod(0o755)
    return script


def limited(root: Path, **ulimits: str) -> Runtime:
    """The real interpreter under ``ulimit`` flags (``n="64"``, ``v="3000000"``, ``s="100"``, ``f="1024"``)."""
    lines = [f"ulimit -{flag} {value} || exit 97" for flag, value in ulimits.items()]
    return Runtime(wrapper(root, lines), {}, {f"ulimit -{k}": v for k, v in ulimits.items()})


def _require_root() -> None:
    if not hasattr(os, "geteuid") or os.geteuid() != 0:
        raise Unavailable("needs root to make cgroups and namespaces")


def _own_cgroup(controller: str) -> tuple[Path, str] | None:
    """(this process's folder in ``controller``'s hierarchy, version) where it is mounted and writable."""
    text = Path("/proc/self/cgroup").read_text(encoding="utf-8")
    for line in text.splitlines():
        hierarchy, controllers, path = line.split(":", 2)
        if controller in controllers.split(","):
            folder = CGROUP_ROOT / controller
            if not folder.is_dir():
                folder = next((p for p in CGROUP_ROOT.iterdir() if controller in p.name.split(",")), folder)
            target = folder / path.lstrip("/")
            return (target, "v1") if target.is_dir() and os.access(target, os.W_OK) else None
        if hierarchy == "0":
            for mount in (CGROUP_ROOT, CGROUP_ROOT / "unified"):
                if controller in (_read(mount / "cgroup.controllers") or "").split():
                    target = mount / path.lstrip("/")
                    return (target, "v2") if os.access(target, os.W_OK) else None
    return None


def _read(path: Path) -> str | None:
    try:
        return path.read_text(encoding="utf-8")
    except OSError:
        return None


@contextmanager
def cgroup(controller: str, settings: dict[str, dict[str, str]]) -> Iterator[tuple[Path, str]]:
    """A fresh child cgroup of this process's own for ``controller`` with ``settings`` (version -> file -> value),
    removed afterwards; yields (its folder, the version the kernel gives this controller)."""
    _require_root()
    own = _own_cgroup(controller)
    if own is None:
        raise Unavailable(f"no writable cgroup hierarchy with the {controller} controller for this process")
    parent, version = own
    if version not in settings:
        raise Unavailable(f"the {controller} controller is cgroup {version} here; this case is written for {', '.join(settings)}")
    folder = parent / f"preflight-test-{uuid.uuid4().hex[:8]}"
    try:
        folder.mkdir()
    except OSError as exc:
        raise Unavailable(f"cannot create a cgroup under {parent}: {exc.strerror}") from None
    try:
        if version == "v2":
            (parent / "cgroup.subtree_control").write_text(f"+{controller}")
        for name, value in settings[version].items():
            (folder / name).write_text(value)
        yield folder, version
    finally:
        for leftover in (_read(folder / "cgroup.procs") or "").split():  # a worker the preflight left running
            with suppress(OSError):
                os.kill(int(leftover), 9)
        for _ in range(50):  # the killed worker leaves the cgroup a moment after its signal
            try:
                folder.rmdir()
                break
            except OSError:
                time.sleep(0.1)


def in_cgroup(root: Path, folder: Path, name: str = "python") -> Path:
    """A ``--python`` that moves itself into ``folder`` and then execs the real interpreter."""
    return wrapper(root, [f"echo $$ > {shlex.quote(str(folder / 'cgroup.procs'))} || exit 98"], name)


def small_shm(root: Path, size: str = "64m") -> Runtime:
    """The interpreter in a private mount namespace whose /dev/shm is a ``size`` tmpfs (Docker's default is 64 MiB)."""
    _require_root()
    if shutil.which("unshare") is None:
        raise Unavailable("needs unshare (util-linux)")
    inner = f'mount -t tmpfs -o size={size} tmpfs /dev/shm && exec {shlex.quote(sys.executable)} "$@"'
    script = root / "bin" / "python"
    script.parent.mkdir(parents=True, exist_ok=True)
    script.write_text(f'#!/bin/sh\nexec unshare --mount --propagation private sh -c {shlex.quote(inner)} sh "$@"\n', encoding="utf-8")
    script.chmod(0o755)
    return Runtime(script, {}, {"size": size})


def namespaced(root: Path, flags: tuple[str, ...] = ("--mount", "--uts", "--ipc", "--cgroup", "--pid", "--fork")) -> Runtime:
    """The interpreter in fresh namespaces (a container with no limits): what a healthy container looks like."""
    _require_root()
    if shutil.which("unshare") is None:
        raise Unavailable("needs unshare (util-linux)")
    script = root / "bin" / "python"
    script.parent.mkdir(parents=True, exist_ok=True)
    script.write_text(f'#!/bin/sh\nexec unshare {" ".join(flags)} {shlex.quote(sys.executable)} "$@"\n', encoding="utf-8")
    script.chmod(0o755)
    return Runtime(script, {}, {"flags": " ".join(flags)})
