"""The one accessor for JSON Schemas in ``schemas/``: load, validate, read validated files."""

from __future__ import annotations

import difflib
import json
from functools import cache, lru_cache
from pathlib import Path
from typing import TYPE_CHECKING, Any

from preflight_action import documents, untrusted
from preflight_action.errors import SchemaError
from preflight_action.paths import data_dir

if TYPE_CHECKING:  # jsonschema loads only to explain a rejection: the fast path below accepts without it
    import jsonschema
    from referencing import Registry


def schema_dir() -> Path:
    return data_dir("schemas")


@lru_cache(maxsize=1)
def _documents() -> dict[str, dict[str, Any]]:
    by_name: dict[str, dict[str, Any]] = {}
    for path in sorted(schema_dir().glob("*.schema.json")):
        by_name[path.name.removesuffix(".schema.json")] = json.loads(path.read_text(encoding="utf-8"))
    return by_name


@lru_cache(maxsize=1)
def _registry() -> Registry:
    from referencing import Registry, Resource

    return Registry().with_resources((schema["$id"], Resource.from_contents(schema)) for schema in _documents().values())


def names() -> list[str]:
    """Every schema name (file name without ``.schema.json``)."""
    return sorted(_documents())


@cache
def load(name: str) -> dict[str, Any]:
    """The schema document called ``name`` (e.g. ``preflight_report``); one file read, not the whole folder."""
    path = schema_dir() / f"{name}.schema.json"
    if "/" in name or "\\" in name or not path.is_file():
        raise KeyError(f"no schema named {name!r}; known: {', '.join(names())}")
    document: dict[str, Any] = json.loads(path.read_text(encoding="utf-8"))
    return document


@cache
def validator(name: str) -> jsonschema.protocols.Validator:
    import jsonschema

    schema = load(name)
    cls = jsonschema.validators.validator_for(schema)
    return cls(schema, registry=_registry(), format_checker=cls.FORMAT_CHECKER)


def _pointer(error: jsonschema.ValidationError) -> str:
    parts = [str(p).replace("~", "~0").replace("/", "~1") for p in error.absolute_path]
    return "/" + "/".join(parts) if parts else "/"


def _suggest(error: jsonschema.ValidationError) -> str:
    if error.validator != "additionalProperties" or not isinstance(error.instance, dict):
        return ""
    allowed = list((error.schema.get("properties") or {}).keys()) if isinstance(error.schema, dict) else []
    extra = [key for key in error.instance if key not in allowed]
    hints = []
    for key in extra:
        close = difflib.get_close_matches(key, allowed, n=1)
        if close:
            hints.append(f"{key!r} -> did you mean {close[0]!r}?")
    return f" ({'; '.join(hints)})" if hints else ""


def _minor(version: Any) -> tuple[int, int] | None:
    parts = str(version).split(".") if isinstance(version, str) else []
    return (int(parts[0]), int(parts[1])) if len(parts) == 2 and all(p.isdigit() for p in parts) else None


def newer_minor(document: Any, name: str) -> bool:
    """True when ``document`` says it is a later 1.x than the schema we ship (``x-schema-version``).

    Minor versions only add fields, so a reader accepts a newer minor's extra
    properties and ignores them; everything else is still enforced.
    """
    ours = _minor(load(name).get("x-schema-version"))
    theirs = _minor(document.get("schema_version")) if isinstance(document, dict) else None
    return bool(ours and theirs and theirs[0] == ours[0] and theirs[1] > ours[1])


def _major(version: Any) -> int | None:
    """1 from ``1``, ``"1.0"`` or ``"1.3"``; None for anything else (bool, "x", a float)."""
    if isinstance(version, int) and not isinstance(version, bool):
        return version
    head = version.split(".", 1)[0] if isinstance(version, str) else ""
    return int(head) if head.isdigit() else None


@cache
def _our_major(name: str) -> int | None:
    """The major version schema ``name`` accepts: ``x-schema-version``, else its schema_version const or ^N. pattern."""
    schema = load(name)
    declared = _major(schema.get("x-schema-version"))
    if declared is not None:
        return declared
    field = (schema.get("properties") or {}).get("schema_version") or {}
    if "const" in field:
        return _major(field["const"])
    pattern = str(field.get("pattern", ""))
    digits = pattern.removeprefix("^").split("\\.", 1)[0]
    return int(digits) if digits.isdigit() else None


LABELS = {"preflight_report": "report"}  # what a user calls the artifact; others read as their schema name


def newer_major(document: Any, name: str) -> str | None:
    """'report schema 2.0 is newer than this tool (1.x): upgrade preflight-action' for a later major, else None."""
    theirs = _major(document.get("schema_version")) if isinstance(document, dict) else None
    ours = _our_major(name)
    if theirs is None or ours is None or theirs <= ours:
        return None
    label = LABELS.get(name, name.replace("_", " "))
    return f"{label} schema {document['schema_version']} is newer than this tool ({ours}.x): upgrade preflight-action"


@cache
def _fast(name: str) -> Any:
    """A compiled jsonschema-rs validator for ``name``, or None where it cannot serve.

    It only ever answers "valid" quickly (about json.load speed, 100x the pure-Python
    validator); every rejection is re-checked and explained by ``jsonschema`` below, so
    messages and the final word stay in one place. Schemas that ``$ref`` another file
    keep the pure-Python path, which resolves them through our local registry.
    """
    schema = load(name)
    if '"$ref": "http' in json.dumps(schema):
        return None
    try:
        import jsonschema_rs
    except ImportError:  # declared dependency; stay correct without it
        return None
    return jsonschema_rs.validator_for(schema, validate_formats=True)


def _fast_accepts(document: Any, name: str) -> bool:
    fast = _fast(name)
    if fast is None:
        return False
    try:
        return bool(fast.is_valid(document))
    except (ValueError, TypeError):  # a Python object it cannot map (a str subclass, say): ask jsonschema
        return False


def is_valid(document: Any, name: str) -> bool:
    """Whether ``document`` satisfies schema ``name`` (fast path first)."""
    return _fast_accepts(document, name) or not problems(document, name)


def problems(document: Any, name: str) -> list[str]:
    """Every violation as ``/json/pointer: message``, sorted by location (empty when valid)."""
    if _fast_accepts(document, name):
        return []
    newer = newer_major(document, name)
    if newer:  # its other fields may differ in any way: the version is the one thing worth saying
        return [f"/schema_version: {newer}"]
    errors = sorted(validator(name).iter_errors(document), key=lambda e: (list(map(str, e.absolute_path)), e.message))
    if errors and newer_minor(document, name):
        errors = [e for e in errors if e.validator != "additionalProperties"]
    return [f"{_pointer(e)}: {e.message[:300]}{_suggest(e)}" for e in errors]


def validate(document: Any, name: str, source: str) -> None:
    """Raise SchemaError naming ``source`` and each JSON pointer when ``document`` is invalid."""
    found = problems(document, name)
    if found:
        raise SchemaError(source, found)


def read_json(path: str | Path, name: str, max_bytes: int = untrusted.MAX_BYTES) -> Any:
    """Read a JSON file through the hardened reader and validate it against schema ``name``; one clear error otherwise."""
    document = parse_file(path, "json", max_bytes)
    validate(document, name, str(path))
    return document


def parse_file(path: str | Path, kind: str = "json", max_bytes: int = untrusted.MAX_BYTES) -> Any:
    """Parse JSON through ``documents.read`` (size, depth and strings bounded, unsafe characters escaped); InputError otherwise.

    YAML goes through ``policy_files``.
    """
    if kind != "json":
        raise ValueError(f"schemas.parse_file reads JSON; YAML goes through policy_files.read_yaml, not {kind!r}")
    return documents.read(path, max_bytes).value
