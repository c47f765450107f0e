"""Memory estimates (weights, gradients, Adam states, activations, overhead) and the VRAM gate.

Parameter counts come from the named-model table in policy/memory.yaml, a
plain int, or a ``torch.nn.Module`` (build it on the ``meta`` device: no
memory, no download; ``meta_model`` does that for you). Bytes per parameter,
allowances and margins are policy data. Sizes are MiB, written "MB".
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from preflight_action import policy_files
from preflight_action.safety.capabilities import RuntimeCapabilities
from preflight_action.safety.dtype import normalize

SCHEMA = "memory_policy"
ENV_VAR = policy_files.MEMORY.env_var
MIB = 1024 * 1024
HALF = ("float16", "bfloat16")


@dataclass(frozen=True)
class NamedModel:
    name: str
    description: str
    components: tuple[tuple[str, float], ...]
    inference_activation_fraction: float | None

    @property
    def parameters(self) -> int:
        return int(sum(count for _, count in self.components))


@dataclass(frozen=True)
class MemoryPolicy:
    source: str
    bytes_per_param: dict[str, float]
    inference_activation_fraction: float
    training_activation_fraction: float
    optimizer_states: int
    optimizer_state_bytes: float
    master_weights_bytes_for_half: float
    runtime_overhead_mb: float
    safety_margin_mb: float
    minimum_headroom_mb: dict[str, float]
    models: dict[str, NamedModel]

    def model(self, name: str) -> NamedModel:
        key = name.strip().lower()
        if key not in self.models:
            raise KeyError(
                f"unknown model {name!r}; known: {', '.join(sorted(self.models))} (or pass a parameter count or a torch.nn.Module)"
            )
        return self.models[key]

    def bytes_for(self, dtype: str) -> float:
        if dtype not in self.bytes_per_param:
            raise ValueError(f"{self.source}: /bytes_per_param has no entry for {dtype!r}")
        return self.bytes_per_param[dtype]


@dataclass(frozen=True)
class MemoryEstimate:
    model: str
    parameters: int
    trainable_parameters: int
    buffers: int  # floating non-parameter elements (BatchNorm statistics, ...), counted with the weights
    dtype: str
    mode: str  # inference | training
    weights_mb: float
    gradients_mb: float
    optimizer_mb: float  # Adam states (float32) plus the float32 master weights of mixed precision
    activations_mb: float
    overhead_mb: float
    includes: str
    policy: str

    @property
    def total_mb(self) -> int:
        """The estimate, rounded up to whole MiB."""
        return math.ceil(self.weights_mb + self.gradients_mb + self.optimizer_mb + self.activations_mb + self.overhead_mb)

    def __int__(self) -> int:
        return self.total_mb

    def __float__(self) -> float:
        return float(self.total_mb)

    def breakdown(self) -> dict[str, float]:
        return {
            "weights_mb": round(self.weights_mb, 1),
            "gradients_mb": round(self.gradients_mb, 1),
            "optimizer_mb": round(self.optimizer_mb, 1),
            "activations_mb": round(self.activations_mb, 1),
            "overhead_mb": round(self.overhead_mb, 1),
        }

    def to_dict(self) -> dict[str, Any]:
        return {
            "model": self.model,
            "parameters": self.parameters,
            "trainable_parameters": self.trainable_parameters,
            "buffers": self.buffers,
            "dtype": self.dtype,
            "mode": self.mode,
            "total_mb": self.total_mb,
            **self.breakdown(),
            "includes": self.includes,
        }


def default_path() -> Path:
    return policy_files.MEMORY.shipped_path()


def policy_path(path: str | Path | None = None) -> Path:
    """An explicit path, else $PREFLIGHT_MEMORY_POLICY, else the shipped policy."""
    return policy_files.MEMORY.path(path)


def load_memory_policy(path: str | Path | None = None) -> MemoryPolicy:
    """Load and schema-validate a memory policy (InputError names the file and JSON pointer); cached per file."""
    return policy_files.load(policy_files.MEMORY, _build, path)


def _build(doc: Any, file: str) -> MemoryPolicy:
    models = {
        name: NamedModel(
            name=name,
            description=entry["description"],
            components=tuple((part, float(count)) for part, count in entry["components"].items()),
            inference_activation_fraction=entry.get("inference_activation_fraction"),
        )
        for name, entry in doc["models"].items()
    }
    training = doc["training"]
    return MemoryPolicy(
        source=file,
        bytes_per_param={k: float(v) for k, v in doc["bytes_per_param"].items()},
        inference_activation_fraction=float(doc["inference"]["activation_fraction"]),
        training_activation_fraction=float(training["activation_fraction"]),
        optimizer_states=int(training["optimizer_states"]),
        optimizer_state_bytes=float(training["optimizer_state_bytes"]),
        master_weights_bytes_for_half=float(training["master_weights_bytes_for_half"]),
        runtime_overhead_mb=float(doc["runtime_overhead_mb"]),
        safety_margin_mb=float(doc["safety_margin_mb"]),
        minimum_headroom_mb={k: float(v) for k, v in doc["minimum_headroom_mb"].items()},
        models=models,
    )


def meta_model(factory: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
    """Build ``factory(*args, **kwargs)`` on torch's ``meta`` device: shapes only, no memory, no download."""
    import torch

    with torch.device("meta"):
        return factory(*args, **kwargs)


def count_module(module: Any) -> tuple[int, int, int, int]:
    """``(parameters, trainable, floating buffer elements, bytes of other buffers)``; shared tensors once.

    ``module.to(dtype)`` casts floating tensors only, so integer buffers (BatchNorm's
    ``num_batches_tracked``, ``position_ids``) keep their own size whatever the dtype.
    """
    seen: set[int] = set()
    params = trainable = 0
    for tensor in module.parameters():
        if id(tensor) in seen:
            continue
        seen.add(id(tensor))
        params += tensor.numel()
        trainable += tensor.numel() if tensor.requires_grad else 0
    float_buffers = fixed_bytes = 0
    for buffer in module.buffers():
        if id(buffer) in seen:
            continue
        seen.add(id(buffer))
        if buffer.is_floating_point():
            float_buffers += buffer.numel()
        else:
            fixed_bytes += buffer.numel() * buffer.element_size()
    return params, trainable, float_buffers, fixed_bytes


def _describe(model: Any, policy: MemoryPolicy) -> tuple[str, int, int, int, int, float | None]:
    """``(label, parameters, trainable, floating buffers, other buffer bytes, inference activation fraction)``."""
    if isinstance(model, bool):
        raise TypeError("a model is a name, a parameter count or a torch.nn.Module, not a bool")
    if isinstance(model, str):
        named = policy.model(model)
        return named.name, named.parameters, named.parameters, 0, 0, named.inference_activation_fraction
    if isinstance(model, (int, float)):
        if model <= 0:
            raise ValueError(f"a parameter count must be positive, got {model}")
        return f"{int(model):,} parameters", int(model), int(model), 0, 0, None
    if hasattr(model, "parameters") and hasattr(model, "buffers"):
        params, trainable, buffers, fixed = count_module(model)
        return type(model).__name__, params, trainable, buffers, fixed, None
    raise TypeError(f"cannot estimate {type(model).__name__}: pass a model name, a parameter count or a torch.nn.Module")


def estimate(
    model: Any,
    dtype: Any = "float16",
    mode: str = "inference",
    *,
    activation_mb: float | None = None,
    overhead_mb: float | None = None,
    policy: MemoryPolicy | None = None,
) -> MemoryEstimate:
    """Estimate the footprint of ``model`` held in ``dtype`` for ``mode`` (inference or training, Adam)."""
    if mode not in ("inference", "training"):
        raise ValueError(f"mode must be 'inference' or 'training', got {mode!r}")
    pol = policy or load_memory_policy()
    name = normalize(dtype) or "float32"
    per_param = pol.bytes_for(name)
    label, params, trainable, buffers, fixed, fraction = _describe(model, pol)
    weights = ((params + buffers) * per_param + fixed) / MIB
    gradients = optimizer = 0.0
    parts = [f"weights ({params + buffers:,} elements x {per_param:g} B {name})"]
    if fixed:
        parts.append(f"integer buffers ({fixed:,} B, never cast)")
    if mode == "training":
        gradients = trainable * per_param / MIB
        optimizer = trainable * pol.optimizer_states * pol.optimizer_state_bytes / MIB
        parts.append(f"gradients ({name})")
        parts.append(f"Adam: {pol.optimizer_states} states x {pol.optimizer_state_bytes:g} B (float32)")
        if name in HALF and pol.master_weights_bytes_for_half:
            optimizer += trainable * pol.master_weights_bytes_for_half / MIB
            parts.append(f"float32 master weights ({pol.master_weights_bytes_for_half:g} B)")
        share = pol.training_activation_fraction
    else:
        share = fraction if fraction is not None else pol.inference_activation_fraction
    if activation_mb is None:
        activations = weights * share
        parts.append(f"activation allowance {share:.0%} of weights")
    else:
        activations = float(activation_mb)
        parts.append(f"activations {activations:g} MB (given)")
    overhead = pol.runtime_overhead_mb if overhead_mb is None else float(overhead_mb)
    parts.append(f"runtime overhead {overhead:g} MB")
    return MemoryEstimate(
        model=label,
        parameters=params,
        trainable_parameters=trainable,
        buffers=buffers,
        dtype=name,
        mode=mode,
        weights_mb=weights,
        gradients_mb=gradients,
        optimizer_mb=optimizer,
        activations_mb=activations,
        overhead_mb=overhead,
        includes="; ".join(parts),
        policy=pol.source,
    )


def check_sufficient(
    required_mb: float | MemoryEstimate,
    caps: RuntimeCapabilities,
    safety_margin_mb: float | None = None,
    policy: MemoryPolicy | None = None,
) -> tuple[bool, str]:
    """``(ok, message)``: whether ``required_mb`` plus the margin fits in the described device's free memory."""
    margin = (policy or load_memory_policy()).safety_margin_mb if safety_margin_mb is None else float(safety_margin_mb)
    required = float(required_mb.total_mb if isinstance(required_mb, MemoryEstimate) else required_mb)
    need = math.ceil(required + margin)
    kind = caps.memory_kind
    where = caps.device_name or ("host RAM" if kind == "RAM" else caps.backend)
    if caps.backend == "mps" and caps.free_memory_mb is None:
        where = f"{where}, unified memory: host RAM available"
    tag = f" [SIMULATED: {caps.source}]" if caps.simulated else ""
    available = caps.available_memory_mb
    detail = f"{math.ceil(required)}MB estimate + {margin:g}MB safety margin; {where}"
    if available is None:
        return False, f"Cannot verify {kind}: need {need}MB, free memory unknown ({detail}){tag}"
    if need > available:
        return False, f"Insufficient {kind}: need {need}MB, have {available}MB available ({detail}){tag}"
    return True, f"Sufficient {kind}: need {need}MB, have {available}MB available ({detail}){tag}"
