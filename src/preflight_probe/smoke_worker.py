"""The smoke worker: forward + one training step per dtype on the device, against a float32 reference.

Runs as a subprocess under the diagnosed interpreter with stdlib + torch only
(``smoke_models`` holds the networks). Protocol, one JSON object per line: the worker
writes ``hello`` (torch version or why torch is missing) and ``inspect``
(device, memory, parameter counts), then reads one command from stdin
(``{"op": "run"}`` or ``{"op": "stop"}``) and writes ``start`` and ``case``
lines as it goes, then ``done``. A crash loses only the case in flight.
"""

from __future__ import annotations

import copy
import json
import os
import re
import sys
import time
import traceback
from typing import Any, TextIO

from preflight_probe import secret_names
from preflight_probe import smoke_models as models
from preflight_probe.channel import private_stdout

# Relative max error vs the float32 CPU reference (max |out - ref| / max |ref|).
# float32 on CPU is the reference computation itself; on an accelerator it may use
# TF32 (10-bit mantissa, cuDNN's default for convolutions); half types carry ~3 and ~2 digits.
TOLERANCE = {"float32": 1e-4, "float16": 2e-2, "bfloat16": 8e-2}
ACCELERATOR_FLOAT32_TOLERANCE = 1e-2


def tolerance(device: str, dtype_name: str) -> float:
    return ACCELERATOR_FLOAT32_TOLERANCE if dtype_name == "float32" and device != "cpu" else TOLERANCE[dtype_name]


# torch's message for a kernel missing in a dtype: "addmm_impl_cpu_" not implemented for 'Half'.
# Only that (or NotImplementedError) makes a case "skipped"; "CUDA error: operation not supported" is a failure.
NOT_IMPLEMENTED_FOR_DTYPE = re.compile(r"not implemented for '[^']+'")


class Protocol:
    """Where protocol lines go: a private copy of fd 1 once main() ran; fd 1 itself then points at stderr,
    so prints from torch or a model (Python or C level) cannot corrupt the protocol."""

    stream: TextIO = sys.stdout


def emit(message: dict[str, Any]) -> None:
    Protocol.stream.write(json.dumps(message) + "\n")
    Protocol.stream.flush()


def _proc_status_bytes(field: str) -> int | None:
    try:
        with open("/proc/self/status", encoding="ascii") as status:
            for line in status:
                if line.startswith(field + ":"):
                    return int(line.split()[1]) * 1024
    except (OSError, ValueError):
        return None
    return None


def rss_baseline() -> tuple[int | None, bool]:
    """(RSS now, whether the peak was reset): on Linux the peak (VmHWM) is reset so each case gets its own."""
    try:
        with open("/proc/self/clear_refs", "w", encoding="ascii") as clear:
            clear.write("5")
        reset = True
    except OSError:
        reset = False
    current = _proc_status_bytes("VmRSS") if reset else None
    return (current, True) if current is not None else (peak_rss_bytes(), False)


def peak_rss_bytes() -> int | None:
    """This process's peak resident set size (VmHWM, else ru_maxrss), or None where neither exists."""
    hwm = _proc_status_bytes("VmHWM")
    if hwm is not None:
        return hwm
    if sys.platform == "win32":  # no resource module there
        return None
    try:
        import resource
    except ImportError:  # a POSIX build without it (WASI, Emscripten)
        return None
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return int(peak if sys.platform == "darwin" else peak * 1024)


def resolve_device(torch: Any, requested: str) -> tuple[str | None, str, str]:
    """(torch device string or None, backend, why) for ``requested`` (auto picks cuda/rocm > xpu > mps > cpu)."""
    cuda = torch.cuda.is_available()
    gpu_backend = "rocm" if getattr(torch.version, "hip", None) else "cuda"
    xpu = hasattr(torch, "xpu") and torch.xpu.is_available()
    mps = hasattr(torch.backends, "mps") and torch.backends.mps.is_available()
    if requested == "auto":
        for present, device, backend in ((cuda, "cuda", gpu_backend), (xpu, "xpu", "xpu"), (mps, "mps", "mps")):
            if present:
                return device, backend, f"auto: {backend} is available"
        return "cpu", "cpu", "auto: no accelerator is available"
    if requested == "cpu":
        return "cpu", "cpu", "requested"
    present = {"cuda": cuda and gpu_backend == "cuda", "rocm": cuda and gpu_backend == "rocm", "xpu": xpu, "mps": mps}[requested]
    if not present:
        return None, requested, f"{requested} was requested but torch {torch.__version__} reports it unavailable"
    return ("cuda" if requested == "rocm" else requested), requested, "requested"


def inspect(torch: Any, spec: dict[str, Any]) -> dict[str, Any]:
    device, backend, why = resolve_device(torch, spec["device"])
    info: dict[str, Any] = {"type": "inspect", "device": device, "backend": backend, "why": why, "device_name": None}
    info["device_free_bytes"] = info["device_total_bytes"] = None
    if device == "cuda":
        free, total = torch.cuda.mem_get_info()
        info.update(device_name=torch.cuda.get_device_name(), device_free_bytes=int(free), device_total_bytes=int(total))
        info["bf16_supported"] = bool(torch.cuda.is_bf16_supported())
    elif device == "cpu":
        import platform

        info["device_name"] = platform.processor() or platform.machine()
    elif device is not None:
        info["device_name"] = device
    info["params"] = {name: models.param_count(models.build(name, "meta")) for name in spec["models"]}
    return info


def synchronize(torch: Any, device: str) -> None:
    if device == "cuda":
        torch.cuda.synchronize()
    elif device == "xpu":
        torch.xpu.synchronize()
    elif device == "mps":
        torch.mps.synchronize()


def sizes(spec: dict[str, Any], device: str) -> tuple[int, int, int]:
    """(batch, image size, timed iterations): tiny on CPU so a smoke takes seconds, ImageNet-sized on accelerators."""
    on_cpu = device == "cpu"
    batch = spec.get("batch_size") or (2 if on_cpu else 32)
    image = spec.get("image_size") or (64 if on_cpu else 224)
    return int(batch), int(image), int(spec.get("iterations") or 3)


def dtype_block(torch: Any, device: str, dtype_name: str) -> str | None:
    """Why ``dtype_name`` cannot run on ``device`` here, or None."""
    if device == "cuda" and dtype_name == "bfloat16" and not torch.cuda.is_bf16_supported():
        return f"bfloat16 is not supported by {torch.cuda.get_device_name()}"
    return None


def run_case(torch: Any, spec: dict[str, Any], device: str, name: str, dtype_name: str) -> dict[str, Any]:
    """Forward (vs the float32 CPU reference) and one training step of ``name`` in ``dtype_name``."""
    case: dict[str, Any] = {"type": "case", "model": name, "dtype": dtype_name}
    case["batch_size"], case["image_size"], _ = sizes(spec, device)
    blocked = dtype_block(torch, device, dtype_name)
    if blocked:
        return {**case, "outcome": "skipped", "reason": blocked}
    batch, image_size, iterations = sizes(spec, device)
    dtype = getattr(torch, dtype_name)
    torch.manual_seed(spec["seed"])
    generator = torch.Generator().manual_seed(spec["seed"] + 1)
    reference_model = models.build(name, "cpu").eval()
    inputs = models.example_input(name, batch, image_size, generator)
    target = torch.randint(0, models.NUM_CLASSES, (batch,), generator=generator)
    with torch.no_grad():
        reference = reference_model(inputs)
    rss_before, peak_reset = rss_baseline()
    if device == "cuda":
        torch.cuda.empty_cache()
        torch.cuda.reset_peak_memory_stats()
    model = copy.deepcopy(reference_model).to(device=device, dtype=dtype)
    x, y = inputs.to(device=device, dtype=dtype), target.to(device)
    with torch.no_grad():
        out = model(x)  # warm-up and the compared output
        synchronize(torch, device)
        started = time.perf_counter()
        for _ in range(iterations):
            model(x)
        synchronize(torch, device)
        forward_s = time.perf_counter() - started
    result = out.float().cpu()
    finite = bool(torch.isfinite(result).all())
    max_abs = float((result - reference).abs().max())
    scale = max(float(reference.abs().max()), 1e-6)
    forward = {
        "finite": finite,
        "max_abs_error": max_abs if finite else None,
        "max_rel_error": max_abs / scale if finite else None,
        "tolerance": tolerance(device, dtype_name),
        "iterations": iterations,
        "ms_per_iteration": forward_s * 1000.0 / iterations,
        "samples_per_s": batch * iterations / forward_s if forward_s > 0 else None,
    }
    model.train()
    optimizer = torch.optim.SGD(model.parameters(), lr=0.01, momentum=0.9)
    first = next(model.parameters()).detach().clone()
    started = time.perf_counter()
    optimizer.zero_grad(set_to_none=True)
    loss = torch.nn.functional.cross_entropy(model(x).float(), y)
    loss.backward()
    grads_finite = all(bool(torch.isfinite(p.grad).all()) for p in model.parameters() if p.grad is not None)
    optimizer.step()
    synchronize(torch, device)
    step_s = time.perf_counter() - started
    train = {
        "loss": float(loss) if bool(torch.isfinite(loss)) else None,
        "finite": bool(torch.isfinite(loss)) and grads_finite,
        "params_updated": not torch.equal(first, next(model.parameters()).detach()),
        "step_ms": step_s * 1000.0,
        "samples_per_s": batch / step_s if step_s > 0 else None,
    }
    case.update(forward=forward, train=train, memory=memory_figure(torch, device, rss_before, peak_reset))
    problems = []
    rel_error = max_abs / scale
    if not finite:
        problems.append("forward output has NaN/Inf")
    elif rel_error > tolerance(device, dtype_name):
        problems.append(f"forward max relative error {rel_error:.3g} exceeds {tolerance(device, dtype_name):g}")
    if not train["finite"]:
        problems.append("training step produced a non-finite loss or gradient")
    if not train["params_updated"]:
        problems.append("the optimizer step left the parameters unchanged")
    case["outcome"] = "fail" if problems else "pass"
    case["reason"] = "; ".join(problems) if problems else None
    return case


def memory_figure(torch: Any, device: str, rss_before: int | None, peak_reset: bool) -> dict[str, Any]:
    if device == "cuda":
        return {
            "kind": "cuda_max_memory_allocated",
            "peak_bytes": int(torch.cuda.max_memory_allocated()),
            "note": "torch.cuda.max_memory_allocated over the case",
        }
    after = peak_rss_bytes()
    if rss_before is None or after is None:
        return {"kind": "unavailable", "peak_bytes": None, "note": "no peak RSS on this platform"}
    if peak_reset:
        note = "peak RSS (VmHWM, reset at the case start) minus RSS at the case start: host memory the case added, reference model included"
    else:
        note = "growth of the process peak RSS (ru_maxrss) during the case; 0 when the case fit in memory the process had already touched"
    return {"kind": "process_peak_rss_delta", "peak_bytes": max(after - rss_before, 0), "note": note}


def classify_error(exc: BaseException) -> tuple[str, str]:
    text = f"{type(exc).__name__}: {exc}".splitlines()[0][:400]
    if isinstance(exc, NotImplementedError) or NOT_IMPLEMENTED_FOR_DTYPE.search(text):
        return "skipped", f"not supported here: {text}"
    return "fail", text


def inject_fault(name: str, dtype_name: str) -> None:
    """Tests: PREFLIGHT_SMOKE_INJECT_FAULT=hang:<model>:<dtype> or crash:<model>:<dtype>."""
    fault = os.environ.get("PREFLIGHT_SMOKE_INJECT_FAULT", "")
    kind, _, target = fault.partition(":")
    if target != f"{name}:{dtype_name}":
        return
    if kind == "hang":
        time.sleep(3600)
    elif kind == "crash":
        sys.stderr.write(f"injected crash in {name} {dtype_name}\n")
        sys.stderr.flush()
        os.abort()


def run_all(torch: Any, spec: dict[str, Any], device: str) -> None:
    for name in spec["models"]:
        for dtype_name in spec["dtypes"]:
            emit({"type": "start", "model": name, "dtype": dtype_name})
            inject_fault(name, dtype_name)
            try:
                case = run_case(torch, spec, device, name, dtype_name)
            except Exception as exc:
                outcome, reason = classify_error(exc)
                case = {
                    "type": "case",
                    "model": name,
                    "dtype": dtype_name,
                    "outcome": outcome,
                    "reason": reason,
                    "traceback": traceback.format_exc()[-2000:],
                }
            emit(case)


def stub(spec: dict[str, Any]) -> None:
    """Stub mode: the same protocol with no torch at all."""
    emit(
        {
            "type": "inspect",
            "device": None,
            "backend": spec["device"],
            "why": "stub mode: no device is touched",
            "device_name": None,
            "params": {m: models.PARAM_COUNTS[m] for m in spec["models"]},
        }
    )
    if read_command() == "run":
        for name in spec["models"]:
            for dtype_name in spec["dtypes"]:
                emit({"type": "start", "model": name, "dtype": dtype_name})
                emit(
                    {
                        "type": "case",
                        "model": name,
                        "dtype": dtype_name,
                        "outcome": "skipped",
                        "reason": "stub mode: plumbing only, no model ran",
                    }
                )
    emit({"type": "done"})


def read_command() -> str:
    line = sys.stdin.readline()
    return json.loads(line).get("op", "stop") if line.strip() else "stop"


def main(argv: list[str] | None = None) -> int:
    Protocol.stream = private_stdout()
    spec = json.loads((argv if argv is not None else sys.argv[1:])[0])
    hello: dict[str, Any] = {"type": "hello", "python": sys.version.split()[0], "executable": sys.executable, "torch": None}
    hello["secrets"] = secret_names.secret_values(os.environ)  # to scrub, never to show: the client takes them out
    if spec["op"] == "stub":
        emit(hello)
        stub(spec)
        return 0
    try:
        import torch
    except Exception as exc:
        emit({**hello, "error": f"torch is not importable: {type(exc).__name__}: {exc}"[:400]})
        return 0
    emit({**hello, "torch": torch.__version__})
    try:
        info = inspect(torch, spec)
    except Exception as exc:
        outcome, reason = classify_error(exc)
        emit(
            {
                "type": "inspect",
                "device": None,
                "backend": spec["device"],
                "why": f"inspection failed ({outcome}): {reason}",
                "device_name": None,
                "params": {},
            }
        )
        emit({"type": "done"})
        return 0
    emit(info)
    if info["device"] is not None and read_command() == "run":
        run_all(torch, spec, info["device"])
    emit({"type": "done"})
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
