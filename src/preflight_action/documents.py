"""The one reader of JSON artifacts, which strangers may have written: size, depth and strings bounded, unsafe characters escaped.

A pull request from a fork uploads reports that a job holding a write token then reads. Every
reader of an artifact (summary, matrix, export, gate ``--from-report``, the PR delta's baseline)
parses through here, so a hostile file costs one line naming it, never a traceback, and bounded
time and memory: the size is checked before reading, the parser refuses deep nesting in C, and the
shape is measured without recursion before anything else walks the document. Only regular files are opened
(a FIFO would block the reader forever), numbers must be finite (bare NaN/Infinity, or one that overflows a double,
are refused: our writers store them as strings), and secrets (the values of secret-named variables, token shapes)
are scrubbed from every string once parsed, so nothing downstream can copy one into an output.
"""

from __future__ import annotations

import json
import math
import os
import re
import stat
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from preflight_action import untrusted
from preflight_action.errors import InputError


@dataclass(frozen=True)
class Document:
    """A parsed JSON file; ``escaped`` is the JSON pointer of the first string whose unsafe characters now show as escapes."""

    source: str
    value: Any
    escaped: str | None = None

    @property
    def note(self) -> str | None:
        """One line naming the file and where it held control or bidirectional characters, else None."""
        if self.escaped is None:
            return None
        return f"{self.source}: {self.escaped}: control or bidirectional-override characters, shown as escapes"


def read(path: str | Path, max_bytes: int = untrusted.MAX_BYTES, scrub: bool = True) -> Document:
    """Parse the JSON file at ``path``; InputError naming it when it is missing, unreadable, not a regular file, too large,
    malformed or too deep. ``scrub=False`` only for a reader that scrubs everything it publishes
    itself (summarize: its outputs pass ``redact.scrub_text``), so a fleet's reports are not scanned twice."""
    name = str(Path(path))  # the name every message gives, as the user wrote it (normalised)
    return loads(read_bytes(path, max_bytes), name, max_bytes, scrub)


def read_bytes(path: str | Path, max_bytes: int = untrusted.MAX_BYTES) -> bytes:
    """The bytes of the regular file at ``path`` (at most ``max_bytes``); InputError naming it otherwise.

    A FIFO, socket, device or directory is refused from its ``stat`` before it is opened (opening a FIFO blocks
    until a writer comes), and again from the opened file (non-blocking), in case it was swapped in between.
    """
    name = str(Path(path))
    try:
        kind = not_regular(os.stat(path).st_mode)
        if kind is not None:
            raise InputError(f"{name}: not a regular file ({kind})")
        fd = os.open(path, os.O_RDONLY | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_CLOEXEC", 0) | getattr(os, "O_BINARY", 0))
        with open(fd, "rb") as handle:
            info = os.fstat(fd)
            kind = not_regular(info.st_mode)
            if kind is not None:
                raise InputError(f"{name}: not a regular file ({kind})")
            size = info.st_size
            if size > max_bytes:
                raise _too_large(name, size, max_bytes)
            data = handle.read(size + 1)  # a size hint, not the limit: read(n) allocates n bytes up front
            if len(data) > size:  # still growing, or a file whose size the system does not know: up to the limit
                data += handle.read(max_bytes + 1 - len(data))
    except FileNotFoundError:
        raise InputError(f"{name}: file not found") from None
    except OSError as exc:
        raise InputError(f"{name}: cannot read ({exc})") from None
    if len(data) > max_bytes:
        raise _too_large(name, len(data), max_bytes)
    return data


_KINDS = (
    (stat.S_ISDIR, "a directory"),
    (stat.S_ISFIFO, "a FIFO"),
    (stat.S_ISSOCK, "a socket"),
    (stat.S_ISCHR, "a character device"),
    (stat.S_ISBLK, "a block device"),
)


def not_regular(mode: int) -> str | None:
    """What a file that is not a regular one is, in words ("a FIFO"), else None."""
    if stat.S_ISREG(mode):
        return None
    return next((word for test, word in _KINDS if test(mode)), "neither a file nor a directory")


def loads(data: bytes, source: str, max_bytes: int = untrusted.MAX_BYTES, scrub: bool = True) -> Document:
    """Parse JSON bytes (a file's, or a zip member's) named ``source`` in every error."""
    if len(data) > max_bytes:
        raise _too_large(source, len(data), max_bytes)
    value = _parse(data, source)
    if not _within_shape(data, value):
        problem = untrusted.check_shape(value) or f"nested more than {untrusted.MAX_DEPTH} levels deep"
        raise InputError(f"{source}: {problem}")
    value = _scrubbed(data, value) if scrub else redact_environment_maps(value)
    escaped = None
    if untrusted.may_hold_unsafe(data):
        value, escaped = untrusted.escape_document(value)
    return Document(source, value, escaped)


def _within_shape(data: bytes, value: Any) -> bool:
    """The quick yes every read pays (from the text, else a walk); a no is explained by ``untrusted.check_shape``."""
    if untrusted.text_within_shape(data):
        return True
    # a string has no more characters than its bytes: in a small file none can be too long
    longest = None if len(data) <= untrusted.MAX_STRING else untrusted.MAX_STRING
    return untrusted.within_shape(value, untrusted.MAX_DEPTH, longest)


def _too_large(source: str, size: int, max_bytes: int) -> InputError:
    return InputError(f"{source}: {size:,} bytes, more than the {max_bytes:,} a reader accepts")


def redact_environment_maps(value: Any) -> Any:
    """A report's two environment maps (its inventory's, its fingerprint's) with secret-named variables' values
    replaced, as the report's writer does: a text scrub finds a value by its name only where the name says TOKEN,
    SECRET, PASSWORD or an API key, not DB_PASS or NPM_AUTH."""
    from preflight_action import redact
    from preflight_probe import secret_names

    if not isinstance(value, dict):
        return value
    maps = [((value.get("inventory") or {}), "environment"), (((value.get("env_fingerprint") or {}).get("payload") or {}), "environment")]
    for holder, key in maps:
        found = holder.get(key) if isinstance(holder, dict) else None
        if isinstance(found, dict) and any(secret_names.is_secret_name(str(name)) for name in found):
            holder[key] = redact.scrub(found, [])
    return value


def _scrubbed(data: bytes, value: Any) -> Any:
    """``value`` with every secret scrubbed (``redact.scrub``); as it is, without a copy, when its text holds none.

    The quick no is sound: a secret in a string is in the text once the escapes are decoded, and a token shape's
    lookarounds see a quote at a string's edge where the string has its start or end.
    """
    from preflight_action import redact

    values = redact.current_secret_values()
    text = data.decode("utf-8", "replace")  # the parser accepted it: UTF-8 already
    if "\\" in text:
        text = _ESCAPE.sub(_unescape, text)
    if not redact.may_hold_secrets(text, values):
        return value
    return redact.scrub(value, values)


_ESCAPE = re.compile(r"(?:\\u[0-9a-fA-F]{4})+|\\.", re.S)  # a run of \uXXXX (a surrogate pair is one character), or one escape


def _unescape(match: re.Match[str]) -> str:
    try:
        return str(json.loads(f'"{match.group()}"'))
    except ValueError:  # cannot happen in text the parser accepted; a space never makes a secret
        return " "


class _Refused(ValueError):
    """A number the JSON fallback parser met that no reader accepts (its reason)."""


def _constant(name: str) -> Any:
    raise _Refused(f"{name} is not a JSON number (a report stores a non-finite number as the string {name!r})")


def _float(text: str) -> float:
    number = float(text)
    if not math.isfinite(number):
        raise _Refused(f"the number {_cut(text)} is out of range (it overflows to infinity)")
    return number


def _int(text: str) -> int:
    digits = len(text.lstrip("-"))
    # more digits than any finite double has before its point: refused before int() (which refuses 4,300 digits)
    number = int(text) if digits <= sys.float_info.max_10_exp + 1 else None
    if number is None or abs(number) > sys.float_info.max:
        raise _Refused(f"an integer of {digits} digits is out of range (it overflows to infinity)")
    return number


def _cut(text: str, limit: int = 24) -> str:
    return text if len(text) <= limit else f"{text[:limit]}… ({len(text)} characters)"


def _parse(data: bytes, source: str) -> Any:
    """orjson where it can (several times faster on 10,000 reports, depth refused in C), json for the exact error position.

    Both refuse what a report never holds: bare NaN and Infinity, and numbers that overflow a double.
    """
    try:
        import orjson
    except ImportError:  # declared dependency; stay correct without it
        orjson = None  # type: ignore[assignment]
    where = ""
    if orjson is not None:
        try:
            return orjson.loads(data)
        except orjson.JSONDecodeError as exc:
            if "depth" in str(exc) or "recursion" in str(exc).lower():
                raise _too_deep(source) from None
            where = f" at line {exc.lineno} column {exc.colno}"
    try:
        data.decode("utf-8")  # rejects a binary file before the parser sees it
        # raises with line and column; the hooks refuse what orjson refuses for range, not syntax
        return json.loads(data, parse_constant=_constant, parse_float=_float, parse_int=_int)
    except UnicodeDecodeError as exc:
        raise InputError(f"{source}: cannot read ({exc})") from None
    except _Refused as exc:
        raise InputError(f"{source}: {exc}{where}") from None
    except json.JSONDecodeError as exc:
        raise InputError(f"{source}: malformed JSON at line {exc.lineno} column {exc.colno}: {exc.msg}") from None
    except ValueError as exc:  # any other number the interpreter will not convert: one line, not a traceback
        raise InputError(f"{source}: cannot read a number ({str(exc).splitlines()[0][:120]}){where}") from None
    except RecursionError:
        raise _too_deep(source) from None


def _too_deep(source: str) -> InputError:
    return InputError(f"{source}: nested more than {untrusted.MAX_DEPTH} levels deep")
