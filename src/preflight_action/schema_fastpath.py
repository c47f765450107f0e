"""A compiled fast path in front of ``schemas.validate`` for reading many artifacts at once.

fastjsonschema compiles a schema to Python code (~50x faster than jsonschema on
our documents). It only ever *accepts*: a document it rejects goes through
``schemas.validate``, which stays the authority and names the file and JSON
pointer. Schemas using keywords newer than draft 7 skip the fast path.
"""

from __future__ import annotations

from collections.abc import Callable
from functools import cache
from typing import Any

from preflight_action import schemas

NEWER_KEYWORDS = frozenset(
    {
        "unevaluatedProperties",
        "unevaluatedItems",
        "prefixItems",
        "dependentRequired",
        "dependentSchemas",
        "$dynamicRef",
        "$dynamicAnchor",
        "minContains",
        "maxContains",
    }
)


def _keywords(node: Any) -> set[str]:
    found: set[str] = set()
    if isinstance(node, dict):
        found.update(k for k in node if isinstance(k, str))
        for value in node.values():
            found |= _keywords(value)
    elif isinstance(node, list):
        for value in node:
            found |= _keywords(value)
    return found


@cache
def _compiled(name: str) -> Callable[[Any], Any] | None:
    schema = schemas.load(name)
    if _keywords(schema) & NEWER_KEYWORDS:
        return None
    try:
        import fastjsonschema

        return fastjsonschema.compile({k: v for k, v in schema.items() if k != "$schema"})
    except Exception:  # a schema it cannot compile simply has no fast path
        return None


def validate(document: Any, name: str, source: str) -> None:
    """Same contract as ``schemas.validate``: return when valid, raise SchemaError otherwise."""
    check = _compiled(name)
    if check is not None:
        try:
            check(document)
        except Exception:  # noqa: S110 - the authoritative validator below decides and explains
            pass
        else:
            return
    schemas.validate(document, name, source)
