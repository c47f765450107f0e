"""Text and documents from outside (paths, environment values, stderr, package metadata, artifacts from forks).

They may hold any bytes, control characters, bidirectional overrides or megabytes. Everything that
carries such text into a report, a rendering or a reader goes through here: ``clean`` keeps a string
printable and bounded, ``check_shape`` bounds a parsed document before anything walks it.
"""

from __future__ import annotations

import re
from typing import Any

# C0 and C1 controls except tab and newline, DEL, and the bidirectional controls that can make a line read
# differently from what it holds (U+202A-U+202E embeddings/overrides, U+2066-U+2069 isolates, U+200E/F marks,
# U+061C): Trojan Source, CVE-2021-42574. Lone surrogates (undecodable bytes through surrogateescape) too.
_UNSAFE = re.compile("[\x00-\x08\x0b-\x1f\x7f-\x9f\u061c\u200e\u200f\u202a-\u202e\u2066-\u2069\ud800-\udfff]")

DEFAULT_LIMIT = 4096  # characters of one untrusted string kept in a report
KEY_LIMIT = 256  # characters of one mapping key kept in a report
MAX_DEPTH = 64  # nesting a reader accepts (reports are about 8 deep)
MAX_STRING = 1 << 20  # characters of one string a reader accepts


def _escape(match: re.Match[str]) -> str:
    code = ord(match.group())
    return f"\\x{code:02x}" if code < 0x100 else f"\\u{code:04x}"


def clean(text: str, limit: int = DEFAULT_LIMIT) -> str:
    """``text`` with unsafe characters shown as escapes (``\\x1b``, ``\\u202e``) and cut at ``limit`` with a note."""
    shown = _UNSAFE.sub(_escape, text)
    if len(shown) <= limit:
        return shown
    dropped = len(shown) - limit
    return f"{shown[:limit]}… ({dropped} more characters)"


def has_unsafe(text: str) -> bool:
    """Whether ``text`` holds a character ``clean`` would escape."""
    return _UNSAFE.search(text) is not None


def clean_tree(value: Any, limit: int = DEFAULT_LIMIT, key_limit: int = KEY_LIMIT) -> Any:
    """A copy of a JSON-like ``value`` with every string and key through ``clean``; other leaves as they are.

    Strings already safe and short are kept as they are (the common case costs one scan each).
    """

    def text(item: str, cap: int) -> str:
        return item if len(item) <= cap and not has_unsafe(item) else clean(item, cap)

    def walk(node: Any) -> Any:
        if isinstance(node, str):
            return text(node, limit)
        if isinstance(node, dict):
            return {text(str(k), key_limit): walk(v) for k, v in node.items()}
        if isinstance(node, (list, tuple)):
            return [walk(v) for v in node]
        return node

    return walk(value)


def check_shape(document: Any, max_depth: int = MAX_DEPTH, max_string: int = MAX_STRING) -> str | None:
    """Why ``document`` is too deep or holds a string too long to read safely (a JSON pointer and the rule), else None.

    Iterative, so a hostile nesting depth cannot exhaust the interpreter's stack while it is measured.
    """
    stack: list[tuple[Any, str, int]] = [(document, "", 0)]
    while stack:
        node, pointer, depth = stack.pop()
        if depth > max_depth:
            return f"{pointer or '/'}: nested more than {max_depth} levels deep"
        if isinstance(node, str):
            if len(node) > max_string:
                return f"{pointer or '/'}: a string of {len(node)} characters (at most {max_string})"
        elif isinstance(node, dict):
            stack.extend((value, f"{pointer}/{_token(key)}", depth + 1) for key, value in node.items())
        elif isinstance(node, list):
            stack.extend((value, f"{pointer}/{index}", depth + 1) for index, value in enumerate(node))
    return None


def _token(key: object) -> str:
    return clean(str(key), 80).replace("~", "~0").replace("/", "~1")
