"""The memory guard: does a real run fit before we start it?

need = param_count x bytes_per_param(dtype) x MEM_FACTOR + MEM_OVERHEAD, compared
with available memory (device free memory on an accelerator, host available RAM
on CPU) minus MEM_RESERVE. Knobs come from flags, else PREFLIGHT_SMOKE_* variables.
"""

from __future__ import annotations

import math
import os
from dataclasses import asdict, dataclass
from typing import Any

from preflight_action.errors import UsageError

GIB = 1024**3
BYTES_PER_PARAM = {"float32": 4, "float16": 2, "bfloat16": 2, "float64": 8}
# Weights + gradients + SGD momentum + a copy for the float32 reference: 4x the weights.
DEFAULT_FACTOR = 4.0
DEFAULT_OVERHEAD_GB = 0.5  # activations, allocator slack, CUDA context
DEFAULT_RESERVE_GB = 1.0  # left for the rest of the machine
ENV_PREFIX = "PREFLIGHT_SMOKE_"


@dataclass(frozen=True)
class GuardKnobs:
    factor: float = DEFAULT_FACTOR
    overhead_gb: float = DEFAULT_OVERHEAD_GB
    reserve_gb: float = DEFAULT_RESERVE_GB
    allow_high_mem: bool = False
    require_real: bool = False


@dataclass(frozen=True)
class GuardVerdict:
    fits: bool
    bypassed: bool
    need_bytes: int
    available_bytes: int | None
    usable_bytes: int | None
    shortfall_bytes: int
    memory_source: str
    largest_case: str
    factor: float
    overhead_bytes: int
    reserve_bytes: int

    @property
    def proceed(self) -> bool:
        return self.fits or self.bypassed

    def describe(self) -> str:
        need = f"{self.need_bytes / GIB:.2f} GiB"
        if self.usable_bytes is None:
            return f"memory guard: need {need} for {self.largest_case}; available memory unknown ({self.memory_source}), running anyway"
        have = f"{self.usable_bytes / GIB:.2f} GiB usable ({self.memory_source} minus {self.reserve_bytes / GIB:.2f} GiB reserve)"
        if self.fits:
            return f"memory guard: need {need} for {self.largest_case}, {have}: fits"
        verdict = "bypassed by --allow-high-mem" if self.bypassed else "does not fit"
        return f"memory guard: need {need} for {self.largest_case}, {have}: short by {self.shortfall_bytes / GIB:.2f} GiB, {verdict}"

    def to_dict(self) -> dict[str, Any]:
        return {**asdict(self), "proceed": self.proceed}


def _env_float(environ: dict[str, str], name: str, default: float) -> float:
    raw = environ.get(ENV_PREFIX + name)
    if raw is None or raw == "":
        return default
    try:
        value = float(raw)
    except ValueError:
        raise UsageError(f"{ENV_PREFIX}{name}={raw!r}: not a number") from None
    if not math.isfinite(value) or value < 0:  # nan passes "< 0" and would disable the guard
        raise UsageError(f"{ENV_PREFIX}{name}={raw!r}: must be a finite number, not negative")
    return value


def env_flag(environ: dict[str, str], name: str) -> bool:
    return environ.get(ENV_PREFIX + name, "").strip().lower() in ("1", "true", "yes", "on")


def knobs_from(
    factor: float | None = None,
    overhead_gb: float | None = None,
    reserve_gb: float | None = None,
    allow_high_mem: bool = False,
    require_real: bool = False,
    environ: dict[str, str] | None = None,
) -> GuardKnobs:
    """Flags win over PREFLIGHT_SMOKE_MEM_FACTOR / _MEM_OVERHEAD_GB / _MEM_RESERVE_GB / _ALLOW_HIGH_MEM / _REQUIRE_REAL."""
    env = dict(os.environ if environ is None else environ)
    knobs = GuardKnobs(
        factor=factor if factor is not None else _env_float(env, "MEM_FACTOR", DEFAULT_FACTOR),
        overhead_gb=overhead_gb if overhead_gb is not None else _env_float(env, "MEM_OVERHEAD_GB", DEFAULT_OVERHEAD_GB),
        reserve_gb=reserve_gb if reserve_gb is not None else _env_float(env, "MEM_RESERVE_GB", DEFAULT_RESERVE_GB),
        allow_high_mem=allow_high_mem or env_flag(env, "ALLOW_HIGH_MEM"),
        require_real=require_real or env_flag(env, "REQUIRE_REAL"),
    )
    if min(knobs.factor, knobs.overhead_gb, knobs.reserve_gb) < 0:
        raise UsageError("--mem-factor, --mem-overhead-gb and --mem-reserve-gb must not be negative")
    return knobs


def need_bytes(params: int, dtype: str, knobs: GuardKnobs) -> int:
    return int(params * BYTES_PER_PARAM[dtype] * knobs.factor + knobs.overhead_gb * GIB)


def check(params: dict[str, int], dtypes: list[str], available_bytes: int | None, memory_source: str, knobs: GuardKnobs) -> GuardVerdict:
    """The verdict for the largest case (cases run one at a time and free their memory)."""
    cases = [(need_bytes(count, dtype, knobs), f"{model} {dtype}") for model, count in params.items() for dtype in dtypes]
    need, largest = max(cases, default=(int(knobs.overhead_gb * GIB), "no case"))
    reserve = int(knobs.reserve_gb * GIB)
    usable = None if available_bytes is None else max(available_bytes - reserve, 0)
    fits = usable is None or need <= usable
    return GuardVerdict(
        fits=fits,
        bypassed=not fits and knobs.allow_high_mem,
        need_bytes=need,
        available_bytes=available_bytes,
        usable_bytes=usable,
        shortfall_bytes=0 if fits or usable is None else need - usable,
        memory_source=memory_source,
        largest_case=largest,
        factor=knobs.factor,
        overhead_bytes=int(knobs.overhead_gb * GIB),
        reserve_bytes=reserve,
    )


def host_available_bytes() -> int:
    import psutil

    return int(psutil.virtual_memory().available)
