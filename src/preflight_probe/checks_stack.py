"""Stack checks: torchvision, torch.compile and the consistency of installed packages."""

from __future__ import annotations

import importlib
import re
from importlib import metadata
from typing import Any

from preflight_probe.checks_core import TOLERANCE, _relative_error, _synchronize, torch_module
from preflight_probe.outcome import Outcome

_VERSION = re.compile(r"^(\d+)\.(\d+)(?:\.(\d+))?")


def parse_version(text: str | None) -> tuple[int, int, int] | None:
    match = _VERSION.match(text or "")
    if not match:
        return None
    return int(match.group(1)), int(match.group(2)), int(match.group(3) or 0)


def local_tag(text: str | None) -> str | None:
    """The ``+cu121`` part of a version, which names the accelerator build."""
    return text.split("+", 1)[1] if text and "+" in text else None


def expected_torchvision(torch_version: str) -> str | None:
    """torchvision 0.(N+15) pairs with torch 2.N (0.15 with 2.0, ..., 0.29 with 2.14)."""
    parsed = parse_version(torch_version)
    if parsed is None or parsed[0] != 2:
        return None
    return f"0.{parsed[1] + 15}"


def expected_torchaudio(torch_version: str) -> str | None:
    """torchaudio 2.N pairs with torch 2.N."""
    parsed = parse_version(torch_version)
    if parsed is None or parsed[0] != 2:
        return None
    return f"2.{parsed[1]}"


def _minor(text: str) -> str | None:
    parsed = parse_version(text)
    return f"{parsed[0]}.{parsed[1]}" if parsed else None


def _installed(name: str) -> str | None:
    try:
        return metadata.version(name)
    except metadata.PackageNotFoundError:
        return None


def consistency_problems(versions: dict[str, str | None]) -> list[str]:
    """Pairing problems between installed torch, torchvision, torchaudio and numpy."""
    problems: list[str] = []
    torch_v = versions.get("torch")
    if torch_v is None:
        return ["torch is not installed in this interpreter's environment"]
    for name, expect in (("torchvision", expected_torchvision), ("torchaudio", expected_torchaudio)):
        have = versions.get(name)
        want = expect(torch_v)
        if have is None or want is None:
            continue
        if _minor(have) != want:
            problems.append(f"{name} {have} is built for a different torch than torch {torch_v} (expected {name} {want}.x)")
        tag_t, tag_o = local_tag(torch_v), local_tag(have)
        if tag_t and tag_o and tag_t != tag_o:
            problems.append(f"{name} {have} is a {tag_o} build but torch {torch_v} is a {tag_t} build")
    numpy_v = versions.get("numpy")
    if numpy_v is None:
        problems.append("numpy is not installed: tensor.numpy() and many data loaders will fail")
    else:
        torch_p, numpy_p = parse_version(torch_v), parse_version(numpy_v)
        if torch_p and numpy_p and numpy_p[0] >= 2 and torch_p < (2, 3, 0):
            problems.append(f"numpy {numpy_v} is 2.x but torch {torch_v} was built against numpy 1.x (needs torch >= 2.3)")
    return problems


def check_deps_consistency(params: dict[str, Any]) -> Outcome:
    versions = {name: _installed(name) for name in ("torch", "torchvision", "torchaudio", "numpy")}
    if versions["torch"] is None:
        # One cause, one failure: torch.import already fails for a missing torch.
        return Outcome.skip(
            "torch is not installed for this interpreter (torch.import reports it)", installed=versions, source="importlib.metadata"
        )
    problems = consistency_problems(versions)
    details: dict[str, Any] = {"installed": versions, "source": "importlib.metadata"}
    torch: Any = importlib.import_module("torch") if params.get("torch_imported") else None
    imported = torch.__version__.split("+")[0] if torch is not None else None
    if torch is not None and imported and versions["torch"] and imported != versions["torch"].split("+")[0]:
        problems.append(
            f"the imported torch is {torch.__version__} from {torch.__file__}, but package metadata says "
            f"{versions['torch']}: two torch installs are visible to this interpreter"
        )
    if problems:
        return Outcome.fail("; ".join(problems), **details)
    return Outcome.ok(**details)


def check_torchvision_import(params: dict[str, Any]) -> Outcome:
    torch = torch_module()
    device = str(params.get("device") or "cpu")
    tv_meta = _installed("torchvision")
    try:
        torchvision = importlib.import_module("torchvision")
    except ImportError as exc:
        if tv_meta is None:
            return Outcome.fail(f"torchvision is not installed for this interpreter ({exc})", torch=torch.__version__)
        return Outcome.fail(
            f"torchvision {tv_meta} is installed but fails to import with torch {torch.__version__}: {exc}",
            torch=torch.__version__,
            torchvision=tv_meta,
        )
    details: dict[str, Any] = {"torch": torch.__version__, "torchvision": torchvision.__version__, "device": device}
    boxes = torch.tensor([[0.0, 0.0, 10.0, 10.0], [1.0, 1.0, 11.0, 11.0], [50.0, 50.0, 60.0, 60.0]], device=device)
    scores = torch.tensor([0.9, 0.8, 0.7], device=device)
    try:
        keep = torchvision.ops.nms(boxes, scores, 0.5)
    except (RuntimeError, NotImplementedError) as exc:
        text = str(exc).splitlines()[0]
        want = expected_torchvision(torch.__version__)
        hint = f" (torch {torch.__version__} pairs with torchvision {want}.x)" if want else ""
        if "does not exist" in text or "torchvision::" in text or "not implemented" in text.lower():
            return Outcome.fail(
                f"torchvision {torchvision.__version__} and torch {torch.__version__} are not a matching build: "
                f"torchvision.ops.nms failed on {device} with '{text[:200]}'{hint}",
                **details,
            )
        raise
    kept = sorted(int(i) for i in keep.to("cpu"))
    details["nms_kept"] = kept
    if kept != [0, 2]:
        return Outcome.fail(f"torchvision.ops.nms on {device} kept boxes {kept}, expected [0, 2]", **details)
    return Outcome.ok(**details)


_COMPILE_CAUSES = (
    (
        ("invalidcxxcompiler", "no working c++ compiler", "compiler not found", "cl is not found", "c++ compiler"),
        "no working C++ compiler found (inductor needs one: install gcc/clang, or MSVC on Windows)",
    ),
    (("triton",), "Triton is missing or broken (inductor needs it for GPU kernels: pip install triton matching this torch)"),
    (
        ("not supported on python", "python 3.1", "dynamo is not supported"),
        "torch.compile does not support this Python version with this torch",
    ),
)


def _compile_cause(text: str) -> str | None:
    lowered = text.lower()
    for needles, cause in _COMPILE_CAUSES:
        if any(needle in lowered for needle in needles):
            return cause
    return None


def check_compile_smoke(params: dict[str, Any]) -> Outcome:
    torch = torch_module()
    device = str(params["device"])

    def fn(x: Any, y: Any) -> Any:
        return torch.sin(x) * torch.cos(y) + torch.relu(x - y).square()

    gen = torch.Generator().manual_seed(2)
    x = torch.randn(256, 64, generator=gen).to(device)
    y = torch.randn(256, 64, generator=gen).to(device)
    eager = fn(x, y)
    try:
        compiled = torch.compile(fn, backend=str(params.get("backend", "inductor")))
        out = compiled(x, y)
        _synchronize(torch, device)
    except Exception as exc:
        chain: list[str] = []
        cur: BaseException | None = exc
        while cur is not None and len(chain) < 5:
            chain.append(f"{type(cur).__name__}: {cur}")
            cur = cur.__cause__ or cur.__context__
        text = " | ".join(chain)
        cause = _compile_cause(text)
        first = chain[0].splitlines()[0][:300]
        message = f"torch.compile failed on {device}: {cause}" if cause else f"torch.compile failed on {device}: {first}"
        return Outcome.fail(message, cause=cause, exception=first)
    err = _relative_error(torch, out, eager.double().to("cpu"))
    details = {"device": device, "backend": params.get("backend", "inductor"), "rel_error_vs_eager": err}
    if not err <= TOLERANCE["float32"]:
        return Outcome.fail(f"compiled result differs from eager by {err:.3g} (limit {TOLERANCE['float32']:g})", **details)
    return Outcome.ok(**details)
