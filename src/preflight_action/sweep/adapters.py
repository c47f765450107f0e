"""Adapter manifests: the executable (inside the repository), typed parameters, argument lists."""

from __future__ import annotations

import difflib
from pathlib import Path
from typing import Any

from preflight_action import policy_files
from preflight_action.errors import InputError
from preflight_action.sweep.records import Adapter, Parameter, Scalar


def _parameter(name: str, raw: dict[str, Any]) -> Parameter:
    return Parameter(
        name=name,
        type=raw["type"],
        flag=raw.get("flag") or "--" + name.replace("_", "-"),
        choices=tuple(raw["choices"]) if "choices" in raw else None,
        minimum=raw.get("min"),
        maximum=raw.get("max"),
        default=raw.get("default"),
        required=bool(raw.get("required", False)),
    )


def contained_executable(manifest: Path, executable: str, root: Path) -> Path:
    """The executable resolved against the manifest's folder; refused when it leaves ``root``."""
    resolved = (manifest.parent / executable).resolve()
    if not resolved.is_relative_to(root.resolve()):
        raise InputError(
            f"{manifest}: /executable: {executable!r} resolves to {resolved}, outside the repository {root.resolve()}; refused"
        )
    return resolved


def load_manifest(path: Path, root: Path) -> Adapter:
    document = policy_files.read_yaml(path, "adapter_manifest")
    executable = contained_executable(path, document["executable"], root)
    if not executable.is_file():
        raise InputError(f"{path}: /executable: {executable} does not exist")
    return Adapter(
        name=document["name"],
        path=path,
        executable=executable,
        interpreter=document.get("interpreter", "python"),
        prelude=tuple(document.get("prelude") or ()),
        parameters={n: _parameter(n, raw) for n, raw in (document.get("parameters") or {}).items()},
        timeout_s=document.get("timeout_s"),
        description=document.get("description", ""),
        metrics=tuple(document.get("metrics") or ()),
    )


def load_adapters(directory: Path, root: Path) -> dict[str, Adapter]:
    found: dict[str, Adapter] = {}
    for path in sorted(directory.glob("*.yaml")):
        adapter = load_manifest(path, root)
        if adapter.name in found:
            raise InputError(f"{path}: /name: adapter {adapter.name!r} is also defined in {found[adapter.name].path}")
        found[adapter.name] = adapter
    return found


def _type_ok(kind: str, value: Scalar) -> bool:
    if kind == "boolean":
        return isinstance(value, bool)
    if isinstance(value, bool):
        return False
    if kind == "integer":
        return isinstance(value, int)
    if kind == "number":
        return isinstance(value, (int, float))
    return isinstance(value, str)


def value_problems(adapter: Adapter, params: dict[str, Scalar]) -> list[str]:
    """Every way ``params`` disagrees with the manifest: unknown names, types, choices, min/max, missing."""
    out: list[str] = []
    for name, value in params.items():
        spec = adapter.parameters.get(name)
        if spec is None:
            close = difflib.get_close_matches(name, list(adapter.parameters), n=1)
            hint = f" (did you mean {close[0]!r}?)" if close else ""
            out.append(f"{name}: adapter {adapter.name!r} has no parameter {name!r}{hint}")
            continue
        if not _type_ok(spec.type, value):
            out.append(f"{name}: {value!r} is not of type {spec.type} ({adapter.path})")
            continue
        if spec.choices is not None and value not in spec.choices:
            close = difflib.get_close_matches(str(value), [str(c) for c in spec.choices], n=1)
            hint = f" (did you mean {close[0]!r}?)" if close else ""
            out.append(f"{name}: {value!r} is not one of {list(spec.choices)}{hint} ({adapter.path})")
        if spec.minimum is not None and isinstance(value, (int, float)) and value < spec.minimum:
            out.append(f"{name}: {value!r} is below the manifest minimum {spec.minimum:g} ({adapter.path})")
        if spec.maximum is not None and isinstance(value, (int, float)) and value > spec.maximum:
            out.append(f"{name}: {value!r} is above the manifest maximum {spec.maximum:g} ({adapter.path})")
    for name, spec in adapter.parameters.items():
        if spec.required and name not in params and spec.default is None:
            out.append(f"{name}: required by adapter {adapter.name!r} but not given")
    return out


def _text(value: Scalar) -> str:
    if isinstance(value, float):
        return repr(value)
    return str(value)


def build_argv(adapter: Adapter, params: dict[str, Scalar], python: str) -> list[str]:
    """The argument list (never a shell string) for one step; values must already be validated."""
    problems = value_problems(adapter, params)
    if problems:
        raise InputError(f"{adapter.path}: {'; '.join(problems)}")
    argv = [python, str(adapter.executable)] if adapter.interpreter == "python" else [str(adapter.executable)]
    argv.extend(adapter.prelude)
    for name in sorted(params):
        spec = adapter.parameters[name]
        value = params[name]
        if spec.type == "boolean":
            if value:
                argv.append(spec.flag)
        else:
            argv.extend([spec.flag, _text(value)])
    return argv
