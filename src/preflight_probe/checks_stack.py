"""Stack checks: torchvision, torch.compile and the consistency of installed packages."""

from __future__ import annotations

import importlib
import os
import re
import tempfile
from importlib import metadata
from typing import Any

from preflight_probe import capabilities, checks_install, distributions, evidence, inventory, markers, pairing, remedies
from preflight_probe.checks_core import TOLERANCE, _relative_error, _synchronize, torch_module
from preflight_probe.outcome import Outcome
from preflight_probe.pairing import expected_torchvision, local_tag, parse_version

__all__ = ["consistency_problems", "expected_torchaudio", "expected_torchvision", "local_tag", "parse_version"]


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
    except (UnicodeDecodeError, OSError, ValueError):  # a METADATA that is not UTF-8: read it leniently instead
        found = distributions.find(name)
        return found[0]["version"] if found else None


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


def _version_remedies(versions: dict[str, str | None], tag: str | None) -> list[str]:
    fixes = []
    torch_v = versions.get("torch") or ""
    want_audio = expected_torchaudio(torch_v)
    audio = versions.get("torchaudio")
    if audio and want_audio and _minor(audio) != want_audio:
        fixes.append(remedies.pip_install(f"torchaudio=={want_audio}.*", tag))
    numpy_v = versions.get("numpy")
    if numpy_v is None:
        fixes.append(remedies.pip_install("numpy"))
    elif (parse_version(numpy_v) or (0,))[0] >= 2 and (parse_version(torch_v) or (9,)) < (2, 3, 0):
        fixes.append(remedies.pip_install("numpy<2"))
    return fixes


def check_deps_consistency(params: dict[str, Any]) -> Outcome:
    versions = {name: _installed(name) for name in ("torch", "torchvision", "torchaudio", "numpy")}
    torch: Any = importlib.import_module("torch") if params.get("torch_imported") else None
    found = pairing.stack(torch)
    for name in ("torch", "torchvision"):  # a leftover metadata folder beside the live one: importlib.metadata may read it
        if any(d.get("stale") for d in found[name]):
            versions[name] = found[name][0]["version"]
    details: dict[str, Any] = {"installed": versions, "source": "importlib.metadata", "distributions": found}
    if params.get("inventory_limit"):  # every distribution, from the listings the scan above already made
        details["inventory"] = inventory.scan(int(params["inventory_limit"]))
    if versions["torch"] is None and not found["torch"]:
        # One cause, one failure: torch.import already fails for a missing torch.
        return Outcome.skip("torch is not installed for this interpreter (torch.import reports it)", **details)
    problems, fixes = pairing.duplicate_problems(found, torch)
    torch_v = versions["torch"] or (found["torch"][0]["version"] if found["torch"] else None) or ""
    problems += consistency_problems({**versions, "torch": torch_v, "torchvision": None})
    build = found["torch_build"]
    tag = remedies.wheel_tag(build.get("build"), build.get("cuda"), build.get("hip")) or local_tag(torch_v)
    fixes += _version_remedies(versions, tag)
    if versions["torchvision"]:
        pair = pairing.pair_problem(torch_v, build, versions["torchvision"], found["torchvision_build"])
        if pair:
            problems.append(pair[0])
            fixes.append(pair[1])
    if problems:
        details["diagnosis"] = evidence.diagnosis(evidence.INSTALL_CONFLICT, problems)
        return Outcome.fail("; ".join(problems), remedy="; then ".join(fixes) or None, **details)
    return Outcome.ok(**details)


def _vision_mismatch(torch: Any, vision_version: str | None, what: str) -> Outcome | None:
    """A failure naming both versions, both builds and the pair that works, when the two do not pair."""
    found = pairing.stack(torch)
    vision_version = vision_version or (found["torchvision"][0]["version"] if found["torchvision"] else None)
    if not vision_version:
        return None
    pair = pairing.pair_problem(torch.__version__, found["torch_build"], vision_version, found["torchvision_build"])
    if pair is None:
        return None
    return Outcome.fail(
        f"{pair[0]} ({what})",
        remedy=pair[1],
        torch=torch.__version__,
        torchvision=vision_version,
        builds=found["torchvision_build"],
        diagnosis=evidence.diagnosis(evidence.INSTALL_CONFLICT, [pair[0]]),
    )


def check_torchvision_import(params: dict[str, Any]) -> Outcome:
    torch = torch_module()
    device = str(params.get("device") or "cpu")
    tv_meta = _installed("torchvision")
    try:
        torchvision = importlib.import_module("torchvision")
    except Exception as exc:
        text = f"{type(exc).__name__}: {str(exc).splitlines()[0][:200] if str(exc) else ''}"
        if tv_meta is None:
            return Outcome.fail(
                f"torchvision is not installed for this interpreter ({text})",
                remedy=_torchvision_install(torch),
                torch=torch.__version__,
            )
        mismatch = _vision_mismatch(torch, tv_meta, f"import failed with {text}")
        if mismatch:
            return mismatch
        said = _vision_import_diagnosis(tv_meta, exc)
        return Outcome.fail(
            f"torchvision {tv_meta} is installed but fails to import with torch {torch.__version__}: {text}",
            remedy=said["remedy"],
            torch=torch.__version__,
            torchvision=tv_meta,
            diagnosis=said["diagnosis"],
        )
    details: dict[str, Any] = {"torch": torch.__version__, "torchvision": torchvision.__version__, "device": device}
    boxes = torch.tensor([[0.0, 0.0, 10.0, 10.0], [1.0, 1.0, 11.0, 11.0], [50.0, 50.0, 60.0, 60.0]], device=device)
    scores = torch.tensor([0.9, 0.8, 0.7], device=device)
    try:
        keep = torchvision.ops.nms(boxes, scores, 0.5)
    except (RuntimeError, NotImplementedError) as exc:
        text = str(exc).splitlines()[0][:200]
        mismatch = _vision_mismatch(torch, torchvision.__version__, f"torchvision.ops.nms on {device} failed with '{text}'")
        if mismatch:
            return mismatch
        damaged = _vision_import_diagnosis(torchvision.__version__)
        if damaged["diagnosis"]["cause"] == evidence.INSTALL_DAMAGED:  # its extension failed to load: the files say why
            return Outcome.fail(
                f"torchvision.ops.nms failed on {device} with '{text}': torchvision's install is damaged: "
                + "; ".join(damaged["diagnosis"]["evidence"]),
                remedy=damaged["remedy"],
                diagnosis=damaged["diagnosis"],
                **details,
            )
        if "does not exist" in text or "torchvision::" in text or "not implemented" in text.lower():
            return Outcome.fail(
                f"torchvision {torchvision.__version__} and torch {torch.__version__} are not a matching build: "
                f"torchvision.ops.nms failed on {device} with '{text}'",
                remedy=_torchvision_install(torch),
                diagnosis=evidence.diagnosis(evidence.INSTALL_CONFLICT, [f"torchvision.ops.nms failed on {device} with '{text}'"]),
                **details,
            )
        raise
    kept = sorted(int(i) for i in keep.to("cpu"))
    details["nms_kept"] = kept
    if kept != [0, 2]:
        return Outcome.fail(
            f"torchvision.ops.nms on {device} kept boxes {kept}, expected [0, 2]", remedy=_torchvision_install(torch), **details
        )
    return Outcome.ok(**details)


def _vision_import_diagnosis(version: str | None, exc: BaseException | None = None) -> dict[str, Any]:
    """A reinstall only when torchvision's files differ from its RECORD; a dependency that is not installed (its
    metadata's, or the module the error names); else what was ruled out and the next step."""
    summary = checks_install.stack_record("none")
    mine = {**summary, "problems": [p for p in summary.get("problems") or [] if p["distribution"] == "torchvision"]}
    mine["problem_count"] = len(mine["problems"])
    damage = checks_install.damage_findings(mine)
    if damage:
        remedy = "reinstall what is damaged: " + "; ".join(damage[1]) + evidence.rests_on(damage[2])
        return {"remedy": remedy, "diagnosis": evidence.diagnosis(evidence.INSTALL_DAMAGED, damage[2])}
    missing = summary.get("missing_dependencies") or []
    absent = getattr(exc, "name", None) if isinstance(exc, ModuleNotFoundError) else None
    if missing or absent:
        said = [checks_install._missing_words(m) for m in missing]
        fixes = [remedies.pip_install(f"{m['name']}{m['spec'] or ''}") for m in missing]
        top = (absent or "").split(".")[0]
        if top and not any(markers.normal(m["name"]) == markers.normal(top) for m in missing):
            said.append(f"the module {absent} that torchvision imports is not installed (No module named '{absent}')")
            fixes.append(
                f"install the distribution that provides the module {top} ({remedies.pip_install(top)} where its name is the module's)"
            )
        return {
            "remedy": "install what is missing: " + "; ".join(fixes) + evidence.rests_on(said),
            "diagnosis": evidence.diagnosis(evidence.DEPENDENCY_MISSING, said),
        }
    step = f"run {remedies._python()} -c 'import torchvision' to see the whole traceback, and read its last frame"
    ruled_out = [f"torchvision {version} pairs with this torch", "its files match pip's RECORD sizes"]
    return {
        "remedy": f"{evidence.NOT_IDENTIFIED_WORDS}: {step}",
        "diagnosis": evidence.diagnosis(evidence.NOT_IDENTIFIED, ruled_out, next_step=step),
    }


def _torch_tag(torch: Any) -> str | None:
    build = pairing.torch_build(torch)
    return remedies.wheel_tag(build.get("build"), build.get("cuda"), build.get("hip")) or local_tag(torch.__version__)


def _torchvision_install(torch: Any) -> str:
    want = expected_torchvision(torch.__version__)
    return remedies.pip_install(f"torchvision=={want}.*" if want else "torchvision", _torch_tag(torch))


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


def _compiler_output(exc: BaseException) -> tuple[str | None, list[str], list[str]]:
    """(compiler path, last lines of its own output, every line) from a CppCompileError anywhere in the chain."""
    cur: BaseException | None = exc
    for _ in range(8):
        if cur is None:
            break
        cmd, output = getattr(cur, "cmd", None), getattr(cur, "output", None)
        if isinstance(cmd, (list, tuple)) and cmd and isinstance(output, (str, bytes)):
            text = output.decode("utf-8", "replace") if isinstance(output, bytes) else output
            lines = [line.rstrip()[:300] for line in text.splitlines() if line.strip()]
            return str(cmd[0]), lines[-6:], lines
        cur = cur.__cause__ or cur.__context__
    return None, [], []


_PATH = re.compile(r"/[^\s:'\"]+")


def _disk_full(lines: list[str], text: str) -> tuple[str, str] | None:
    """(the line that says so, the folder) when the compiler or inductor ran out of disk (a full TMPDIR, a full cache)."""
    for line in [*lines, *text.split(" | ")]:
        if "No space left on device" in line:
            # gcc names the file it could not write last ("In file included from /site/torch/include/...: error
            # closing /tmp/ccX.s: No space left on device"): the path nearest the words is the full one
            paths = _PATH.findall(line[: line.index("No space left on device")])
            folder = os.path.dirname(paths[-1]) if paths else os.environ.get("TMPDIR") or tempfile.gettempdir()
            return line.strip()[:300], folder
    return None


def _compile_failure(exc: BaseException, device: str, torch: Any) -> Outcome:
    chain: list[str] = []
    cur: BaseException | None = exc
    while cur is not None and len(chain) < 5:
        chain.append(f"{type(cur).__name__}: {cur}")
        cur = cur.__cause__ or cur.__context__
    text = " | ".join(chain)
    first = chain[0].splitlines()[0][:300]
    compiler, tail, output = _compiler_output(exc)
    known, _version, source = capabilities.cxx_compiler(torch)
    full = _disk_full(output, text)
    if full:
        said, folder = full
        return Outcome.fail(
            f"torch.compile failed on {device}: the disk under {folder} is full ({said})",
            remedy=f"free space under {folder}, or point TMPDIR (the compiler's scratch files) and TORCHINDUCTOR_CACHE_DIR "
            "at a folder with room; the compiler itself is not at fault",
            exception=first,
            compiler=known,
            cause="no space left on device",
            diagnosis=evidence.diagnosis(evidence.INTERPRETER_ENVIRONMENT, [said]),
        )
    if compiler:
        path = os.path.abspath(compiler) if os.sep in compiler else (capabilities.which(compiler) or compiler)
        message = (
            f"torch.compile failed on {device}: the C++ compiler {path} exists but cannot compile inductor's kernel; "
            f"its last output lines: {' / '.join(tail) or '(none)'}"
        )
        chosen = os.environ.get("CXX")
        if chosen and (capabilities.which(chosen) or chosen) == path:
            remedy = (
                f"CXX={chosen} names this compiler, and it cannot compile: repair or replace the compiler at {path}, or unset CXX "
                "so inductor finds the system's own (installing a system compiler does not change what CXX names)"
            )
        else:
            remedy = (
                f"repair or replace the compiler at {path} (its headers or backend are broken): {remedies.cxx_compiler_install()}, "
                "or point CXX at a compiler that works"
            )
        return Outcome.fail(
            message,
            remedy=remedy,
            compiler=path,
            compiler_output_tail=tail,
            exception=first,
            cause="compiler cannot compile",
            diagnosis=evidence.diagnosis(evidence.TOOLCHAIN, [f"{path} failed on inductor's kernel: {' / '.join(tail[-2:])}"]),
        )
    cause = _compile_cause(text)
    details: dict[str, Any] = {"cause": cause, "exception": first, "compiler": known, "compiler_source": source}
    proof = [f"torch.compile raised: {first}"]
    if cause and cause.startswith("no working C++ compiler"):
        chosen = os.environ.get("CXX")
        if chosen:  # inductor takes CXX first: installing a system compiler would change nothing while CXX names this one
            proof.append(f"CXX={chosen} names the compiler inductor tried")
            details["diagnosis"] = evidence.diagnosis(evidence.TOOLCHAIN, proof)
            return Outcome.fail(
                f"torch.compile failed on {device}: CXX={chosen} is not a working C++ compiler",
                remedy=f"unset CXX so inductor finds the system's compiler, or point CXX at one that works ({chosen} does not)",
                **details,
            )
        details["diagnosis"] = evidence.diagnosis(evidence.TOOLCHAIN, proof)
        return Outcome.fail(f"torch.compile failed on {device}: {cause}", remedy=remedies.cxx_compiler_install(), **details)
    if cause and cause.startswith("Triton"):
        details["diagnosis"] = evidence.diagnosis(evidence.DEPENDENCY_MISSING, proof)
        return Outcome.fail(f"torch.compile failed on {device}: {cause}", remedy=remedies.pip_install("triton"), **details)
    if cause:
        details["diagnosis"] = evidence.diagnosis(evidence.INTERPRETER_ENVIRONMENT, proof)
        return Outcome.fail(
            f"torch.compile failed on {device}: {cause}",
            remedy="use a Python version this torch's torch.compile supports, or a newer torch",
            **details,
        )
    step = (
        "rerun with TORCH_LOGS=+inductor to see the failing step; until fixed run eager or allow compile_fallback in policy/severity.yaml"
    )
    details["diagnosis"] = evidence.diagnosis(evidence.NOT_IDENTIFIED, proof, next_step=step)
    return Outcome.fail(f"torch.compile failed on {device}: {first}", remedy=f"{evidence.NOT_IDENTIFIED_WORDS}: {step}", **details)


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
        return _compile_failure(exc, device, torch)
    err = _relative_error(torch, out, eager.double().to("cpu"))
    details = {"device": device, "backend": params.get("backend", "inductor"), "rel_error_vs_eager": err}
    if not err <= TOLERANCE["float32"]:
        return Outcome.fail(
            f"compiled result differs from eager by {err:.3g} (limit {TOLERANCE['float32']:g})",
            remedy="torch.compile miscompiles on this runtime: run eager (allow compile_fallback in policy/severity.yaml) and report it to PyTorch",
            **details,
        )
    return Outcome.ok(**details)
