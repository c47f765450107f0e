"""Real broken runtimes built on this CPU machine, for the preflight to diagnose.

Each builder makes a runtime that is broken the way users' runtimes break, from
real parts: venvs made with ``--without-pip`` whose site-packages reach the dev
venv's real torch through a ``.pth`` file (no reinstall), a second real torch
(2.13.0+cpu, installed once with pip into a cache under /tmp), a ``sitecustomize``
that patches torch's matmul, a ``torch/`` package that is not PyTorch, a truncated
copy of a real torch shared library, a g++ whose headers are gone, and a
``--python`` that is a shell script. A builder that cannot build raises
``Unavailable`` with the reason; the tests skip with it.
"""

from __future__ import annotations

import base64
import hashlib
import importlib.util
import os
import shutil
import subprocess
import sys
import sysconfig
import textwrap
from dataclasses import dataclass, field
from pathlib import Path


def _torch_site() -> Path:
    """The site-packages holding the dev venv's real torch (a layered venv reaches it through a .pth file)."""
    spec = importlib.util.find_spec("torch")
    if spec is None or not spec.submodule_search_locations:
        return Path(sysconfig.get_paths()["purelib"])
    return Path(next(iter(spec.submodule_search_locations))).parent


SITE = _torch_site()  # the dev venv's site-packages: the real torch 2.14 and torchvision
CACHE = Path(os.environ.get("PREFLIGHT_BROKEN_RUNTIMES_CACHE", "/tmp/preflight-broken-runtimes"))
TORCH_213_WHEEL = "torch==2.13.0+cpu"


class Unavailable(Exception):
    """This runtime cannot be built on this machine (the message says why)."""


@dataclass
class Runtime:
    """An interpreter to pass as ``--python`` and the environment to run it under."""

    python: Path
    env: dict[str, str] = field(default_factory=dict)
    notes: dict[str, str] = field(default_factory=dict)  # paths the test asserts on


def _venv(root: Path) -> tuple[Path, Path]:
    """A bare venv (no pip, no system site-packages): (python, its site-packages)."""
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(root)], check=True, timeout=120, capture_output=True)
    python = root / ("Scripts/python.exe" if os.name == "nt" else "bin/python")
    site = subprocess.run(
        [str(python), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
        check=True,
        timeout=60,
        capture_output=True,
        text=True,
    ).stdout.strip()
    return python, Path(site)


def venv_reaching(root: Path, *sites: Path) -> tuple[Path, Path]:
    """A bare venv whose .pth files add ``sites`` in order (the first one wins an import)."""
    python, site = _venv(root)
    for index, target in enumerate(sites):
        (site / f"{index:02d}_reach.pth").write_text(f"{target}\n", encoding="utf-8")
    return python, site


def torch_213_site() -> Path:
    """A site-packages dir holding a second real torch (2.13.0+cpu) and numpy, installed once and cached."""
    target = CACHE / "torch-2.13.0+cpu-site"
    if (target / "torch" / "__init__.py").exists() and list(target.glob("torch-2.13.0*.dist-info")):
        return target
    scratch = CACHE / "torch-2.13.0+cpu-site.partial"
    shutil.rmtree(scratch, ignore_errors=True)
    scratch.mkdir(parents=True)
    done = subprocess.run(
        [sys.executable, "-m", "pip", "install", "--quiet", "--target", str(scratch), TORCH_213_WHEEL, "numpy"],
        capture_output=True,
        text=True,
        timeout=900,
        check=False,
    )
    if done.returncode != 0 or not (scratch / "torch" / "__init__.py").exists():
        shutil.rmtree(scratch, ignore_errors=True)
        tail = (done.stderr or done.stdout).strip().splitlines()[-1:] or ["no output"]
        raise Unavailable(f"pip could not install {TORCH_213_WHEEL} (a second real torch): {tail[0]}")
    scratch.rename(target)
    return target


def second_torch(root: Path, via: str) -> Runtime:
    """The dev venv's torch 2.14 plus a second real torch (2.13.0+cpu) ahead of it, by PYTHONPATH or a .pth file."""
    other = torch_213_site()
    if via == "PYTHONPATH":
        python, _ = venv_reaching(root / "venv", SITE)
        return Runtime(python, {"PYTHONPATH": str(other)}, {"other": str(other)})
    python, site = venv_reaching(root / "venv", other, SITE)
    return Runtime(python, {}, {"other": str(other), "pth": str(site / "00_reach.pth")})


def second_copy_of_torch(root: Path, via: str) -> Runtime:
    """The dev venv's torch installed a second time elsewhere (same version): a site dir whose torch is the
    real package (a symlink, no 1-4 GB copy) with its own dist-info, ahead of the venv's, by PYTHONPATH or .pth."""
    other = root / "other-env-site"
    other.mkdir(parents=True)
    dist = next(SITE.glob("torch-*.dist-info"), None)
    if dist is None:
        raise Unavailable("the dev venv has no torch distribution to install twice")
    # every top-level entry torch's RECORD lists (torch, functorch, torchgen ...), so the copy is whole
    tops = {line.split("/", 1)[0] for line in (dist / "RECORD").read_text(encoding="utf-8").splitlines() if "/" in line}
    for top in sorted(tops - {dist.name, "..", ""}):
        if (SITE / top).is_dir():
            (other / top).symlink_to(SITE / top, target_is_directory=True)
    shutil.copytree(dist, other / dist.name)
    version = dist.name[len("torch-") : -len(".dist-info")]
    if via == "PYTHONPATH":
        python, _ = venv_reaching(root / "venv", SITE)
        return Runtime(python, {"PYTHONPATH": str(other)}, {"other": str(other), "version": version})
    python, site = venv_reaching(root / "venv", other, SITE)
    return Runtime(python, {}, {"other": str(other), "version": version, "pth": str(site / "00_reach.pth")})


def torchvision_for_another_build(root: Path) -> Runtime:
    """torch 2.13.0+cpu with the dev venv's torchvision 0.29.1: a CUDA 13 build made for torch 2.14."""
    other = torch_213_site()
    vision = root / "vision-site"
    vision.mkdir(parents=True)
    for name in ("torchvision", "torchvision.libs"):
        if (SITE / name).exists():
            (vision / name).symlink_to(SITE / name, target_is_directory=True)
    dist = next(SITE.glob("torchvision-*.dist-info"), None)
    if dist is None:
        raise Unavailable("the dev venv has no torchvision distribution to pair with the wrong torch")
    shutil.copytree(dist, vision / dist.name)
    python, _ = venv_reaching(root / "venv", other, vision)
    return Runtime(python, {}, {"torchvision_version": dist.name[len("torchvision-") : -len(".dist-info")]})


def patched_matmul(root: Path, factor: float = 1.01) -> Runtime:
    """The real torch, with a sitecustomize that makes every matmul (all dtypes, all devices) ``factor`` times too big."""
    python, site = venv_reaching(root / "venv", SITE)
    (site / "sitecustomize.py").write_text(
        textwrap.dedent(
            f"""
            import torch

            def _wrong(original):
                def wrapper(*args, **kwargs):
                    return original(*args, **kwargs) * {factor!r}
                return wrapper

            for owner, name in ((torch, "matmul"), (torch, "mm"), (torch.Tensor, "__matmul__"), (torch.Tensor, "matmul"), (torch.Tensor, "mm")):
                setattr(owner, name, _wrong(getattr(owner, name)))
            """
        ),
        encoding="utf-8",
    )
    return Runtime(python, {}, {"sitecustomize": str(site / "sitecustomize.py")})


def shadowing_torch(root: Path, kind: str = "package") -> Runtime:
    """A project's own ``torch/`` package (or ``torch.py`` module) on PYTHONPATH, in front of the real PyTorch."""
    project = root / "project"
    project.mkdir(parents=True)
    text = '"""Our project\'s torch helpers (not PyTorch)."""\n\nHELPERS = True\n'
    if kind == "package":
        (project / "torch").mkdir()
        (project / "torch" / "__init__.py").write_text(text, encoding="utf-8")
        shadow = project / "torch"
    else:
        shadow = project / "torch.py"
        shadow.write_text(text, encoding="utf-8")
    return Runtime(Path(sys.executable), {"PYTHONPATH": str(project)}, {"shadow": str(shadow)})


def damaged_torch(root: Path, keep_bytes: int | None = None) -> Runtime:
    """A torch whose shared library was partly written: its import dies with SIGBUS, printing nothing.

    Copying the whole 1-4 GB torch is too slow for a test, so this torch is a package whose
    ``__init__`` loads (ctypes) a truncated copy of one small real torch library, libc10.so,
    exactly as torch's own ``__init__`` loads its libraries; with it a dist-info like pip's.
    """
    real = SITE / "torch" / "lib" / "libc10.so"
    if sys.platform != "linux" or not real.exists():
        raise Unavailable("needs Linux and the dev venv's torch/lib/libc10.so to truncate")
    site = root / "damaged-site"
    lib = site / "torch" / "lib"
    lib.mkdir(parents=True)
    data = real.read_bytes()
    # by default a third: an interrupted copy, headers intact and the rest missing (SIGBUS when mapped);
    # a few bytes: a copy that barely started (the loader refuses it: "file too short")
    (lib / "libc10.so").write_bytes(data[: len(data) // 3 if keep_bytes is None else keep_bytes])
    (site / "torch" / "__init__.py").write_text(
        "import ctypes, os\nctypes.CDLL(os.path.join(os.path.dirname(__file__), 'lib', 'libc10.so'))\n__version__ = '2.14.1'\n",
        encoding="utf-8",
    )
    dist = site / "torch-2.14.1.dist-info"
    dist.mkdir()
    (dist / "METADATA").write_text("Metadata-Version: 2.1\nName: torch\nVersion: 2.14.1\n", encoding="utf-8")
    # pip's RECORD of the install as it should have been: the library's real size and hash
    write_record(site, dist, {"torch/__init__.py": (site / "torch" / "__init__.py").read_bytes(), "torch/lib/libc10.so": data})
    return Runtime(Path(sys.executable), {"PYTHONPATH": str(site)}, {"torch": str(site / "torch"), "library": "torch/lib/libc10.so"})


def record_line(path: str, data: bytes) -> str:
    """One RECORD row as pip writes it: path, sha256 (urlsafe base64, unpadded), size."""
    digest = base64.urlsafe_b64encode(hashlib.sha256(data).digest()).rstrip(b"=").decode()
    return f"{path},sha256={digest},{len(data)}"


def write_record(site: Path, dist: Path, files: dict[str, bytes]) -> None:
    """A RECORD for ``files`` (what pip wrote) plus the dist-info's own files, as pip lays it out."""
    rows = [record_line(rel, data) for rel, data in files.items()]
    rows += [record_line(f"{dist.name}/{f.name}", f.read_bytes()) for f in sorted(dist.iterdir()) if f.name != "RECORD"]
    rows.append(f"{dist.name}/RECORD,,")
    (dist / "RECORD").write_text("\n".join(rows) + "\n", encoding="utf-8")
    (dist / "INSTALLER").write_text("pip\n", encoding="utf-8")


def compiler_without_headers(root: Path) -> Runtime:
    """The real torch with CXX pointing at a real g++ whose headers are gone: ``--version`` works, compiling fails."""
    gxx = shutil.which("g++")
    if gxx is None or os.name == "nt":
        raise Unavailable("needs a g++ on PATH (POSIX) to break")
    wrapper = root / "bin" / "g++"
    wrapper.parent.mkdir(parents=True)
    wrapper.write_text(f'#!/bin/sh\nexec {gxx} -nostdinc -nostdinc++ "$@"\n', encoding="utf-8")
    wrapper.chmod(0o755)
    cache = root / "inductor-cache"  # a warm cache would skip the compiler altogether
    return Runtime(Path(sys.executable), {"CXX": str(wrapper), "TORCHINDUCTOR_CACHE_DIR": str(cache)}, {"cxx": str(wrapper)})


def not_a_python(root: Path) -> Runtime:
    """A ``--python`` that is a shell script: it complains on stderr, prints garbage and exits 0."""
    script = root / "python3"
    script.parent.mkdir(parents=True, exist_ok=True)
    script.write_text(
        "#!/bin/sh\necho 'early complaint: this wrapper lost its interpreter' >&2\necho 'Welcome to the toolbox 4.2'\necho 42\nexit 0\n",
        encoding="utf-8",
    )
    script.chmod(0o755)
    return Runtime(script, {}, {"first_stderr": "early complaint: this wrapper lost its interpreter"})
