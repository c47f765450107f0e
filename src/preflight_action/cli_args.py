"""Argument types shared by every CLI: numbers that mean something, output paths that can be written.

argparse turns an ``ArgumentTypeError`` raised here into ``usage: ...`` plus
``prog: error: argument --flag: <what is wrong>`` and exit 2, so each message says
what is wrong with the value; argparse names the flag. Output paths are checked when
the flags are parsed, before any work starts: a run must not spend minutes and
then fail to write its report. ``write_outputs`` writes several outputs so that
one failing at write time anyway (a full disk) does not stop the others.
"""

from __future__ import annotations

import argparse
import contextlib
import errno
import math
import os
import sys
import tempfile
from collections.abc import Callable, Iterable, Sequence
from pathlib import Path
from typing import NoReturn

from preflight_action.errors import UsageError

# Each console script and the scripts/*.py files that run the same command from a checkout.
SCRIPTS = {
    "runtime-preflight": ("runtime_preflight.py",),
    "preflight-summarize": ("summarize.py", "summarize_runtime_preflight.py"),
    "preflight-sweep": ("sweep.py",),
    "preflight-smoke": ("smoke.py",),
    "preflight-matrix": ("runtime_matrix.py",),
    "preflight-export": ("export.py",),
    "preflight-gate": ("gate.py",),
    "preflight-diff": ("diff.py",),
    "preflight-gang": ("gang.py",),
}


def prog(command: str) -> str:
    """The command as the user typed it, for usage and error lines: ``command`` (the console script), or the
    ``scripts/*.py`` file that runs it; anything else (a test, ``python -m``) gets the console script's name."""
    typed = os.path.basename(sys.argv[0]) if sys.argv and sys.argv[0] else ""
    return typed if typed == command or typed in SCRIPTS.get(command, ()) else command


class _Probing(Exception):
    """Raised instead of exiting while ``Parser`` parses argv a second time to find unknown flags."""


class Parser(argparse.ArgumentParser):
    """argparse with one line for a usage error: what is wrong and where --help is, never the usage dump.

    An unknown flag is named even when a required argument is missing too (``preflight-diff --bogus``): argparse
    checks the required ones first, and would blame them for what is a typo.
    """

    _argv: list[str] | None = None
    _probing = False

    def parse_known_args(  # type: ignore[override]
        self, args: Sequence[str] | None = None, namespace: argparse.Namespace | None = None
    ) -> tuple[argparse.Namespace, list[str]]:
        self._argv = list(sys.argv[1:] if args is None else args)
        return super().parse_known_args(args, namespace)

    def _unknown_flags(self) -> list[str]:
        """The flags in argv that no parser here knows, parsed again with nothing required ([] when that fails too)."""
        relaxed = [action for action in self._actions if action.required]
        for action in relaxed:
            action.required = False
        self._probing = True
        try:
            _, extras = super().parse_known_args(self._argv, argparse.Namespace())
        except _Probing:
            return []
        finally:
            self._probing = False
            for action in relaxed:
                action.required = True
        return [arg for arg in extras if arg.startswith("-") and arg != "-"]

    def error(self, message: str) -> NoReturn:
        if self._probing:
            raise _Probing(message)
        if message.startswith("the following arguments are required") and self._argv is not None:
            unknown = self._unknown_flags()
            if unknown:
                message = f"unrecognized arguments: {' '.join(unknown)}"
        extra = message.partition("unrecognized arguments: ")[2].split()
        if extra and all(os.path.exists(arg) for arg in extra):  # `--input-glob out/*.json` unquoted: the shell expanded it
            message += " (files: did the shell expand a pattern? quote it, e.g. --input-glob 'outputs/*.json')"
        self.exit(2, f"{self.prog}: error: {message}\n")


def unused(flag: str, needs: str) -> str:
    """The warning for a flag that does nothing without another (it is ignored, and the run goes on)."""
    return f"warning: {flag} does nothing without {needs}; ignored"


# Past these the code cannot represent the value (a timeout past threading.TIMEOUT_MAX or a
# cutoff before year 1 is an OverflowError); a year of seconds or a century of days is plenty.
MAX_SECONDS = 366 * 24 * 3600.0
MAX_DAYS = 36525.0
MAX_INT = 2**31 - 1


def _number(text: str, what: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not {what}") from None
    if not math.isfinite(value):  # nan, inf, -inf: a timeout, a factor or an age that means nothing
        finite = what.replace("a ", "a finite ", 1) if what.startswith("a ") else f"finite ({what})"
        raise argparse.ArgumentTypeError(f"must be {finite}, got {text!r}")
    return value


def finite_float(
    low: float | None = None, high: float | None = None, *, above: bool = False, what: str = "a number", unit: str = ""
) -> Callable[[str], float]:
    """A type for a finite float in [low, high] (``above``: strictly greater than ``low``)."""
    suffix = f" {unit}" if unit else ""

    def parse(text: str) -> float:
        value = _number(text, what)
        if low is not None and (value <= low if above else value < low):
            bound = f"above {low:g}{suffix}" if above else f"at least {low:g}{suffix}"
            raise argparse.ArgumentTypeError(f"must be {bound}, got {text}")
        if high is not None and value > high:
            raise argparse.ArgumentTypeError(f"must be at most {high:g}{suffix}, got {text}")
        return value

    parse.__name__ = what  # argparse's fallback message ("invalid <name> value")
    return parse


def bounded_int(low: int, high: int = MAX_INT, *, what: str = "a whole number") -> Callable[[str], int]:
    """A type for a whole number in [low, high]."""

    def parse(text: str) -> int:
        try:
            value = int(text.strip())
        except ValueError:
            raise argparse.ArgumentTypeError(f"{text!r} is not {what}") from None
        if value < low:
            raise argparse.ArgumentTypeError(f"must be at least {low}, got {value}")
        if value > high:
            raise argparse.ArgumentTypeError(f"must be at most {high}, got {value}")
        return value

    parse.__name__ = what
    return parse


positive_seconds = finite_float(0.0, MAX_SECONDS, above=True, what="a number of seconds", unit="s")
# A check's own timeout: below a second no check can answer (the worker's torch import alone takes longer), so a
# kill at --check-timeout 1e-300 would fail the node on nothing; refused, not judged as a hang.
MIN_CHECK_TIMEOUT_S = 1.0
check_timeout_seconds = finite_float(MIN_CHECK_TIMEOUT_S, MAX_SECONDS, what="a number of seconds", unit="s")
non_negative_seconds = finite_float(0.0, MAX_SECONDS, what="a number of seconds", unit="s")
non_negative_days = finite_float(0.0, MAX_DAYS, what="a number of days", unit="days")
positive_hours = finite_float(0.0, MAX_DAYS * 24, above=True, what="a number of hours", unit="h")
non_negative_float = finite_float(0.0, what="a number")
positive_float = finite_float(0.0, above=True, what="a number")
positive_int = bounded_int(1)
non_negative_int = bounded_int(0)


def _probe_dir(directory: Path) -> str | None:
    """Why no file can be created in ``directory`` (an existing directory), or None when one can."""
    try:
        fd, name = tempfile.mkstemp(prefix=".preflight-write-check.", dir=directory)
    except OSError as exc:
        return f"no file can be created in {directory} ({exc.strerror or exc})"
    os.close(fd)
    with contextlib.suppress(OSError):
        os.unlink(name)
    return None


def _nearest_existing(path: Path) -> Path:
    for candidate in path.parents:
        if os.path.lexists(candidate):
            return candidate
    return Path(path.anchor or ".")


def file_problem(path: str | os.PathLike[str]) -> str | None:
    """Why ``path`` cannot be written as a file (its missing parents created), or None.

    A device, FIFO or this process's own stream is written in place (``atomic``): it must be writable, its
    directory is never probed; a symlink is judged by its target, which is what gets replaced.
    """
    from preflight_action import atomic

    target = Path(path)
    if str(path) == "" or target.name in ("", ".", ".."):
        return "not a file name"
    if target.is_dir():
        return "is a directory"
    try:
        where = atomic.destination(path)
    except OSError as exc:
        if exc.errno == errno.EEXIST:  # a program at that path: atomic.destination's own words say why it stays
            return str(exc.strerror)
        return f"cannot be resolved ({exc.strerror or exc})"
    if where.kind == "fd":
        return None
    if where.kind == "direct":
        return None if os.access(where.path, os.W_OK) else f"{where.path} cannot be written (permission denied)"
    target = Path(where.path)
    if target.is_dir():
        return "is a directory"
    parent = target.parent
    if parent.is_dir():
        return _probe_dir(parent)
    base = _nearest_existing(target)
    if not base.is_dir():
        return f"{base} is not a directory" + ("" if base == parent else f", so {parent} cannot be created")
    reason = _probe_dir(base)
    return f"{parent} cannot be created: {reason}" if reason else None


def dir_problem(path: str | os.PathLike[str]) -> str | None:
    """Why ``path`` cannot be used as an output directory (created if missing), or None."""
    target = Path(path)
    if target.is_dir():
        return _probe_dir(target)
    if os.path.lexists(target):
        return "exists and is not a directory"
    base = _nearest_existing(target)
    if not base.is_dir():
        return f"{base} is not a directory" + ("" if base == target.parent else f", so {target.parent} cannot be created")
    reason = _probe_dir(base)
    return f"cannot be created: {reason}" if reason else None


def append_problem(path: str | os.PathLike[str]) -> str | None:
    """Why ``path`` cannot be appended to ($GITHUB_STEP_SUMMARY), or None; an existing file is left as it was."""
    target = Path(path)
    if target.is_dir():
        return "is a directory"
    try:
        with open(target, "a", encoding="utf-8"):
            pass
    except OSError as exc:
        return f"cannot append to it ({exc.strerror or exc})"
    return None


def _type(check: Callable[[str], str | None]) -> Callable[[str], str]:
    def parse(text: str) -> str:
        reason = check(text)
        if reason:
            raise argparse.ArgumentTypeError(f"{text}: {reason}")
        return text

    parse.__name__ = "path"
    return parse


output_file = _type(file_problem)
"""argparse type: a file path we can write (checked at parse time, before the work starts)."""


def prom_file(text: str) -> str:
    """argparse type for --output-prom: a writable ``*.prom`` path (the only files the textfile collector reads)."""
    if not text.endswith(".prom"):
        raise argparse.ArgumentTypeError(f"{text}: node_exporter's textfile collector reads only *.prom files")
    return output_file(text)


output_dir = _type(dir_problem)
"""argparse type: a directory we can create or write into."""


def is_stream(path: str) -> bool:
    """``-``, ``/dev/null``, ``/dev/stdout`` and the like: written in place, never replaced, so nothing is destroyed."""
    return path in ("-", os.devnull) or path.startswith("/dev/")


def same_file(one: str | os.PathLike[str], other: str | os.PathLike[str]) -> bool:
    """True when two paths name one file: the same inode (a hard link, a symlink) or, one not there yet, the same real path."""
    try:
        if os.path.samefile(one, other):
            return True
    except (OSError, ValueError):  # one of them does not exist (yet): compare where it would be
        pass
    return os.path.realpath(one) == os.path.realpath(other)


def refuse_outputs_over_inputs(
    outputs: Iterable[tuple[str, str | os.PathLike[str] | None]], inputs: Iterable[tuple[str, str | os.PathLike[str] | None]]
) -> None:
    """A ``UsageError`` (exit 2) when an output flag names a file the command reads: writing it would destroy the input.

    ``outputs`` and ``inputs`` are ``(flag, path)`` pairs (a path of None: not given). Called before anything is read
    or written; ``-``, ``/dev/null`` and ``/dev/std*`` are streams, never the same file as anything.
    """
    wanted = [(flag, os.fspath(path)) for flag, path in inputs if path and not is_stream(os.fspath(path))]
    for out_flag, out in outputs:
        if not out or is_stream(os.fspath(out)):
            continue
        for in_flag, path in wanted:
            if same_file(out, path):
                raise UsageError(f"{out_flag} {os.fspath(out)} is the same file as {in_flag} {path}: it would be overwritten")


def write_outputs(prog: str, outputs: Sequence[tuple[str, str | os.PathLike[str], Callable[[], object]]]) -> int:
    """Run each ``(flag, path, write)``; one that fails is one line on stderr and the others still run.

    Returns 0 when all were written, else 2 (a usage/input problem, never 1: 1 means strict blocked).
    """
    failed = 0
    for flag, path, write in outputs:
        try:
            write()
        except OSError as exc:
            failed += 1
            print(f"{prog}: error: {flag} {path}: cannot write it ({exc.strerror or exc})", file=sys.stderr)
    return 2 if failed else 0
