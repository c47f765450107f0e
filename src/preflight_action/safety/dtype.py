"""The safe dtype policy (policy/dtype.yaml) and the choice it makes for a runtime.

Rules are data: the first rule whose ``when`` matches the capabilities decides
which requested dtypes are kept (``allow``) and what is used otherwise
(``prefer``). torch is never needed to decide; ``DtypeChoice.torch_dtype()``
imports it only when asked.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from preflight_action import policy_files
from preflight_action.safety.capabilities import RuntimeCapabilities

SCHEMA = "dtype_policy"
ENV_VAR = policy_files.DTYPE.env_var
# Spellings people pass for the same dtype; names are torch's attribute names.
ALIASES = {
    "bf16": "bfloat16",
    "fp16": "float16",
    "half": "float16",
    "fp32": "float32",
    "float": "float32",
    "fp64": "float64",
    "double": "float64",
}
KNOWN = ("float64", "float32", "float16", "bfloat16", "float8_e4m3fn", "float8_e5m2", "int8", "int4")


@dataclass(frozen=True)
class DtypeRule:
    id: str
    when: tuple[tuple[str, tuple[Any, ...]], ...]
    allow: tuple[str, ...]
    prefer: str
    reason: str

    def matches(self, caps: RuntimeCapabilities) -> bool:
        return all(getattr(caps, field) in accepted for field, accepted in self.when)


@dataclass(frozen=True)
class DtypePolicy:
    source: str
    default_request: str
    rules: tuple[DtypeRule, ...]

    def rule_for(self, caps: RuntimeCapabilities) -> DtypeRule:
        for rule in self.rules:
            if rule.matches(caps):
                return rule
        # The schema cannot force a catch-all rule; a policy without one still answers, conservatively.
        return DtypeRule("implicit-fallback", (), ("float32",), "float32", "no rule of the dtype policy matched; float32")


@dataclass(frozen=True)
class DtypeChoice:
    dtype: str  # torch attribute name: "bfloat16", "float16", "float32", ...
    requested: str | None
    reason: str
    changed: bool  # True when a requested dtype was replaced
    simulated: bool  # decided from a simulated capability profile
    rule: str = ""
    policy: str = ""

    def torch_dtype(self) -> Any:
        """The ``torch.dtype`` (imports torch); raises ImportError without torch."""
        import torch

        return getattr(torch, self.dtype)

    def to_dict(self) -> dict[str, Any]:
        return {
            "dtype": self.dtype,
            "requested": self.requested,
            "reason": self.reason,
            "changed": self.changed,
            "rule": self.rule,
            "simulated": self.simulated,
        }

    def __str__(self) -> str:
        return self.dtype


def normalize(dtype: Any) -> str | None:
    """``torch.bfloat16``, ``"torch.bfloat16"``, ``"bf16"`` -> ``"bfloat16"``; None stays None."""
    if dtype is None:
        return None
    text = str(dtype).strip().lower().removeprefix("torch.")
    name = ALIASES.get(text, text)
    if name not in KNOWN:
        raise ValueError(f"unknown dtype {dtype!r}; known: {', '.join(KNOWN)} (aliases {', '.join(sorted(ALIASES))})")
    return name


def default_path() -> Path:
    return policy_files.DTYPE.shipped_path()


def policy_path(path: str | Path | None = None) -> Path:
    """An explicit path, else $PREFLIGHT_DTYPE_POLICY, else the shipped policy."""
    return policy_files.DTYPE.path(path)


def load_dtype_policy(path: str | Path | None = None) -> DtypePolicy:
    """Load and schema-validate a dtype policy (InputError names the file and JSON pointer); cached per file."""
    return policy_files.load(policy_files.DTYPE, _build, path)


def _build(document: Any, file: str) -> DtypePolicy:
    rules = tuple(
        DtypeRule(
            id=rule["id"],
            when=tuple((field, tuple(values)) for field, values in rule["when"].items()),
            allow=tuple(rule["allow"]),
            prefer=rule["prefer"],
            reason=rule["reason"],
        )
        for rule in document["rules"]
    )
    return DtypePolicy(source=file, default_request=document["default_request"], rules=rules)


def choose(requested: Any, caps: RuntimeCapabilities, policy: DtypePolicy) -> DtypeChoice:
    """Apply ``policy`` to ``caps`` for a ``requested`` dtype (None: the rule's preferred dtype)."""
    wanted = normalize(requested)
    rule = policy.rule_for(caps)
    where = f"{caps.os_label}, {caps.backend}" + (f", {caps.device_name}" if caps.device_name else "")
    if wanted is None:
        chosen, changed = rule.prefer, False
        reason = f"no dtype requested; {chosen} ({where}): {rule.reason} [rule {rule.id}]"
    elif wanted in rule.allow:
        chosen, changed = wanted, False
        reason = f"requested {wanted} kept ({where}): {rule.reason} [rule {rule.id}]"
    else:
        chosen, changed = rule.prefer, True
        reason = f"requested {wanted} but using {chosen} for safety ({where}): {rule.reason} [rule {rule.id}]"
    if caps.simulated:
        reason = f"{reason} (SIMULATED: {caps.source})"
    return DtypeChoice(chosen, wanted, reason, changed, caps.simulated, rule.id, policy.source)
