"""Read the kernel log since boot: ``/dev/kmsg`` (non-blocking), else ``journalctl -k -b``, else ``dmesg``.

``PREFLIGHT_KERNEL_LOG=FILE`` reads a saved ``dmesg`` / ``journalctl -k`` text (or a copy of
``/dev/kmsg``) instead. Undecodable bytes become U+FFFD: a log is evidence, never a reason to stop.
"""

from __future__ import annotations

import os
import sys
import time
from pathlib import Path
from typing import NamedTuple

from preflight_action.errors import InputError

LOG_ENV = "PREFLIGHT_KERNEL_LOG"
KMSG = "/dev/kmsg"
BOOT_ID = "/proc/sys/kernel/random/boot_id"
MAX_RECORDS = 1_000_000  # a kernel printing faster than we read must not keep us here
JOURNALCTL = ("journalctl", "-k", "-b", "-o", "short-monotonic", "--no-pager", "-q")
DMESG = ("dmesg",)


class Log(NamedTuple):
    text: str
    source: str  # what was read: /dev/kmsg, journalctl -k -b, dmesg, or PREFLIGHT_KERNEL_LOG=FILE
    saved: bool  # a saved file: its times are its own, not this boot's
    boot_epoch: float | None = None  # when this node booted (UTC epoch): turns seconds-since-boot into times

    def key(self) -> str:
        """Where this log's history lives in the cache: this boot (its id), or the saved file."""
        if self.saved:
            return f"file:{os.path.abspath(self.source.partition('=')[2])}"
        return f"boot:{boot_id()}"


class Unreadable(NamedTuple):
    reason: str  # every source tried, and why each gave nothing


def read(timeout_s: float) -> Log | Unreadable:
    """The kernel log since boot, or why none could be read; a bad ``PREFLIGHT_KERNEL_LOG`` raises InputError."""
    saved = os.environ.get(LOG_ENV)
    if saved:
        return read_saved(saved)
    if not sys.platform.startswith("linux"):
        return Unreadable(f"no Linux kernel log on {sys.platform}")
    boot_epoch = time.time() - time.monotonic()  # CLOCK_MONOTONIC: the clock kmsg and dmesg stamp lines with
    reasons: list[str] = []
    for source, reader in ((KMSG, _kmsg), (" ".join(JOURNALCTL[:3]), _journalctl), ("dmesg", _dmesg)):
        text, why = reader(timeout_s)
        if text is not None:
            return Log(text, source, False, boot_epoch)
        reasons.append(f"{source}: {why}")
    return Unreadable("; ".join(reasons))


def read_saved(path: str) -> Log:
    from preflight_action.documents import not_regular

    try:
        kind = not_regular(os.stat(path).st_mode)
        if kind is not None:  # opening a FIFO blocks until a writer comes: refused from its stat, never opened
            raise InputError(f"{LOG_ENV}={path}: not a regular file ({kind})")
        data = Path(path).read_bytes()
    except OSError as exc:
        raise InputError(f"{LOG_ENV}={path}: cannot read it ({exc.strerror or exc})") from None
    return Log(data.decode("utf-8", errors="replace"), f"{LOG_ENV}={path}", True)


def boot_id() -> str:
    try:
        return Path(BOOT_ID).read_text(encoding="ascii").strip() or "unknown"
    except OSError:
        return "unknown"


def _kmsg(_timeout_s: float) -> tuple[str | None, str]:
    """Every record in the ring buffer, oldest first, as ``prio,seq,usec,flags;message`` lines."""
    if not sys.platform.startswith("linux"):  # read() asks only there; Windows has neither flag below
        return None, f"no {KMSG} on {sys.platform}"
    try:
        fd = os.open(KMSG, os.O_RDONLY | os.O_NONBLOCK | os.O_CLOEXEC)
    except OSError as exc:
        why = exc.strerror or str(exc)
        if exc.errno in (1, 13):  # EPERM, EACCES
            why += " (reading it needs CAP_SYSLOG where kernel.dmesg_restrict=1)"
        return None, why
    records: list[bytes] = []
    try:
        for _ in range(MAX_RECORDS):
            try:
                record = os.read(fd, 8192)
            except BlockingIOError:
                break  # read up to the newest record
            except BrokenPipeError:
                continue  # records were overwritten while we read: the next read resumes at the oldest kept
            except OSError as exc:
                return None, exc.strerror or str(exc)
            if not record:
                break
            end = record.find(b"\n")
            records.append(record[:end] if end != -1 else record)  # the " KEY=value" lines after it are metadata
    finally:
        os.close(fd)
    if not records:
        return None, "empty"
    return b"\n".join(records).decode("utf-8", errors="replace") + "\n", ""


def _run(argv: tuple[str, ...], timeout_s: float) -> tuple[str | None, str]:
    import subprocess

    try:
        done = subprocess.run(list(argv), capture_output=True, timeout=timeout_s, check=False)
    except FileNotFoundError:
        return None, "not installed"
    except subprocess.TimeoutExpired:
        return None, f"no answer within {timeout_s:g} s"
    except OSError as exc:
        return None, exc.strerror or str(exc)
    if done.returncode != 0:
        said = done.stderr.decode("utf-8", errors="replace").strip().splitlines()
        return None, f"exit {done.returncode}" + (f": {said[-1][:200]}" if said else "")
    text = done.stdout.decode("utf-8", errors="replace")
    if not text.strip():
        return None, "no kernel messages for this boot"
    return text, ""


def _journalctl(timeout_s: float) -> tuple[str | None, str]:
    return _run(JOURNALCTL, timeout_s)


def _dmesg(timeout_s: float) -> tuple[str | None, str]:
    return _run(DMESG, timeout_s)
