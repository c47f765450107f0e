"""The one reader of YAML inputs and the one policy loader (explicit path, environment, shipped file; cached).

Every policy (severity, dtype, memory, GPU reference, sweep safety, levels) is a
``PolicySource``: its schema, the environment variable that may point at a
replacement, and the file we ship. ``load`` resolves the path in that order,
reads it once per (path, mtime) and hands the validated document to the
caller's builder, so a file edited between two calls is read again and a file
read twice costs nothing. Errors name the file and the JSON pointer (exit 2).
"""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any, TypeVar

from preflight_action.errors import InputError
from preflight_action.paths import data_dir

T = TypeVar("T")


@dataclass(frozen=True)
class PolicySource:
    """Where one policy comes from: ``schema`` validates it, ``env_var`` may replace ``shipped``."""

    schema: str
    shipped: str  # file name under the shipped policy/ directory
    env_var: str | None = None

    def shipped_path(self) -> Path:
        return data_dir("policy") / self.shipped

    def path(self, explicit: str | Path | None = None) -> Path:
        """An explicit path, else ``$env_var``, else the shipped file."""
        if explicit:
            return Path(explicit)
        env = os.environ.get(self.env_var) if self.env_var else None
        return Path(env) if env else self.shipped_path()


SEVERITY = PolicySource("severity_policy", "severity.yaml", "PREFLIGHT_SEVERITY_POLICY")
DTYPE = PolicySource("dtype_policy", "dtype.yaml", "PREFLIGHT_DTYPE_POLICY")
MEMORY = PolicySource("memory_policy", "memory.yaml", "PREFLIGHT_MEMORY_POLICY")
GPU_REFERENCE = PolicySource("gpu_reference", "gpu_reference.yaml", "PREFLIGHT_GPU_REFERENCE")
SAFETY = PolicySource("safety_policy", "safety.yaml", "PREFLIGHT_SAFETY_POLICY")
LEVELS = PolicySource("levels_policy", "levels.yaml", "PREFLIGHT_LEVELS_POLICY")
SURROUNDINGS = PolicySource("surroundings_policy", "surroundings.yaml", "PREFLIGHT_SURROUNDINGS_POLICY")
GATES = PolicySource("gates_policy", "gates.yaml", "PREFLIGHT_GATES_POLICY")


def load(source: PolicySource, build: Callable[[Any, str], T], explicit: str | Path | None = None) -> T:
    """``build(document, path)`` for the policy ``source`` resolves to, cached per (path, mtime)."""
    file = source.path(explicit)
    try:
        info = file.stat()
        stamp = (info.st_mtime_ns, info.st_size, info.st_ino)  # a rewrite within one clock tick still shows
    except OSError:
        stamp = (-1, -1, -1)  # the reader raises the "file not found" / "cannot read" InputError
    try:
        return _load(source.schema, build, str(file), stamp)  # type: ignore[no-any-return]
    except InputError as error:
        if explicit or not source.env_var or not os.environ.get(source.env_var):
            raise
        # The user never typed this path: say which variable named it.
        raise InputError(f"${source.env_var}: {error}") from None


@lru_cache(maxsize=64)
def _load(schema: str, build: Callable[[Any, str], Any], file: str, _stamp: tuple[int, int, int]) -> Any:
    return build(read_yaml(file, schema), file)


def clear_cache() -> None:
    """Forget every cached policy (tests that rewrite a file within one mtime tick)."""
    _load.cache_clear()


def read_yaml(path: str | Path, schema: str) -> Any:
    """The YAML document at ``path``, valid against ``schema`` (InputError/SchemaError name file and pointer)."""
    from preflight_action import schemas  # late: the validator's import stays off paths that never read a file

    document = parse_yaml(path)
    schemas.validate(document, schema, str(path))
    return document


def parse_yaml(path: str | Path) -> Any:
    """Parse a YAML file, turning a missing, non-regular or malformed file into one InputError line.

    Policies and flows are plain data: an alias (``*name``, the billion-laughs bomb) is refused from the event
    stream before anything is built, a mapping key given twice is refused (YAML keeps the last silently),
    and so are an integer too long to convert and a non-finite float (``.nan``, ``.inf``), each naming the file
    and the line or the JSON pointer.
    """
    import yaml

    from preflight_action import documents

    file = Path(path)
    data = documents.read_bytes(file)  # regular files only (a FIFO blocks), at most untrusted.MAX_BYTES
    try:
        text = data.decode("utf-8")  # also rejects a binary file before the parser sees it
    except UnicodeDecodeError as exc:
        raise InputError(f"{file}: cannot read ({exc})") from None
    loader = _loader()
    try:
        if "*" in text:  # an alias needs one: the event scan (in C) costs nothing on files without
            _refuse_aliases(text, loader)
        return _finite(yaml.load(text, Loader=loader), file)  # noqa: S506 - a safe loader (SafeLoader subclass)
    except _Refused as refused:
        raise InputError(f"{file}: line {refused.line}: {refused}") from None
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" at line {mark.line + 1} column {mark.column + 1}" if mark else ""
        reason = getattr(exc, "problem", None) or str(exc).splitlines()[0]
        raise InputError(f"{file}: malformed YAML{where}: {reason}") from None


class _Refused(Exception):
    """Plain YAML we do not accept, at ``line`` (1-based)."""

    def __init__(self, line: int, message: str) -> None:
        super().__init__(message)
        self.line = line


def _refuse_aliases(text: str, loader: Any) -> None:
    import yaml

    for event in yaml.parse(text, Loader=loader):
        if isinstance(event, yaml.AliasEvent):
            line = event.start_mark.line + 1 if event.start_mark else 0
            raise _Refused(line, f"YAML aliases are not accepted (*{event.anchor}): write the value out")


@lru_cache(maxsize=1)
def _loader() -> Any:
    """libyaml's C loader where present (same documents, ~10x faster than the pure-Python one), refusing a key given
    twice and an integer Python will not convert."""
    import yaml

    base: Any = getattr(yaml, "CSafeLoader", yaml.SafeLoader)

    class StrictLoader(base):  # type: ignore[misc]
        def construct_mapping(self, node: Any, deep: bool = False) -> Any:
            if isinstance(node, yaml.MappingNode):
                seen: set[tuple[str, str]] = set()
                for key, _ in node.value:
                    if isinstance(key, yaml.ScalarNode):
                        if (key.tag, key.value) in seen:
                            raise _Refused(key.start_mark.line + 1, f"duplicate key {_short(key.value)!r} (YAML would keep only the last)")
                        seen.add((key.tag, key.value))
            return super().construct_mapping(node, deep)

        def construct_yaml_int(self, node: Any) -> Any:
            try:
                return super().construct_yaml_int(node)
            except ValueError:  # Python refuses to convert more than 4,300 digits
                digits = sum(ch.isdigit() for ch in str(node.value))
                raise _Refused(node.start_mark.line + 1, f"an integer of {digits} digits is out of range") from None

    StrictLoader.add_constructor("tag:yaml.org,2002:int", StrictLoader.construct_yaml_int)
    return StrictLoader


def _short(text: str, limit: int = 80) -> str:
    return text if len(text) <= limit else f"{text[:limit]}…"


def _finite(document: Any, file: Path) -> Any:
    """``document``, or InputError naming the JSON pointer of its first non-finite float (iterative)."""
    import math

    stack: list[tuple[Any, str]] = [(document, "")]
    while stack:
        node, pointer = stack.pop()
        if isinstance(node, float) and not math.isfinite(node):
            raise InputError(f"{file}: {pointer or '/'}: {node} is not a finite number")
        if isinstance(node, dict):
            stack.extend((value, f"{pointer}/{str(key).replace('~', '~0').replace('/', '~1')}") for key, value in reversed(node.items()))
        elif isinstance(node, list):
            stack.extend((value, f"{pointer}/{index}") for index, value in reversed(list(enumerate(node))))
    return document
