"""Core checks: torch import, device resolution, capabilities, tensor and dtype smoke."""

from __future__ import annotations

import importlib
import os
import sys
import warnings
from typing import Any

from preflight_probe import capabilities, checks_install, distributions, evidence, numeric, remedies
from preflight_probe.outcome import Outcome

# Relative error bounds against a float64 CPU reference computed from the same
# (already rounded) inputs: fp32 leaves room for TF32 when a user enabled it,
# fp16/bf16 allow output rounding (2^-11, 2^-8) plus accumulation order.
TOLERANCE = {"float32": 2e-3, "float16": 5e-3, "bfloat16": 2e-2, "float64": 1e-10}


def torch_module() -> Any:
    """The torch imported by ``torch.import`` (imported once per worker)."""
    return importlib.import_module("torch")


PYTORCH_MARKERS = ("__version__", "Tensor", "tensor", "version", "cuda", "backends")


def _installed_torch_words() -> str:
    found = distributions.find("torch")
    if not found:
        return "no PyTorch distribution is installed for this interpreter"
    return "it hides " + "; ".join(f"the installed PyTorch {d['version']} at {d['location']}" for d in found)


def check_torch_import(params: dict[str, Any]) -> Outcome:
    origin = distributions.import_location("torch")
    installed = distributions.find("torch")
    version = installed[0]["version"] if installed else None
    # Read back by the orchestrator when the import kills the worker (a damaged .so dies with SIGBUS, silently).
    print(f"preflight_probe: importing torch from {origin} (installed: {version})", file=sys.stderr, flush=True)
    checks_install.start_background()  # the stack's files against RECORD, on another CPU while torch imports
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        try:
            torch = importlib.import_module("torch")
        except Exception as exc:
            text = f"{type(exc).__name__}: {exc}".splitlines()[0][:400]
            if origin is None:
                return Outcome.fail(text, remedy=remedies.pip_install("torch"), interpreter=sys.executable)
            from preflight_probe import import_failure  # the failure path only: the healthy import never loads it

            said = import_failure.explain(exc, text, origin, version)
            return Outcome.fail(said["error"], remedy=said["remedy"], path=origin, interpreter=sys.executable, diagnosis=said["diagnosis"])
    path = distributions.import_location("torch", torch) or origin
    missing = [name for name in PYTORCH_MARKERS if not hasattr(torch, name)]
    if missing:
        return Outcome.fail(
            f"the torch imported from {path} is not PyTorch (it has no {', '.join('torch.' + m for m in missing)}); "
            f"{_installed_torch_words()}",
            remedy=f"rename or remove {path}, or take {os.path.dirname(path or '')} off PYTHONPATH / sys.path, so that "
            f"'import torch' finds PyTorch" + ("" if installed else f"; then {remedies.pip_install('torch')}"),
            path=path,
            missing=missing,
            installed=[{"version": d["version"], "location": d["location"]} for d in installed],
            interpreter=sys.executable,
            diagnosis=evidence.diagnosis(
                evidence.INSTALL_CONFLICT, [f"the torch imported from {path} has no {', '.join('torch.' + m for m in missing)}"]
            ),
        )
    return Outcome.ok(
        version=torch.__version__,
        path=getattr(torch, "__file__", None),
        cuda_build=torch.version.cuda,
        hip_build=getattr(torch.version, "hip", None),
        git_version=getattr(torch.version, "git_version", None),
        import_warnings=[str(w.message)[:300] for w in caught][:5],
        interpreter=sys.executable,
    )


def _cuda_unavailable_reason(torch: Any, caught: list[Any]) -> str:
    if not torch.backends.cuda.is_built():
        return f"this torch ({torch.__version__}) is a CPU-only build"
    visible, hides_all = remedies.cuda_visibility()
    if hides_all:
        return f"CUDA_VISIBLE_DEVICES={visible!r} hides every GPU from CUDA"
    messages = [str(w.message) for w in caught if "cuda" in str(w.message).lower()]
    if messages:
        return messages[0].splitlines()[0][:300]
    if visible is not None:
        return f"torch.cuda.is_available() returned False with CUDA_VISIBLE_DEVICES={visible!r} (does it name a GPU this host has?)"
    return "torch.cuda.is_available() returned False (no visible device; check the driver and CUDA_VISIBLE_DEVICES)"


def _probe_backends(torch: Any) -> dict[str, tuple[bool, str]]:
    """backend -> (available, reason) for every backend this torch knows."""
    found: dict[str, tuple[bool, str]] = {}
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        cuda_ok = bool(torch.cuda.is_available())
    hip = getattr(torch.version, "hip", None)
    if cuda_ok:
        name = "rocm" if hip else "cuda"
        found[name] = (True, f"torch.cuda.is_available() with {'HIP ' + hip if hip else 'CUDA ' + str(torch.version.cuda)}")
        other = "cuda" if hip else "rocm"
        found[other] = (False, f"this torch is a {'ROCm' if hip else 'CUDA'} build")
    else:
        reason = _cuda_unavailable_reason(torch, caught)
        found["cuda"] = (False, reason)
        found["rocm"] = (False, reason if hip else f"this torch ({torch.__version__}) is not a ROCm build")
    xpu = getattr(torch, "xpu", None)
    xpu_ok = bool(xpu is not None and xpu.is_available())
    found["xpu"] = (xpu_ok, "torch.xpu.is_available()" if xpu_ok else "no Intel XPU visible to this torch")
    mps = getattr(torch.backends, "mps", None)
    mps_ok = bool(mps is not None and mps.is_available())
    if mps_ok:
        found["mps"] = (True, "torch.backends.mps.is_available()")
    elif mps is not None and mps.is_built():
        found["mps"] = (False, "MPS is built into this torch but not available (needs macOS 12.3+ on Apple silicon)")
    else:
        found["mps"] = (False, "this torch was built without MPS")
    found["cpu"] = (True, "always available")
    return found


AUTO_ORDER = ("cuda", "rocm", "xpu", "mps", "cpu")


def device_string(backend: str, index: int = 0) -> str:
    if backend in ("cuda", "rocm"):
        return f"cuda:{index}"
    if backend == "xpu":
        return f"xpu:{index}"
    return backend


def check_device_resolve(params: dict[str, Any]) -> Outcome:
    torch = torch_module()
    requested = str(params.get("requested", "auto"))
    backends = _probe_backends(torch)
    considered = {name: {"available": ok, "reason": why} for name, (ok, why) in backends.items()}
    found: dict[str, Any] = {}
    if requested == "auto":
        backend = next(name for name in AUTO_ORDER if backends[name][0])
        reason = "auto: first available of " + " > ".join(AUTO_ORDER)
        present = capabilities.nvidia_gpus_present() if backend == "cpu" and not getattr(torch.version, "hip", None) else []
        if present:  # a GPU host falling back to the CPU: gpu.health judges it, with the way back to the GPU
            found["nvidia_gpus_present"] = present
            driver = capabilities.cuda_driver_version()[0]
            considered["cuda"]["remedy"] = remedies.device_remedy("cuda", torch.__version__, torch.version.cuda, driver)
    else:
        ok, why = backends[requested]
        if not ok:
            return Outcome.fail(
                f"--device {requested} was requested but is not available: {why}",
                remedy=remedies.device_remedy(requested, torch.__version__, torch.version.cuda, capabilities.cuda_driver_version()[0]),
                backends=considered,
            )
        backend, reason = requested, f"explicitly requested, {why}"
    device = device_string(backend)
    torch.empty(1, device=device)  # the device must accept an allocation, not only report itself
    return Outcome.ok(resolved_device=device, backend=backend, reason=reason, backends=considered, **found)


def check_capabilities_detect(params: dict[str, Any]) -> Outcome:
    torch = torch_module()
    facts = capabilities.collect(
        torch, params.get("device"), query_cudnn=params.get("query_cudnn", True), run_compiler=params.get("run_compiler", True)
    )
    return Outcome.ok(**facts)


def _synchronize(torch: Any, device: str) -> None:
    if device.startswith("cuda"):
        torch.cuda.synchronize(device)
    elif device.startswith("xpu"):
        torch.xpu.synchronize(device)
    elif device == "mps":
        torch.mps.synchronize()


def _relative_error(torch: Any, got: Any, ref: Any) -> float:
    got64 = got.detach().to("cpu", torch.float64)
    scale = float(ref.abs().max()) or 1.0
    return float((got64 - ref).abs().max()) / scale


REFERENCE = "pure Python: exact small-integer products, math.fsum dot products on a slice, closed-form element-wise"


def numeric_diagnosis(torch: Any) -> dict[str, Any]:
    """Code that replaces torch's ops, a damaged file, a library from elsewhere; else "cause not identified"."""
    patched = numeric.foreign_ops(torch)
    if patched:
        files = sorted(set(patched.values()))
        proof = [f"{name} is replaced by code from {path}" for name, path in sorted(patched.items())]
        remedy = f"remove the code in {', '.join(files)} that replaces {', '.join(sorted(patched))}; then rerun the preflight"
        return {"remedy": remedy, "diagnosis": evidence.diagnosis(evidence.CODE_OUTSIDE_TORCH, proof)}
    summary = checks_install.stack_record("none")
    damage = checks_install.damage_findings(summary)
    if damage:
        remedy = "reinstall what is damaged: " + "; ".join(damage[1]) + evidence.rests_on(damage[2])
        return {"remedy": remedy, "diagnosis": evidence.diagnosis(evidence.INSTALL_DAMAGED, damage[2])}
    from preflight_probe import loader

    elsewhere = loader.foreign(summary.get("libraries") or {}, loader.mapped(), dict(os.environ))
    if elsewhere:
        proof = [f"{f['library']} was loaded from {f['loaded']} ({f['why']}), not {f['bundled']}" for f in elsewhere]
        remedy = "; ".join(dict.fromkeys(checks_install._undo(f) for f in elsewhere)) + evidence.rests_on(proof)
        return {"remedy": remedy, "diagnosis": evidence.diagnosis(evidence.LIBRARY_ELSEWHERE, proof)}
    ruled_out = [
        "no sitecustomize, .pth or other code replaces torch's ops",
        f"{summary.get('files_checked', 0)} files of torch's stack match pip's RECORD sizes",
        "every library torch ships that this process loaded came from the stack",
    ]
    step = (
        "rerun with --level deep (install.record then hashes every file: a changed file of the same size shows there) "
        "and with --device cpu to tell a device fault from a torch fault"
    )
    return {
        "remedy": f"{evidence.NOT_IDENTIFIED_WORDS}: {step}",
        "diagnosis": evidence.diagnosis(evidence.NOT_IDENTIFIED, ruled_out, next_step=step),
    }


def _patch_words(torch: Any) -> str:
    patched = numeric.foreign_ops(torch)
    if not patched:
        return ""
    return "; " + ", ".join(f"{name} is replaced by code from {path}" for name, path in sorted(patched.items()))


def check_tensor_smoke(params: dict[str, Any]) -> Outcome:
    torch = torch_module()
    device = str(params["device"])
    gen = torch.Generator().manual_seed(0)
    a = torch.randn(96, 64, generator=gen)
    b = torch.randn(64, 80, generator=gen)
    a_dev, b_dev = a.to(device), b.to(device)
    product = a_dev @ b_dev
    combined = (a_dev.exp().sum(dim=1) + a_dev.abs().mean(dim=1)).sigmoid()
    _synchronize(torch, device)
    matmul_err = numeric.matmul_slice_error(torch, a, b, product)
    elementwise_err = numeric.elementwise_slice_error(a[:8].double().tolist(), combined[:8].to("cpu").double().tolist())
    exact = numeric.exact_product_mismatches(torch, device, torch.float32, (16, 32, 16), span=8)
    roundtrip = torch.equal(a_dev.to("cpu"), a)
    details = {
        "device": device,
        "tensor_device": str(product.device),
        "matmul_rel_error": matmul_err,
        "elementwise_rel_error": elementwise_err,
        "exact_integer_product": exact,
        "roundtrip_exact": roundtrip,
        "tolerance": TOLERANCE["float32"],
        "reference": REFERENCE,
    }
    problems = []
    if str(product.device).split(":")[0] != device.split(":", maxsplit=1)[0]:
        problems.append(f"result landed on {product.device}, not {device}")
    if not roundtrip:
        problems.append("host->device->host round trip changed the data")
    if exact["wrong_cells"]:
        w = exact["first_wrong"]
        problems.append(
            f"an exact small-integer float32 matmul is wrong in {exact['wrong_cells']} of {exact['cells']} cells "
            f"(at {w['at']}: got {w['got']:g}, the exact answer is {w['expected']})"
        )
    for name, err in (("matmul", matmul_err), ("elementwise", elementwise_err)):
        if not err <= TOLERANCE["float32"]:
            problems.append(f"{name} relative error {err:.3g} exceeds {TOLERANCE['float32']:g} vs a pure-Python reference")
    if problems:
        said = numeric_diagnosis(torch)
        return Outcome.fail("; ".join(problems) + _patch_words(torch), remedy=said["remedy"], diagnosis=said["diagnosis"], **details)
    return Outcome.ok(**details)


def _dtype_claimed(torch: Any, device: str, name: str) -> bool:
    if name == "bfloat16" and device.startswith("cuda"):
        return bool(torch.cuda.is_bf16_supported())
    return True


def check_dtype_support(params: dict[str, Any]) -> Outcome:
    torch = torch_module()
    device = str(params["device"])
    names = list(params.get("dtypes") or ["float16", "bfloat16"])
    gen = torch.Generator().manual_seed(1)
    results: dict[str, dict[str, Any]] = {}
    problems: list[str] = []
    wrong_numbers = False
    for name in names:
        dtype = getattr(torch, name)
        a = torch.randn(128, 128, generator=gen).to(dtype)
        b = torch.randn(128, 128, generator=gen).to(dtype)
        claimed = _dtype_claimed(torch, device, name)
        try:
            out = a.to(device) @ b.to(device)
            _synchronize(torch, device)
            exact = numeric.exact_product_mismatches(torch, device, dtype, (8, 16, 8), span=3)
        except (RuntimeError, NotImplementedError, TypeError) as exc:
            results[name] = {"supported": False, "claimed": claimed, "error": str(exc).splitlines()[0][:300]}
            if claimed and "not implemented" not in str(exc).lower():
                problems.append(f"{name} matmul raised on {device}: {str(exc).splitlines()[0][:200]}")
            continue
        err = numeric.matmul_slice_error(torch, a, b, out)
        ok = err <= TOLERANCE[name] and str(out.dtype) == f"torch.{name}" and not exact["wrong_cells"]
        results[name] = {
            "supported": True,
            "claimed": claimed,
            "rel_error": err,
            "tolerance": TOLERANCE[name],
            "exact_integer_product": exact,
            "ok": ok,
        }
        if exact["wrong_cells"]:
            wrong_numbers = True
            problems.append(f"{name} exact small-integer matmul is wrong in {exact['wrong_cells']} of {exact['cells']} cells")
        elif not err <= TOLERANCE[name]:
            wrong_numbers = True
            problems.append(f"{name} matmul relative error {err:.3g} exceeds {TOLERANCE[name]:g} vs a pure-Python reference")
    details = {"device": device, "dtypes": results, "reference": REFERENCE}
    if problems:
        said = (
            numeric_diagnosis(torch) if wrong_numbers else {"remedy": f"do not use these dtypes on {device}; pick one dtype.select allows"}
        )
        remedy = said["remedy"]
        if "diagnosis" in said:
            details["diagnosis"] = said["diagnosis"]
        return Outcome.fail("; ".join(problems), remedy=remedy, **details)
    return Outcome.ok(**details)
