"""Simulated capability profiles (policy/simulated/*.yaml): every platform branch, on any machine.

A profile is the facts of one real machine kind (H100 on Linux, RTX 4090 on
native Windows with WDDM, Apple M2 with MPS, ...). The record it yields has
``simulated=True`` and names its file as ``source``, so nothing derived from
it can pass for a measurement.
"""

from __future__ import annotations

from pathlib import Path

from preflight_action import policy_files
from preflight_action.errors import InputError
from preflight_action.paths import data_dir
from preflight_action.safety.capabilities import RuntimeCapabilities

SCHEMA = "capability_profile"


def profiles_dir() -> Path:
    return data_dir("policy") / "simulated"


def list_simulated_profiles() -> list[str]:
    """Names of the shipped profiles (file names without ``.yaml``), sorted."""
    return sorted(path.stem for path in profiles_dir().glob("*.yaml"))


def profile_path(name_or_path: str | Path) -> Path:
    """A shipped profile's file for a bare name, else the path as given."""
    text = str(name_or_path)
    if "/" not in text and "\\" not in text and not text.endswith((".yaml", ".yml")):
        shipped = profiles_dir() / f"{text}.yaml"
        if not shipped.is_file():
            known = ", ".join(list_simulated_profiles())
            raise InputError(f"simulated profile {text!r} not found; known: {known} (or pass a path to a YAML file)")
        return shipped
    return Path(text)


def load_simulated_profile(name_or_path: str | Path) -> RuntimeCapabilities:
    """Load a profile by shipped name (``h100-linux``) or file path; schema-validated, marked simulated."""
    path = profile_path(name_or_path)
    document = policy_files.read_yaml(path, SCHEMA)
    label = document["name"] if path.parent == profiles_dir() else str(path)
    return RuntimeCapabilities.from_dict(document["capabilities"], simulated=True, source=f"simulated profile {label}")
