"""How two inventories differ: the runtime, packages, environment variables and platform facts that changed.

Each change is one ``Change`` with a one-line text ("torch 2.14.0 -> 2.14.1", "NCCL_ALGO set (Ring)"),
ordered within its group by how likely it is to explain a failure: the torch stack before other packages,
the CUDA runtime wheels (nvidia-*) first among those, the loader's variables before the rest.
A part only one side recorded, or recorded partly (a report written before the inventory), is compared
on what both sides know, and a note says so.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from packaging.version import InvalidVersion, Version

from preflight_action.diff.parts import PART_NAMES, Parts, legacy_variable
from preflight_action.vocab import INVENTORY_ENV_NAMES, ChangeKind, DiffGroup

# Packages that are the runtime itself: their changes lead (group "runtime"), in this order.
RUNTIME_PACKAGES = ("torch", "torchvision", "torchaudio", "triton", "pytorch-triton-rocm")
# Platform facts that are the runtime (group "runtime"), in this order, with the words they are shown by.
RUNTIME_FACTS = {
    "torch_cuda_build": "torch's CUDA build",
    "torch_hip_build": "torch's HIP build",
    "cudnn_version": "cuDNN",
    "cuda_driver_version": "CUDA driver",
    "nvidia_driver_version": "NVIDIA driver",
    "python_version": "Python",
    "python_implementation": "Python implementation",
    "torch_debug": "torch debug build",
}
FACT_WORDS = {
    "os_distribution": "OS",
    "os_version": "OS version",
    "os_release": "kernel",
    "machine": "machine",
    "libc_version": "C library version",
    "cxx_compiler": "C++ compiler",
    "cxx_compiler_version": "C++ compiler version",
    "cpu_model": "CPU",
    "cpu_isa": "CPU ISA",
    "torch_cxx11_abi": "torch C++11 ABI",
    "torch_wheel_platform": "torch wheel platform",
    "torch_cpu_capability": "torch CPU capability",
    "torch_num_threads": "torch threads",
    "device_name": "device",
    "compute_capability": "compute capability",
    "total_memory_mb": "device memory (MB)",
    "ram_total_mb": "RAM (MB)",
}
# Facts a run collects only at some levels (the quick level starts no compiler and reads no cuDNN on a CPU):
# known on one side and None on the other is not a change.
LEVEL_DEPENDENT = frozenset({"cxx_compiler_version", "cudnn_version"})
TEXT_LIMIT = 80


@dataclass(frozen=True)
class Change:
    group: DiffGroup
    kind: ChangeKind
    subject: str
    before: Any
    after: Any
    text: str

    def to_dict(self) -> dict[str, Any]:
        return {
            "group": self.group,
            "kind": self.kind,
            "subject": self.subject,
            "before": self.before,
            "after": self.after,
            "text": self.text,
        }


def short(value: Any, limit: int = TEXT_LIMIT) -> str:
    """A value as a short word for a one-line text (None as "none", lists joined, long ones cut)."""
    if value is None:
        return "none"
    text = " ".join(str(v) for v in value) if isinstance(value, list) else str(value)
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _direction(before: str | None, after: str | None) -> ChangeKind:
    """upgraded / downgraded by PEP 440's public version; "changed" where the public versions are equal (or either is
    no version): PEP 440 orders local labels too (2.14.1+cu130 > 2.14.1+cpu), but another build is not a newer one."""
    try:
        old, new = Version(str(before)), Version(str(after))
    except InvalidVersion:
        return "changed"
    if new.public == old.public:
        return "changed"  # the same release: another local label (+cu130 -> +cpu), or the same version written otherwise
    return "upgraded" if new > old else "downgraded"


def _another_build(before: Any, after: Any) -> str:
    """The words " (another build of the same version)" where two versions differ only in their local label (+cu130 -> +cpu)."""
    try:
        old, new = Version(str(before)), Version(str(after))
    except InvalidVersion:
        return ""
    return " (another build of the same version)" if old.public == new.public and old.local != new.local else ""


def _package_order(name: str) -> tuple[int, str]:
    if name in RUNTIME_PACKAGES:
        return 0, f"{RUNTIME_PACKAGES.index(name):02d}"
    return (1 if name.startswith("nvidia-") else 2), name


def packages(before: dict[str, Any], after: dict[str, Any]) -> list[Change]:
    """Packages upgraded, downgraded, added, removed or moved to another source; the runtime's own in group runtime."""
    old, new = before.get("versions") or {}, after.get("versions") or {}
    partial = before.get("partial") or after.get("partial")
    names = set(old) & set(new) if partial else set(old) | set(new)
    out: list[Change] = []
    for name in sorted(names, key=_package_order):
        group: DiffGroup = "runtime" if name in RUNTIME_PACKAGES else "packages"
        if name not in old:
            out.append(Change(group, "added", name, None, new[name], f"{name} {short(new[name])} added"))
        elif name not in new:
            out.append(Change(group, "removed", name, old[name], None, f"{name} {short(old[name])} removed"))
        elif old[name] != new[name]:
            text = f"{name} {short(old[name])} -> {short(new[name])}{_another_build(old[name], new[name])}"
            out.append(Change(group, _direction(old[name], new[name]), name, old[name], new[name], text))
        if partial or name not in old or name not in new:
            continue
        was, now = (before.get("sources") or {}).get(name, "site-packages"), (after.get("sources") or {}).get(name, "site-packages")
        if was != now:
            out.append(Change(group, "moved", name, was, now, f"{name} now from {now} (was {was})"))
    if not partial:
        out.extend(_shadowed(before.get("shadowed") or {}, after.get("shadowed") or {}, new))
        if before.get("digest") != after.get("digest") and (before.get("omitted") or after.get("omitted")) and not out:
            count = max(before.get("omitted", 0), after.get("omitted", 0))
            text = f"something among the {count} distributions past the inventory's bound changed (their digest differs)"
            out.append(Change("packages", "changed", "distributions past the bound", before.get("digest"), after.get("digest"), text))
    return out


def _shadowed(before: dict[str, list[Any]], after: dict[str, list[Any]], versions: dict[str, Any]) -> list[Change]:
    """Second copies further down sys.path that came or went; new copies of the very version an import takes, in one line."""
    out = []
    same: list[str] = []
    for name in sorted(set(before) | set(after), key=_package_order):
        was, now = sorted(map(str, before.get(name, []))), sorted(map(str, after.get(name, [])))
        if was == now:
            continue
        kind: ChangeKind = "added" if not was else "removed" if not now else "changed"
        if kind == "added" and set(now) == {str(versions.get(name))}:
            same.append(name)
            continue
        words = {
            "added": f"a second {name} ({', '.join(now)}) now further down sys.path (shadowed)",
            "removed": f"the shadowed second {name} ({', '.join(was)}) is gone",
            "changed": f"shadowed copies of {name}: {', '.join(was)} -> {', '.join(now)}",
        }
        out.append(Change("packages", kind, f"{name} (shadowed copy)", was, now, words[kind]))
    if same:
        shown = ", ".join(same[:8]) + (f" and {len(same) - 8} more" if len(same) > 8 else "")
        text = f"{len(same)} package{'s' if len(same) != 1 else ''} now installed twice, the same version further down sys.path (shadowed): {shown}"
        out.append(Change("packages", "added", "shadowed copies of the same version", None, same, text))
    return out


def environment(before: dict[str, Any], after: dict[str, Any]) -> list[Change]:
    """Variables set, unset or changed (compared on the variables both sides recorded)."""
    old, new = before.get("variables") or {}, after.get("variables") or {}
    names = set(old) | set(new)
    if before.get("partial") or after.get("partial"):
        names = {n for n in names if legacy_variable(n)}
    order = {name: index for index, name in enumerate(INVENTORY_ENV_NAMES)}
    out: list[Change] = []
    for name in sorted(names, key=lambda n: (order.get(n, len(order)), n)):
        if name not in old:
            out.append(Change("environment", "set", name, None, new[name], f"{name} set ({short(new[name], 40)})"))
        elif name not in new:
            out.append(Change("environment", "unset", name, old[name], None, f"{name} unset (was {short(old[name], 40)})"))
        elif old[name] != new[name]:
            out.append(
                Change("environment", "changed", name, old[name], new[name], f"{name} {short(old[name], 40)} -> {short(new[name], 40)}")
            )
    return out


def platform(before: dict[str, Any], after: dict[str, Any]) -> list[Change]:
    """Platform facts that changed: the runtime's (CUDA build, driver, Python) in group runtime, the others in capabilities."""
    old, new = before.get("facts") or {}, after.get("facts") or {}
    both_full = not (before.get("partial") or after.get("partial"))
    runtime = [f for f in RUNTIME_FACTS if f in old or f in new]
    others = sorted((set(old) | set(new)) - set(RUNTIME_FACTS) - {"torch_version"})  # torch's version: its package
    out: list[Change] = []
    for fact in [*runtime, *others]:
        if (fact not in old or fact not in new) and not both_full:
            continue
        was, now = old.get(fact), new.get(fact)
        if was == now or (fact in LEVEL_DEPENDENT and (was is None or now is None)):
            continue
        group: DiffGroup = "runtime" if fact in RUNTIME_FACTS else "capabilities"
        word = RUNTIME_FACTS.get(fact) or FACT_WORDS.get(fact) or fact
        kind: ChangeKind = "changed"
        build = ""
        if group == "runtime" and isinstance(was, str) and isinstance(now, str):
            kind, build = _direction(was, now), _another_build(was, now)
        out.append(Change(group, kind, fact, was, now, f"{word} {short(was)} -> {short(now)}{build}"))
    return out


def known(parts: Parts | None) -> Parts | None:
    """``parts`` where the run recorded any part of an inventory, else None (a report with neither an inventory nor a
    fingerprint's packages, variables or facts records nothing to compare)."""
    if parts is None or all(parts.part(name) is None for name in PART_NAMES):
        return None
    return parts


def _unrecorded(earlier: bool, later: bool) -> str:
    """Which run did not record something: neither, the earlier or the later (``earlier``/``later``: whether each did)."""
    if not earlier and not later:
        return "neither run recorded"
    return "the earlier run did not record" if not earlier else "the later run did not record"


def compared(before: Parts | None, after: Parts | None) -> tuple[list[Change], list[str], int]:
    """(what changed between two runs' inventories, notes on what could not be compared, how many parts were compared)."""
    before, after = known(before), known(after)
    if before is None or after is None:
        missing = _unrecorded(before is not None, after is not None)
        return [], [f"{missing} an inventory: packages, variables and platform facts not compared"], 0
    changes: list[Change] = []
    notes: list[str] = []
    count = 0
    for name, compare in (("packages", packages), ("environment", environment), ("platform", platform)):
        old, new = before.part(name), after.part(name)
        if old is None or new is None:
            notes.append(f"{name}: {_unrecorded(old is not None, new is not None)} it; not compared")
            continue
        if old.get("partial") or new.get("partial"):
            notes.append(f"{name}: one run was written before the inventory; compared on what both recorded")
        changes.extend(compare(old, new))
        count += 1
    changes.sort(key=lambda c: c.group != "runtime")  # stable: the runtime's changes lead, each group keeps its order
    return changes, notes, count


def inventories(before: Parts | None, after: Parts | None) -> tuple[list[Change], list[str]]:
    """(what changed between two runs' inventories, notes on what could not be compared)."""
    changes, notes, _ = compared(before, after)
    return changes, notes
