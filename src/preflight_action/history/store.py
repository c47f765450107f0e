"""The history file: JSON lines, oldest first, read from its tail, pruned and written back atomically.

Judging a run needs only the last few runs of each node, so ``read_tail`` reads
the file backwards until it has seen ``window_runs`` distinct runs and parses and
validates just those lines. Pruning by age is a binary search over line starts
(records are appended in time order) and pruning by size a byte offset, so the
older lines are never parsed: ``write`` copies them kernel-side
(``os.copy_file_range``) into a temporary file, appends this run's lines and
renames it over the old file. A reader never sees half a file; a crash keeps the
old one. Cost: the bytes copied plus the tail parsed, whatever the file's length.
"""

from __future__ import annotations

import errno
import os
import re
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import IO, Any

from preflight_action import schemas
from preflight_action.errors import InputError
from preflight_action.history.records import SCHEMA_NAME

BLOCK = 1 << 20


@dataclass(frozen=True)
class Tail:
    """The last runs of a history file, parsed and validated, oldest first."""

    path: Path
    size: int  # bytes in the file when it was read (0: no file yet)
    records: tuple[dict[str, Any], ...]
    offsets: tuple[int, ...]  # byte offset of each record's line
    runs: int  # distinct runs among ``records``
    complete: bool  # the whole file was read (it holds no older run)


def _loads(data: bytes) -> Any:
    try:
        import orjson
    except ImportError:  # declared dependency; stay correct without it
        import json

        return json.loads(data, parse_constant=_not_a_number)  # as orjson: bare NaN and Infinity are not JSON
    return orjson.loads(data)


def _not_a_number(name: str) -> Any:
    raise ValueError(f"{name} is not a JSON number")


def _line_number(handle: IO[bytes], offset: int) -> int:
    handle.seek(0)
    count, left = 1, offset
    while left > 0:
        chunk = handle.read(min(BLOCK, left))
        if not chunk:
            break
        count += chunk.count(b"\n")
        left -= len(chunk)
    return count


def _record(handle: IO[bytes], path: Path, line: bytes, offset: int) -> dict[str, Any]:
    """One parsed, schema-valid line; InputError naming the file and line otherwise."""
    try:
        document = _loads(line)
    except ValueError as exc:
        where = _line_number(handle, offset)
        raise InputError(f"{path}: line {where}: malformed JSON ({str(exc).splitlines()[0][:120]})") from None
    found = schemas.problems(document, SCHEMA_NAME)
    if found:
        where = _line_number(handle, offset)
        raise InputError(f"{path}: line {where}: does not match the {SCHEMA_NAME} schema: {'; '.join(found[:3])}")
    result: dict[str, Any] = document
    return result


def read_tail(path: str | Path, window_runs: int) -> Tail:
    """The records of the last ``window_runs`` runs (a missing file is an empty history)."""
    file = Path(path)
    try:
        kind = _not_regular(file.stat().st_mode)  # before opening: opening a FIFO waits for a writer
        if kind is not None:
            raise InputError(f"{file}: not a regular file ({kind}): a history is a JSON-lines file")
        handle = open(os.open(file, os.O_RDONLY | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_CLOEXEC", 0)), "rb")  # noqa: SIM115 - the with below closes it
    except FileNotFoundError:
        return Tail(file, 0, (), (), 0, True)
    except OSError as exc:
        raise InputError(f"{file}: cannot read ({exc.strerror or exc})") from None
    with handle:
        info = os.fstat(handle.fileno())
        kind = _not_regular(info.st_mode)  # swapped in since the stat
        if kind is not None:
            raise InputError(f"{file}: not a regular file ({kind}): a history is a JSON-lines file")
        size = info.st_size
        if size and not _ends_with_newline(handle, size):
            where = _line_number(handle, size)
            raise InputError(f"{file}: line {where}: cut short (no newline at the end): the file was not written by summarize --history")
        records: list[dict[str, Any]] = []
        offsets: list[int] = []
        stamps: set[str] = set()
        end, carry = size, b""
        complete = True
        while end > 0 and complete:
            start = max(0, end - BLOCK)
            handle.seek(start)
            block = handle.read(end - start) + carry
            lines = block.split(b"\n")
            carry = lines[0] if start > 0 else b""
            first = 1 if start > 0 else 0
            position = start + len(block)
            for line in reversed(lines[first:]):
                position -= len(line) + 1
                if not line:
                    continue
                record = _record(handle, file, line, position + 1)
                if record["at"] not in stamps and len(stamps) == window_runs:
                    complete = False
                    break
                stamps.add(record["at"])
                records.append(record)
                offsets.append(position + 1)
            end = start
    records.reverse()
    offsets.reverse()
    return Tail(file, size, tuple(records), tuple(offsets), len(stamps), complete)


def _not_regular(mode: int) -> str | None:
    from preflight_action import documents

    return documents.not_regular(mode)


def _ends_with_newline(handle: IO[bytes], size: int) -> bool:
    handle.seek(size - 1)
    return handle.read(1) == b"\n"


def _next_line(handle: IO[bytes], position: int, size: int) -> tuple[int, bytes]:
    """(start, text) of the first line starting at or after ``position``; (size, b"") past the last."""
    if position <= 0:
        start = 0
    else:
        handle.seek(position - 1)
        skipped = position - 1
        while True:
            chunk = handle.read(65536)
            if not chunk:
                return size, b""
            cut = chunk.find(b"\n")
            if cut >= 0:
                start = skipped + cut + 1
                break
            skipped += len(chunk)
    if start >= size:
        return size, b""
    handle.seek(start)
    parts = []
    while True:
        chunk = handle.read(65536)
        cut = chunk.find(b"\n")
        if cut >= 0 or not chunk:
            parts.append(chunk[:cut] if cut >= 0 else chunk)
            return start, b"".join(parts)
        parts.append(chunk)


def _stamp(handle: IO[bytes], path: Path, line: bytes, offset: int) -> datetime:
    return datetime.fromisoformat(_record(handle, path, line, offset)["at"].replace("Z", "+00:00"))


def keep_from(path: str | Path, size: int, cutoff: datetime, max_bytes: int, incoming: int) -> int:
    """The offset of the first line to keep: none older than ``cutoff``, and at most ``max_bytes`` with ``incoming``."""
    file = Path(path)
    if size == 0:
        return 0
    with file.open("rb") as handle:
        lo, hi = 0, size
        while lo < hi:  # smallest position whose next line is recent enough (records are in time order)
            mid = (lo + hi) // 2
            start, line = _next_line(handle, mid, size)
            if not line or _stamp(handle, file, line, start) >= cutoff:
                hi = mid
            else:
                lo = start + 1
        offset = _next_line(handle, lo, size)[0]
        excess = (size - offset) + incoming - max_bytes
        if excess > 0:
            offset = _next_line(handle, offset + excess, size)[0]
    return offset


_REPORT_ID = re.compile(rb'"report_id":"([0-9a-f]{64})"')


def report_ids_before(path: str | Path, end: int) -> set[str]:
    """The report ids in the file's first ``end`` bytes, found without parsing a line (a byte search: about 1 s per GiB).

    Only needed when a report older than every run in the tail comes back (an old artifact summarized again).
    """
    if end <= 0:
        return set()
    import mmap

    with Path(path).open("rb") as handle, mmap.mmap(handle.fileno(), 0, access=mmap.ACCESS_READ) as data:
        return {match.group(1).decode("ascii") for match in _REPORT_ID.finditer(data, 0, end)}


def write(path: str | Path, size: int, keep: int, lines: bytes) -> None:
    """Bytes ``keep``..``size`` of the old file, then ``lines``, atomically in its place (a symlink's target replaced)."""
    from preflight_action import atomic

    where = atomic.destination(path)
    if where.kind != "file":
        raise OSError(errno.EINVAL, "not a regular file: a history is rewritten by renaming a new file over it")
    target = Path(where.path)

    def fill(out: IO[bytes]) -> None:
        if size > keep:
            with target.open("rb") as old:
                _copy(old, out, keep, size - keep)
        out.write(lines)

    atomic.replace_file(target, fill)


def _copy(source: IO[bytes], out: IO[bytes], offset: int, count: int) -> None:
    """``count`` bytes of ``source`` from ``offset`` into ``out``: in the kernel where it can."""
    out.flush()
    copy_range = getattr(os, "copy_file_range", None)
    if copy_range is not None:
        try:
            done = 0
            while done < count:
                sent = copy_range(source.fileno(), out.fileno(), count - done, offset + done)
                if sent == 0:
                    break
                done += sent
            if done == count:
                out.seek(0, os.SEEK_END)
                return
            out.seek(0)
            out.truncate()
        except OSError:  # another file system, an old kernel: copy through user space
            out.seek(0)
            out.truncate()
    source.seek(offset)
    left = count
    while left > 0:
        chunk = source.read(min(BLOCK, left))
        if not chunk:
            break
        out.write(chunk)
        left -= len(chunk)
