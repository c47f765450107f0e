"""The memory guard: does a real run fit before we start it?

need = param_count x bytes_per_param(dtype) x MEM_FACTOR + MEM_OVERHEAD
     + batch x activations per sample (scaled by the image area for resnet18) x bytes(dtype) x 2
     (+ on CPU the float32 reference forward the worker runs on the host),
compared with available memory (device free memory on an accelerator, host available RAM
on CPU) minus MEM_RESERVE. Knobs come from flags, else PREFLIGHT_SMOKE_* variables.
A batch (or image size) whose float32 host reference alone could never fit this machine's
memory is refused before anything is allocated (``refuse_absurd``: a usage error, exit 2).
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
# Elements a training step saves for backward per sample, measured with saved_tensors_hooks on
# the models in preflight_probe/smoke_models.py (resnet18 at 224x224; it scales with the image
# area); the inputs are 3 x size x size images and SEQ_LEN x D_MODEL sequences.
SAVED_PER_SAMPLE = {"resnet18": 5_550_000, "transformer": 21_800}
INPUT_PER_SAMPLE = {"resnet18": 3, "transformer": 16 * 64}  # resnet18: times size x size
REFERENCE_IMAGE = 224
BACKWARD_FACTOR = 2  # backward holds the activations' gradients beside the saved tensors
HOST_REFERENCE_SHARE = 0.3  # the float32 no-grad reference forward peaks at about this share of them
# The worker's sizes when the flags are not given (preflight_probe.smoke_worker.sizes).
DEFAULT_BATCH = {"cpu": 2, "accelerator": 32}
DEFAULT_IMAGE = {"cpu": 64, "accelerator": 224}
MAX_ELEMENTS = 2**63 - 1  # past this a tensor's element count cannot be represented


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
    activation_bytes: int = 0  # of the largest case (batch x per-sample activations)
    batch_size: int | None = None
    image_size: int | None = None

    @property
    def proceed(self) -> bool:
        return self.fits or self.bypassed

    def describe(self) -> str:
        need = f"{self.need_bytes / GIB:.2f} GiB"
        if self.batch_size:
            need += f" (batch {self.batch_size}: {self.activation_bytes / GIB:.2f} GiB of it activations)"
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


TRUE_WORDS = ("1", "true", "yes", "on")
FALSE_WORDS = ("0", "false", "no", "off")


def env_flag(environ: dict[str, str], name: str) -> bool:
    """PREFLIGHT_SMOKE_<name> as a switch: unset or empty is off; anything but the usual words is a ``UsageError``,
    never off (``REQUIRE_REAL=2`` read as off would let a simulated run pass the gate it was set to guard)."""
    raw = environ.get(ENV_PREFIX + name, "")
    word = raw.strip().lower()
    if word in TRUE_WORDS:
        return True
    if word in FALSE_WORDS or word == "":
        return False
    raise UsageError(f"{ENV_PREFIX}{name}={raw!r}: not a switch; use one of {', '.join(TRUE_WORDS)} or {', '.join(FALSE_WORDS)}")


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


def need_bytes(params: int, dtype: str, knobs: GuardKnobs, activations: int = 0) -> int:
    return int(params * BYTES_PER_PARAM[dtype] * knobs.factor + knobs.overhead_gb * GIB) + activations


def sizes(device: str | None, batch_size: int | None, image_size: int | None) -> tuple[int, int]:
    """(batch, image size) the worker will use on ``device``: the flags, else its defaults."""
    kind = "cpu" if device in (None, "cpu") else "accelerator"
    return batch_size or DEFAULT_BATCH[kind], image_size or DEFAULT_IMAGE[kind]


def saved_elements(model: str, batch: int, image_size: int) -> int:
    """Elements the training step saves for backward for ``batch`` samples (python ints: never overflow)."""
    per_sample = SAVED_PER_SAMPLE.get(model, 0)
    if model == "resnet18":
        per_sample = -(-per_sample * image_size * image_size // REFERENCE_IMAGE**2)
    return batch * per_sample


def input_elements(model: str, batch: int, image_size: int) -> int:
    per_sample = INPUT_PER_SAMPLE.get(model, 0) * (image_size * image_size if model == "resnet18" else 1)
    return batch * per_sample


def activation_bytes(model: str, dtype: str, batch: int, image_size: int, on_host: bool) -> int:
    """The training step's activations on the device, plus (``on_host``: the device is the host) the float32 reference."""
    device = saved_elements(model, batch, image_size) * BACKWARD_FACTOR * BYTES_PER_PARAM[dtype]
    return device + (host_reference_bytes(model, batch, image_size) if on_host else 0)


def host_reference_bytes(model: str, batch: int, image_size: int) -> int:
    """The float32 input and reference forward the worker always runs on the host, whatever the device."""
    per_sample = input_elements(model, 1, image_size) + int(saved_elements(model, 1, image_size) * HOST_REFERENCE_SHARE)
    return batch * per_sample * BYTES_PER_PARAM["float32"]


def refuse_absurd(
    models: list[str], batch_size: int | None, image_size: int | None, memory_bytes: int, where: str, device: str | None = None
) -> None:
    """UsageError naming --batch-size (or --image-size) when one case could never fit ``memory_bytes``, the total
    memory of ``where``, or its tensors could not even be indexed; checked before anything is allocated."""
    if batch_size is None and image_size is None:
        return  # the defaults are small
    batch, image = sizes(device, batch_size, image_size)
    name = "--batch-size" if batch_size is not None else "--image-size"
    flag = f"{name} {batch_size if batch_size is not None else image_size}"
    for model in models:
        with_size = f" at {image}x{image}" if model == "resnet18" else ""
        if max(input_elements(model, batch, image), saved_elements(model, batch, image)) > MAX_ELEMENTS:
            raise UsageError(f"{flag}: a {model} batch would have more elements than a tensor can index (2^63); use a smaller {name}")
        on_host = device in (None, "cpu", "mps")  # mps: unified memory
        need = host_reference_bytes(model, batch, image) if device is None else activation_bytes(model, "float32", batch, image, on_host)
        if need > memory_bytes:
            raise UsageError(
                f"{flag}: a {model} batch of {batch}{with_size} needs {need / GIB:,.1f} GiB for its activations, "
                f"more than the {memory_bytes / GIB:,.1f} GiB {where} has in total; use a smaller {name}"
            )


def check(
    params: dict[str, int],
    dtypes: list[str],
    available_bytes: int | None,
    memory_source: str,
    knobs: GuardKnobs,
    batch_size: int | None = None,
    image_size: int | None = None,
    on_host: bool = True,
) -> GuardVerdict:
    """The verdict for the largest case (cases run one at a time and free their memory).

    With ``batch_size``/``image_size`` (the sizes the worker will use) the need includes the
    batch's activations; without them, only the weights and the fixed overhead.
    """
    cases = []
    for model, count in params.items():
        for dtype in dtypes:
            acts = activation_bytes(model, dtype, batch_size, image_size or 0, on_host) if batch_size else 0
            cases.append((need_bytes(count, dtype, knobs, acts), acts, f"{model} {dtype}"))
    need, acts, largest = max(cases, default=(int(knobs.overhead_gb * GIB), 0, "no case"))
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
        activation_bytes=acts,
        batch_size=batch_size,
        image_size=image_size,
    )


def host_available_bytes() -> int:
    import psutil

    return int(psutil.virtual_memory().available)


def host_total_bytes() -> int:
    import psutil

    return int(psutil.virtual_memory().total)
