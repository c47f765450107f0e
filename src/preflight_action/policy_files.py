"""Read a policy YAML file fast (libyaml when PyYAML has it), validated through ``schemas``.

PyYAML's pure-Python loader takes ~10-15 ms for a small policy file; the
libyaml ``CSafeLoader`` takes under 1 ms, which keeps the preflight's host
checks free. Any problem (missing file, bad YAML, no libyaml) falls back to
``schemas.read_yaml`` so error messages are the project's one format.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any


def read_yaml(path: str | Path, schema: str) -> Any:
    """The document at ``path``, valid against ``schema`` (InputError/SchemaError name file and pointer)."""
    import yaml

    from preflight_action import schemas

    loader = getattr(yaml, "CSafeLoader", None)
    if loader is None:
        return schemas.read_yaml(path, schema)
    try:
        document = yaml.load(Path(path).read_text(encoding="utf-8"), Loader=loader)  # noqa: S506 - CSafeLoader is the safe loader
    except (OSError, UnicodeDecodeError, yaml.YAMLError):
        return schemas.read_yaml(path, schema)  # raises the canonical InputError
    schemas.validate(document, schema, str(path))
    return document
