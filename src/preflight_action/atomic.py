"""Write files so a reader never sees half of one and a crash never loses the old one, and respect what a path is.

A regular file (or a new one) is written to a temporary file beside it and renamed over it; a symlink is
followed, so its target is replaced and the link stays a link. What is not a regular file is written in
place, never replaced: a device (``/dev/null``, ``/dev/full``), a FIFO, a socket, and this process's own
streams (``/dev/stdout``, ``/dev/stderr``, ``/dev/fd/N``, ``/proc/self/fd/N``, or a link to one), which are
written through the open descriptor so a shell's ``>>`` keeps appending. Renaming over any of those (as
root, over a device node) would replace the thing the user named with a plain file.
"""

from __future__ import annotations

import contextlib
import errno
import json
import os
import re
import signal
import stat
import sys
import tempfile
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

_OWN_FD = re.compile(r"^/(?:dev/fd|proc/self/fd|proc/(\d+)/fd)/(\d+)$")
_OWN_STREAMS = {"/dev/stdin": 0, "/dev/stdout": 1, "/dev/stderr": 2}
_MAX_LINKS = 40  # the kernel's own limit (ELOOP)


@dataclass(frozen=True)
class Destination:
    """Where writing ``path`` really goes: a regular file to replace, a thing to write in place, or an open descriptor."""

    path: str  # the file at the end of the symlinks (for ``fd``: the name the user gave)
    kind: str  # "file" (regular or not there yet: replaced atomically), "direct" (device, FIFO, socket), "fd"
    fd: int | None = None


def _own_fd(path: str) -> int | None:
    if path in _OWN_STREAMS:
        return _OWN_STREAMS[path]
    match = _OWN_FD.match(path)
    if match and (match.group(1) is None or int(match.group(1)) == os.getpid()):
        return int(match.group(2))
    return None


def destination(path: str | os.PathLike[str]) -> Destination:
    """Follow ``path``'s symlinks one hop at a time to what a write must go to (OSError ELOOP past 40 hops)."""
    current = os.path.abspath(os.fspath(path))
    for _ in range(_MAX_LINKS):
        fd = _own_fd(current)
        if fd is not None:
            return Destination(os.fspath(path), "fd", fd)
        parent, name = os.path.split(current)
        current = os.path.join(os.path.realpath(parent), name)  # the directories' links resolved, the last one by hand
        fd = _own_fd(current)
        if fd is not None:
            return Destination(os.fspath(path), "fd", fd)
        try:
            info = os.lstat(current)
        except (FileNotFoundError, NotADirectoryError):  # the writer says why it cannot be created, if it cannot
            return Destination(current, "file")  # a new file (a dangling link's target is created where it points)
        if stat.S_ISLNK(info.st_mode):
            target = os.readlink(current)
            if current.startswith("/proc/") and not target.startswith("/"):
                return Destination(current, "direct")  # a /proc link to a pipe or socket ("pipe:[123]"): open it as it is
            current = os.path.join(os.path.dirname(current), target)
            continue
        if stat.S_ISREG(info.st_mode) and not current.startswith("/proc/"):
            program = _program(current)
            if program:  # an output flag pointed at an interpreter (--output-path "$(which python)"): never replaced
                raise OSError(
                    errno.EEXIST, f"it is a program ({program}), not a file this tool writes: refusing to replace it", os.fspath(path)
                )
            return Destination(current, "file")
        return Destination(current, "direct")
    raise OSError(errno.ELOOP, os.strerror(errno.ELOOP), os.fspath(path))


# How a program's file starts: nothing this tool writes (JSON, Markdown, HTML, XML, text) starts so.
_PROGRAM_MAGIC = {
    b"\x7fELF": "ELF executable",
    b"\xcf\xfa\xed\xfe": "Mach-O executable",
    b"\xca\xfe\xba\xbe": "Mach-O universal executable",
    b"MZ": "Windows executable",
    b"#!": "script",
}


def _program(path: str) -> str | None:
    """What kind of program the regular file at ``path`` is, from its first bytes; None for anything else."""
    try:
        with open(path, "rb") as handle:
            head = handle.read(4)
    except OSError:
        return None  # unreadable: the write says why, if it fails
    return next((kind for magic, kind in _PROGRAM_MAGIC.items() if head.startswith(magic)), None)


def _write_all(fd: int, data: bytes) -> None:
    view = memoryview(data)
    while view:
        written = os.write(fd, view)
        view = view[written:]


def _umask_mode() -> int:
    """0o666 less the process umask: what ``open()`` would have given (mkstemp gives 0o600)."""
    mask = os.umask(0)
    os.umask(mask)
    return 0o666 & ~mask


@contextlib.contextmanager
def _sigint_deferred() -> Iterator[None]:
    """Ctrl-C waits until the block is done, then reaches whatever handler was there: a write is never left half done
    (a temporary file behind, a rename not made). Only the main thread has signal handlers; elsewhere nothing changes."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    caught: list[int] = []
    previous = signal.signal(signal.SIGINT, lambda signum, frame: caught.append(signum))
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, previous)
        if caught:
            signal.raise_signal(signal.SIGINT)


def replace_file(target: str | os.PathLike[str], fill: Callable[[IO[bytes]], object]) -> Path:
    """Write ``target`` (a regular file, or none yet) through ``fill`` into a temporary file beside it, then rename it over.

    An existing file keeps its permission bits (and, for root, its owner); a new one gets ``open()``'s mode.
    Ctrl-C waits for the rename (a write takes milliseconds): the file is the old one or the new one, never a
    temporary file left beside it.
    """
    with _sigint_deferred():
        return _replace_file(target, fill)


def _replace_file(target: str | os.PathLike[str], fill: Callable[[IO[bytes]], object]) -> Path:
    final = Path(target)
    final.parent.mkdir(parents=True, exist_ok=True)
    try:
        before: os.stat_result | None = os.stat(final)
    except FileNotFoundError:
        before = None
    fd, tmp = tempfile.mkstemp(prefix=f".{final.name}.", suffix=".tmp", dir=final.parent)
    try:
        with os.fdopen(fd, "wb") as handle:
            fill(handle)
            handle.flush()
            os.fsync(handle.fileno())
        os.chmod(tmp, stat.S_IMODE(before.st_mode) if before is not None else _umask_mode())
        # Root keeps another owner's file theirs; Windows has no owner ids (neither geteuid nor chown).
        if before is not None and sys.platform != "win32" and os.geteuid() == 0 and (before.st_uid, before.st_gid) != (0, 0):
            os.chown(tmp, before.st_uid, before.st_gid)
        os.replace(tmp, final)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return final


def write_bytes(path: str | os.PathLike[str], data: bytes) -> Path:
    """Write ``data`` to ``path`` as this module says: atomically for a file, in place for anything else."""
    where = destination(path)
    if where.kind == "fd":
        assert where.fd is not None
        if where.fd in (1, 2):
            (sys.stdout if where.fd == 1 else sys.stderr).flush()  # keep what Python buffered before our bytes
        _write_all(where.fd, data)
        return Path(os.fspath(path))
    if where.kind == "direct":
        fd = os.open(where.path, os.O_WRONLY | getattr(os, "O_NOCTTY", 0))  # never created, never truncated, never replaced
        try:
            _write_all(fd, data)
        finally:
            os.close(fd)
        return Path(where.path)
    return replace_file(where.path, lambda handle: handle.write(data))


def write_text(path: str | os.PathLike[str], text: str) -> Path:
    """Write ``text`` (UTF-8, ``\\n`` line ends) to ``path``: atomically for a file, in place for a device or stream."""
    return write_bytes(path, text.encode("utf-8"))


def dumps(document: Any) -> str:
    """The project's one JSON formatting: sorted keys, two-space indent, trailing newline."""
    return json.dumps(document, indent=2, sort_keys=True, ensure_ascii=False) + "\n"


def write_json(path: str | os.PathLike[str], document: Any) -> Path:
    return write_text(path, dumps(document))
