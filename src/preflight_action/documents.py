"""The one reader of JSON artifacts, which strangers may have written: size, depth and strings bounded, unsafe characters escaped.

A pull request from a fork uploads reports that a job holding a write token then reads. Every
reader of an artifact (summary, matrix, export, gate ``--from-report``, the PR delta's baseline)
parses through here, so a hostile file costs one line naming it, never a traceback, and bounded
time and memory: the size is checked before reading, the parser refuses deep nesting in C, and the
shape is measured without recursion before anything else walks the document.
"""

from __future__ import annotations

import json
import os
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


def read(path: str | Path, max_bytes: int = untrusted.MAX_BYTES) -> Document:
    """Parse the JSON file at ``path``; InputError naming it when it is missing, unreadable, too large, malformed or too deep."""
    name = str(Path(path))  # the name every message gives, as the user wrote it (normalised)
    try:
        with open(path, "rb") as handle:
            size = os.fstat(handle.fileno()).st_size
            if size > max_bytes:
                raise _too_large(name, size, max_bytes)
            data = handle.read(size + 1)  # a size hint, not the limit: read(n) allocates n bytes up front
            if len(data) > size:  # still growing, or a file whose size the system does not know: up to the limit
                data += handle.read(max_bytes + 1 - len(data))
    except FileNotFoundError:
        raise InputError(f"{name}: file not found") from None
    except OSError as exc:
        raise InputError(f"{name}: cannot read ({exc})") from None
    return loads(data, name, max_bytes)


def loads(data: bytes, source: str, max_bytes: int = untrusted.MAX_BYTES) -> Document:
    """Parse JSON bytes (a file's, or a zip member's) named ``source`` in every error."""
    if len(data) > max_bytes:
        raise _too_large(source, len(data), max_bytes)
    value = _parse(data, source)
    if not _within_shape(data, value):
        problem = untrusted.check_shape(value) or f"nested more than {untrusted.MAX_DEPTH} levels deep"
        raise InputError(f"{source}: {problem}")
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


def _parse(data: bytes, source: str) -> Any:
    """orjson where it can (several times faster on 10,000 reports, depth refused in C), json for the exact error position."""
    try:
        import orjson
    except ImportError:  # declared dependency; stay correct without it
        orjson = None  # type: ignore[assignment]
    if orjson is not None:
        try:
            return orjson.loads(data)
        except orjson.JSONDecodeError as exc:
            if "depth" in str(exc) or "recursion" in str(exc).lower():
                raise _too_deep(source) from None
    try:
        data.decode("utf-8")  # rejects a binary file before the parser sees it
        return json.loads(data)  # raises with line and column, or accepts NaN that orjson refuses
    except UnicodeDecodeError as exc:
        raise InputError(f"{source}: cannot read ({exc})") from None
    except json.JSONDecodeError as exc:
        raise InputError(f"{source}: malformed JSON at line {exc.lineno} column {exc.colno}: {exc.msg}") from None
    except RecursionError:
        raise _too_deep(source) from None


def _too_deep(source: str) -> InputError:
    return InputError(f"{source}: nested more than {untrusted.MAX_DEPTH} levels deep")
