"""Text and documents from outside (paths, environment values, stderr, package metadata, artifacts from forks).

They may hold any bytes, control characters, bidirectional overrides or megabytes. Everything that
carries such text into a report, a rendering or a reader goes through here: ``clean`` keeps a string
printable and bounded, ``check_shape`` bounds a parsed document before anything walks it, and
``escape_document`` shows every unsafe character of a parsed document as an escape.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any

# C0 and C1 controls except tab and newline, DEL, and the bidirectional controls that can make a line read
# differently from what it holds (U+202A-U+202E embeddings/overrides, U+2066-U+2069 isolates, U+200E/F marks,
# U+061C): Trojan Source, CVE-2021-42574. Lone surrogates (undecodable bytes through surrogateescape) too.
_UNSAFE = re.compile("[\x00-\x08\x0b-\x1f\x7f-\x9f\u061c\u200e\u200f\u202a-\u202e\u2066-\u2069\ud800-\udfff]")

DEFAULT_LIMIT = 4096  # characters of one untrusted string kept in a report
KEY_LIMIT = 256  # characters of one mapping key kept in a report
MAX_DEPTH = 64  # nesting a reader accepts (reports are about 8 deep)
MAX_STRING = 1 << 20  # characters of one string a reader accepts
MAX_BYTES = 16 << 20  # bytes of one JSON file a reader accepts (a report is about 20 KB, a summary of 10,000 reports a few MiB)

# The UTF-8 forms of the non-ASCII characters _UNSAFE names (C1 controls, U+061C, U+200E/F, U+202A-E, U+2066-9).
_RAW_UNSAFE = re.compile(b"\xc2[\x80-\x9f]|\xd8\x9c|\xe2\x80[\x8e\x8f\xaa-\xae]|\xe2\x81[\xa6-\xa9]")
_CONTAINERS = (dict, list)
_SCAN = 256  # occurrences the quick byte checks look at one by one before handing over to a slower, exact path
_NOT_STRUCTURE = bytes(b for b in range(256) if b not in b'"[]{}')  # what text_within_shape deletes


def _escape(match: re.Match[str]) -> str:
    code = ord(match.group())
    return f"\\x{code:02x}" if code < 0x100 else f"\\u{code:04x}"


def escape(text: str) -> str:
    """``text`` with unsafe characters shown as escapes (``\\x1b``, ``\\u202e``), nothing cut."""
    return _UNSAFE.sub(_escape, text) if _UNSAFE.search(text) else text


def clean(text: str, limit: int = DEFAULT_LIMIT) -> str:
    """``text`` with unsafe characters shown as escapes (``\\x1b``, ``\\u202e``) and cut at ``limit`` with a note."""
    shown = escape(text)
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
            return f"{_shown(pointer)}: nested more than {max_depth} levels deep"
        if isinstance(node, str):
            if len(node) > max_string:
                return f"{_shown(pointer)}: a string of {len(node)} characters (at most {max_string})"
        elif isinstance(node, dict):
            for key in node:
                if len(key) > max_string:
                    return f"{_shown(pointer)}: a key of {len(key)} characters (at most {max_string})"
            stack.extend((value, f"{pointer}/{_token(key)}", depth + 1) for key, value in node.items())
        elif isinstance(node, list):
            stack.extend((value, f"{pointer}/{index}", depth + 1) for index, value in enumerate(node))
    return None


def _shown(pointer: str, limit: int = 160) -> str:
    """A JSON pointer short enough for one line: its head and its tail around an ellipsis."""
    if not pointer:
        return "/"
    if len(pointer) <= limit:
        return pointer
    return f"{pointer[: limit // 2]}…{pointer[-(limit // 2) :]}"


def _token(key: object) -> str:
    return clean(str(key), 80).replace("~", "~0").replace("/", "~1")


def within_shape(document: Any, max_depth: int = MAX_DEPTH, max_string: int | None = MAX_STRING) -> bool:
    """Whether ``document`` is at most ``max_depth`` deep and (unless ``max_string`` is None) holds no longer string or key.

    The quick answer every read pays (a level at a time, no pointers kept, no recursion);
    ``check_shape`` explains a no. Pass None when the file is too small to hold such a string.
    """
    level = [document]
    for depth in range(max_depth + 1):
        if max_string is not None:
            if any(len(key) > max_string for node in level if type(node) is dict for key in node):
                return False
            if any(len(node) > max_string for node in level if type(node) is str):
                return False
        if depth == max_depth:  # a non-empty container here has children deeper than allowed
            return not any(node for node in level if type(node) in _CONTAINERS)
        # exact types: a parsed document holds only dict, list and scalars
        level = [
            child
            for node in level
            if type(node) in _CONTAINERS
            for child in (node.values() if type(node) is dict else node)
            if type(child) in _CONTAINERS or (max_string is not None and type(child) is str)
        ]
        if not level:
            return True
    return True


def text_within_shape(data: bytes, max_depth: int = MAX_DEPTH, max_string: int = MAX_STRING) -> bool:
    """True when parsed JSON text ``data`` certainly nests at most ``max_depth`` deep and holds no string longer
    than ``max_string``; False: not known, walk it (``within_shape``).

    The quick path (bytes methods run in C over the text, where a walk visits every node): keep only
    quotes and brackets, drop string contents, then strip innermost pairs. Sound only while every quote
    delimits a string, so text holding an escaped quote is left to the walk.
    """
    at, left = data.find(b"\\"), _SCAN
    while at >= 0:
        left -= 1
        if data[at + 1 : at + 2] == b'"' or not left:  # an escaped quote, or too many escapes to look at one by one
            return False
        at = data.find(b"\\", at + 2)  # past the escaped character, so an escaped backslash is one step
    if len(data) > max_string and max(map(len, data.split(b'"'))) > max_string:
        return False  # a run that long between two quotes may be a string that long
    # "" is a string with no bracket in it, or the end of one and the start of the next: dropping it
    # keeps quotes paired and every bracket on its side of them
    view = data.translate(None, _NOT_STRUCTURE).replace(b'""', b"")
    if b'"' in view:
        view = b"".join(view.split(b'"')[::2])  # even pieces lie outside strings
    for _ in range(max_depth // 2):  # a pass removes one level or two: empty after k passes is at most 2k deep
        if not view:
            return True
        view = view.replace(b"[]", b"").replace(b"{}", b"")
    return not view


def may_hold_unsafe(data: bytes) -> bool:
    """Whether JSON text ``data`` may decode to a string or key ``escape`` would change; never a wrong no.

    Raw controls cannot stand inside a JSON string, so they arrive as ``\\uXXXX``, ``\\b``, ``\\f``,
    ``\\r`` escapes, as DEL, or as the UTF-8 bytes of a non-ASCII one; ``bytes.find`` looks for those.
    """
    if b"\x7f" in data or (not data.isascii() and _raw_unsafe(data)):
        return True
    at, left = data.find(b"\\"), _SCAN
    while at >= 0:
        left -= 1
        if not left:
            return True  # too many escapes to look at one by one: not known, so the walk decides
        follow = data[at + 1 : at + 2]
        if follow in (b"b", b"f", b"r"):
            return True
        if follow == b"u":
            digits = data[at + 2 : at + 6]
            try:
                code = int(digits, 16)
            except ValueError:
                return True  # not valid JSON anyway: let the parser say so
            if _UNSAFE.match(chr(code)):
                return True
        at = data.find(b"\\", at + 2)  # past the escaped character, so an escaped backslash is one step
    return False


def _raw_unsafe(data: bytes) -> bool:
    """Whether UTF-8 ``data`` holds one of the non-ASCII characters ``_UNSAFE`` names."""
    left = _SCAN
    for lead in (b"\xc2", b"\xd8", b"\xe2"):
        at = data.find(lead)
        while at >= 0:
            if _RAW_UNSAFE.match(data, at):
                return True
            left -= 1
            if not left:  # text full of such lead bytes (box drawing, say): one regex pass in C instead
                return _RAW_UNSAFE.search(data) is not None
            at = data.find(lead, at + 1)
    return False


def escape_document(document: Any) -> tuple[Any, str | None]:
    """``document`` with every unsafe character in its strings and keys shown as an escape, and the JSON pointer of
    the first changed in document order (None: nothing was). Containers are changed in place; iterative, in one pass
    over a document whose shape is already checked, and a pointer is spelled out only for what it names."""
    if isinstance(document, str):
        return (escape(document), "/") if _UNSAFE.search(document) else (document, None)
    if not isinstance(document, _CONTAINERS):
        return document, None
    first: tuple[Any, ...] | None = None  # the path as (parent path, token) links
    stack = [_frame(document, ())]
    while stack:
        node, children, path, renamed = stack[-1]
        for token, value in children:
            if renamed and token in renamed:
                first = first or (path, token)
            if isinstance(value, str):
                if _UNSAFE.search(value):
                    node[token] = escape(value)
                    first = first or (path, token)
            elif isinstance(value, _CONTAINERS):
                stack.append(_frame(value, (path, token)))
                break
        else:
            stack.pop()
    return document, None if first is None else _shown(_spelled(first))


def _frame(node: dict[str, Any] | list[Any], path: tuple[Any, ...]) -> tuple[Any, Iterator[tuple[Any, Any]], tuple[Any, ...], set[str]]:
    """One container to walk: its keys escaped first, then an iterator over its items."""
    renamed = _escape_keys(node)
    return node, _children(node), path, renamed


def _escape_keys(node: Any) -> set[str]:
    """Escape a dict's unsafe keys in place (its items keep their order); the keys as they now read."""
    if not isinstance(node, dict) or not any(_UNSAFE.search(key) for key in node):
        return set()
    escaped = {escape(key): item for key, item in node.items()}
    renamed = {escape(key) for key in node if _UNSAFE.search(key)}
    node.clear()
    node.update(escaped)
    return renamed


def _children(node: dict[str, Any] | list[Any]) -> Iterator[tuple[Any, Any]]:
    return iter(node.items()) if isinstance(node, dict) else enumerate(node)


def _spelled(path: tuple[Any, ...]) -> str:
    """``/a/0/b`` from the links ``((((), "a"), 0), "b")``."""
    tokens = []
    while path:
        path, token = path
        tokens.append(token)
    return "".join(f"/{_token(token)}" for token in reversed(tokens))
