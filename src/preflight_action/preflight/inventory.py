"""The report's inventory: what ran, so that two reports can say how they differ, not only that they do.

Three parts: every distribution the diagnosed interpreter can import (the probe's scan, made beside
deps.consistency from the directory listings it already reads), the behaviour-changing environment
(vocab's allow-list, values redacted like the rest of the report) and the platform facts
(capabilities.detect: OS, kernel, compiler, C library, torch's build and ABI, CPU ISA, driver, device).

Bounded: at most ``MAX_DISTRIBUTIONS`` distributions (the rest counted in ``omitted`` and still part of
``digest``), ``MAX_VARIABLES`` variables of at most ``MAX_VALUE_CHARS`` characters each. A distribution
is one ``"name": "version"`` line under the sys.path entry that holds it, about 35 bytes as written:
a 400-package environment adds about 15 KB to a report, the bound about 70 KB.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from functools import cached_property
from typing import Any

from preflight_action import redact, untrusted
from preflight_action.vocab import EDITABLE, INVENTORY_ENV_NAMES, INVENTORY_ENV_PREFIXES

MAX_DISTRIBUTIONS = 2000
MAX_VARIABLES = 256
MAX_VALUE_CHARS = 1024

# capabilities.detect facts that describe the machine and the runtime (not paths, not what changes run to run).
PLATFORM_FACTS = (
    "os", "os_distribution", "os_version", "os_release", "machine", "is_wsl2", "libc", "libc_version",
    "cxx_compiler", "cxx_compiler_version", "cpu_model", "cpu_isa", "cpu_count", "cpu_cores", "ram_total_mb",
    "python_version", "python_implementation", "torch_version", "torch_debug", "torch_cuda_build", "torch_hip_build",
    "torch_cxx11_abi", "torch_cpu_capability", "torch_num_threads", "cudnn_version", "cuda_available",
    "cuda_device_count", "cuda_driver_version", "windows_driver_model", "mps_built", "mps_available", "xpu_available",
    "device_name", "compute_capability", "multi_processor_count", "total_memory_mb", "bf16_supported", "bf16_native",
    "gcn_arch",
)  # fmt: skip
_WHEEL_PLATFORM = re.compile(r"^[^-]+-[^-]+-(.+)$")


@dataclass(frozen=True)
class Distribution:
    name: str  # PEP 503 normalised
    version: str | None
    source: str  # vocab.InventorySource, or "editable"
    path: str  # the sys.path entry (or conda-meta/) it sits in
    added_by: str | None = None  # the .pth file that put ``path`` on sys.path
    editable: str | None = None  # an editable install's source folder
    shadowed: bool = False  # an earlier sys.path entry holds it too: that copy wins an import


@dataclass(frozen=True)
class Inventory:
    """The report's ``inventory`` object as written (schema-valid); the typed views are built when first read,
    so reading 10,000 reports does not build 4,000,000 records nobody looks at."""

    document: dict[str, Any]

    @cached_property
    def distributions(self) -> tuple[Distribution, ...]:
        """Every listed distribution by name, the copy an import takes (the first sys.path entry's) first."""
        out = []
        seen: set[str] = set()
        for where in self.document.get("paths") or ():
            editable = where.get("editable") or {}
            for name, listed in where["distributions"].items():
                for version in listed if isinstance(listed, list) else [listed]:
                    source = EDITABLE if name in editable else where["source"]
                    out.append(Distribution(name, version, source, where["path"], where["added_by"], editable.get(name), name in seen))
                    seen.add(name)
        out.sort(key=lambda d: (d.name, d.shadowed))  # stable: shadowed copies keep their sys.path order
        return tuple(out)

    @property
    def scanned(self) -> bool:
        """Whether the distributions were scanned (the probe's deps.consistency ran)."""
        return "paths" in self.document

    @property
    def omitted(self) -> int:
        return int(self.document.get("omitted", 0))

    @property
    def digest(self) -> str | None:
        """A hash over every distribution, the omitted ones too."""
        value = self.document.get("digest")
        return str(value) if value is not None else None

    @property
    def environment(self) -> dict[str, str]:
        return dict(self.document.get("environment") or {})

    @property
    def platform(self) -> dict[str, Any]:
        return dict(self.document.get("platform") or {})

    @property
    def note(self) -> str | None:
        value = self.document.get("note")
        return str(value) if value is not None else None

    def to_dict(self) -> dict[str, Any]:
        return self.document


def allowed(name: str) -> bool:
    """Whether ``name`` is on the inventory's allow-list of behaviour-changing variables."""
    return name in INVENTORY_ENV_NAMES or name.startswith(INVENTORY_ENV_PREFIXES)


def environment(environ: Mapping[str, str]) -> tuple[dict[str, str], int]:
    """(the allow-listed variables that are set, redacted and cut to ``MAX_VALUE_CHARS``; how many were left out)."""
    names = sorted(name for name in environ if allowed(name))
    kept = redact.redact_environment(environ, names[:MAX_VARIABLES])
    # escaped before the cut, so the report's own cleaning (session.finalize) cannot grow a value past the bound
    shown = {k: untrusted.escape(v) for k, v in kept.items()}
    cut = {k: v if len(v) <= MAX_VALUE_CHARS else v[: MAX_VALUE_CHARS - 1] + "…" for k, v in shown.items()}
    return cut, max(0, len(names) - MAX_VARIABLES)


def platform(caps: Mapping[str, Any], deps: Mapping[str, Any], gpu: Mapping[str, Any]) -> dict[str, Any]:
    """The platform facts: capabilities.detect's, torch's wheel platform (its glibc floor), the NVIDIA driver (NVML)."""
    facts = {name: caps[name] for name in PLATFORM_FACTS if name in caps}
    torch_found = ((deps.get("distributions") or {}).get("torch") or [None])[0] or {}
    tags = [t for t in torch_found.get("wheel_tags") or () if isinstance(t, str)]
    match = _WHEEL_PLATFORM.match(tags[0]) if tags else None
    if match:
        facts["torch_wheel_platform"] = match.group(1)  # manylinux_2_28_x86_64: the oldest glibc it runs on
    driver = (gpu.get("readings") or {}).get("driver_version")
    if driver:
        facts["nvidia_driver_version"] = str(driver)
    return facts


def build(
    scan: Mapping[str, Any] | None,
    caps: Mapping[str, Any],
    deps: Mapping[str, Any],
    gpu: Mapping[str, Any],
    environ: Mapping[str, str],
    why_not: str,
) -> Inventory:
    """The inventory of one run; ``why_not`` says why there is no distribution scan when ``scan`` is None."""
    variables, left_out = environment(environ)
    document: dict[str, Any] = {}
    if scan is not None:
        document.update(paths=list(scan["paths"]), omitted=scan["omitted"], digest=scan["digest"])
    else:
        document["note"] = why_not
    document["environment"] = variables
    if left_out:
        document["environment_omitted"] = left_out
    document["platform"] = platform(caps, deps, gpu)
    return Inventory(document)
