"""PEP 508 requirement lines and environment markers, as much as install verification needs (stdlib only).

``Requires-Dist: cuda-toolkit[cublas,cudart]==13.0.3; platform_system == "Linux"`` -> name, extras, spec,
and whether its marker holds here for the extras asked. A marker this reader cannot evaluate answers None:
the caller then neither follows nor reports the requirement (no guess).
"""

from __future__ import annotations

import os
import platform
import re
import sys
from typing import Any

_NAME = re.compile(r"\s*([A-Za-z0-9][A-Za-z0-9._-]*)\s*(?:\[([^\]]*)\])?\s*(.*)$")
_TOKEN = re.compile(r"\s*(\(|\)|===|==|!=|<=|>=|~=|<|>|not\s+in\b|in\b|and\b|or\b|'[^']*'|\"[^\"]*\"|[A-Za-z_][A-Za-z0-9_.]*)")
_VERSIONED = {"python_version", "python_full_version", "implementation_version"}


def normal(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def environment() -> dict[str, str]:
    info = sys.implementation.version
    return {
        "python_version": ".".join(platform.python_version_tuple()[:2]),
        "python_full_version": platform.python_version(),
        "os_name": os.name,
        "sys_platform": sys.platform,
        "platform_machine": platform.machine(),
        "platform_system": platform.system(),
        "platform_release": platform.release(),
        "platform_python_implementation": platform.python_implementation(),
        "implementation_name": sys.implementation.name,
        "implementation_version": f"{info.major}.{info.minor}.{info.micro}",
    }


def parse(line: str) -> tuple[str, tuple[str, ...], str, str] | None:
    """(normalized name, extras, version spec, marker) of a Requires-Dist line; None when it is not one."""
    requirement, _, marker = line.partition(";")
    match = _NAME.match(requirement)
    if not match:
        return None
    extras = tuple(sorted(normal(e) for e in (match.group(2) or "").split(",") if e.strip()))
    return normal(match.group(1)), extras, match.group(3).strip().strip("()").strip(), marker.strip()


def _version(text: str) -> tuple[int, ...]:
    return tuple(int(p) for p in re.findall(r"\d+", text)[:4])


def _compare(left: str, op: str, right: str, versioned: bool) -> bool:
    if op in ("in", "not in"):
        return (left in right) == (op == "in")
    if versioned and op not in ("===",):
        a, b = _version(left), _version(right)
        if op == "~=":
            return a >= b and a[: max(1, len(b) - 1)] == b[: max(1, len(b) - 1)]
    else:
        a, b = left, right  # type: ignore[assignment]
    return {"==": a == b, "===": left == right, "!=": a != b, "<": a < b, "<=": a <= b, ">": a > b, ">=": a >= b, "~=": a == b}[op]


class _Parser:
    def __init__(self, text: str, env: dict[str, str]) -> None:
        found: list[str] = _TOKEN.findall(text)
        self.tokens = [t.strip() for t in found]
        if "".join(self.tokens).replace(" ", "") != re.sub(r"\s+", "", text):
            raise ValueError(text)
        self.tokens = [re.sub(r"\s+", " ", t) for t in self.tokens]
        self.env, self.pos = env, 0

    def take(self) -> str:
        if self.pos >= len(self.tokens):
            raise ValueError("unexpected end")
        self.pos += 1
        return self.tokens[self.pos - 1]

    def peek(self) -> str | None:
        return self.tokens[self.pos] if self.pos < len(self.tokens) else None

    def expr(self) -> bool:
        value = self.conjunction()
        while self.peek() == "or":
            self.take()
            value = self.conjunction() or value
        return value

    def conjunction(self) -> bool:
        value = self.atom()
        while self.peek() == "and":
            self.take()
            value = self.atom() and value
        return value

    def atom(self) -> bool:
        if self.peek() == "(":
            self.take()
            value = self.expr()
            if self.take() != ")":
                raise ValueError("unbalanced")
            return value
        left, op, right = self.value(), self.take(), self.value()
        if op not in ("==", "===", "!=", "<", "<=", ">", ">=", "~=", "in", "not in"):
            raise ValueError(op)
        versioned = bool({left[1], right[1]} & _VERSIONED)
        return _compare(left[0], op, right[0], versioned)

    def value(self) -> tuple[str, str]:
        token = self.take()
        if token[:1] in ("'", '"'):
            return token[1:-1], ""
        if token not in self.env:
            raise ValueError(f"unknown marker variable {token}")
        return self.env[token], token


_HOLDS: dict[tuple[str, tuple[str, ...]], bool | None] = {}  # a wheel repeats one marker on a hundred lines


def holds(marker: str, extras: tuple[str, ...] = (), env: dict[str, Any] | None = None) -> bool | None:
    """Whether ``marker`` holds here with ``extras`` requested; None when it cannot be read."""
    if not marker:
        return True
    if env is None:
        key = (marker, extras)
        if key not in _HOLDS:
            _HOLDS[key] = _holds(marker, extras, environment())
        return _HOLDS[key]
    return _holds(marker, extras, env)


def _holds(marker: str, extras: tuple[str, ...], env: dict[str, Any]) -> bool | None:
    base = dict(env)
    results = set()
    for extra in extras or ("",):  # `extra == "x"` holds when any requested extra is x
        try:
            parser = _Parser(marker, {**base, "extra": extra})
            value = parser.expr()
            if parser.peek() is not None:
                return None
        except (ValueError, IndexError, KeyError):
            return None
        results.add(value)
    return True in results
