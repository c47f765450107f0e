"""The concrete next step for a diagnosed cause: a command for this interpreter and OS where one exists."""

from __future__ import annotations

import os
import platform
import sys

PYTORCH_INDEX = "https://download.pytorch.org/whl/"


def _python(python: str | None = None) -> str:
    exe = python or sys.executable or "python"
    return f'"{exe}"' if " " in exe else exe


def wheel_tag(build: str | None, cuda: str | None = None, hip: str | None = None) -> str | None:
    """The download.pytorch.org index name for a build: ``cpu``, ``cu130``, ``rocm6.2``; None when unknown."""
    if build == "cpu":
        return "cpu"
    if build and build.startswith("cuda"):
        if cuda and "." in cuda:
            major, minor = cuda.split(".")[:2]
            return f"cu{major}{minor[:1]}"
        return None
    if build == "rocm" and hip:
        return "rocm" + ".".join(hip.split(".")[:2])
    return None


def pip_install(spec: str, tag: str | None = None, extra: str = "", python: str | None = None) -> str:
    """``python -m pip install "spec"`` for this interpreter (or ``python``), from the PyTorch index for ``tag`` when known."""
    index = f" --index-url {PYTORCH_INDEX}{tag}" if tag else ""
    return f'{_python(python)} -m pip install {extra}"{spec}"{index}'


def reinstall(name: str, version: str | None, tag: str | None = None, python: str | None = None) -> str:
    """Reinstall ``name`` over a damaged copy, bypassing pip's cache (which may hold the same broken download)."""
    spec = f"{name}=={version.split('+')[0]}" if version else name
    return pip_install(spec, tag or local_tag(version), extra="--force-reinstall --no-cache-dir ", python=python)


def local_tag(version: str | None) -> str | None:
    return version.split("+", 1)[1] if version and "+" in version else None


def os_release(path: str = "/etc/os-release") -> dict[str, str]:
    """``/etc/os-release`` as a dict (ID, VERSION_ID, PRETTY_NAME ...); empty where there is none."""
    fields: dict[str, str] = {}
    try:
        with open(path, encoding="utf-8", errors="replace") as handle:
            for line in handle:
                key, sep, value = line.strip().partition("=")
                if sep and key and not key.startswith("#"):
                    fields[key] = value.strip().strip("\"'")
    except OSError:
        pass
    return fields


_CXX_PACKAGES = (
    (("debian", "ubuntu", "linuxmint", "pop", "raspbian"), "sudo apt-get install -y g++"),
    (("fedora", "rhel", "centos", "rocky", "almalinux", "ol", "amzn"), "sudo dnf install -y gcc-c++"),
    (("opensuse", "sles", "suse", "opensuse-leap", "opensuse-tumbleweed"), "sudo zypper install -y gcc-c++"),
    (("alpine",), "apk add g++"),
    (("arch", "manjaro", "endeavouros"), "sudo pacman -S --needed gcc"),
)


def cxx_compiler_install(release: dict[str, str] | None = None) -> str:
    """The command that provides a working C++ compiler on this OS (by /etc/os-release ID and ID_LIKE)."""
    system = platform.system()
    if system == "Darwin":
        return "xcode-select --install (or: brew install llvm)"
    if system == "Windows":
        return "install Visual Studio Build Tools with the 'Desktop development with C++' workload and run from a Developer prompt"
    release = os_release() if release is None else release
    ids = [release.get("ID", ""), *release.get("ID_LIKE", "").split()]
    for names, command in _CXX_PACKAGES:
        if any(i in names for i in ids):
            return command
    if os.path.exists("/usr/bin/apt-get"):
        return "sudo apt-get install -y g++"
    if os.path.exists("/usr/bin/dnf"):
        return "sudo dnf install -y gcc-c++"
    return "install g++ or clang++ with this system's package manager"


# The oldest driver each CUDA major runs on (NVIDIA's minor-version compatibility: Linux / Windows).
MIN_DRIVER = {11: ("450.80.02", "452.39"), 12: ("525.60.13", "527.41"), 13: ("580.65.06", "580.88")}


def min_driver(cuda: str | None) -> str | None:
    """'>= 525.60.13' for a CUDA 12.x build on Linux; None when the major is not in the table."""
    major = int(cuda.split(".")[0]) if cuda and cuda.split(".")[0].isdigit() else None
    pair = MIN_DRIVER.get(major) if major is not None else None
    if pair is None:
        return None
    return pair[1] if platform.system() == "Windows" else pair[0]


def cuda_visibility() -> tuple[str | None, bool]:
    """(``CUDA_VISIBLE_DEVICES`` as set, None when unset; whether that value hides every GPU from CUDA).

    CUDA reads the list left to right and stops at the first entry that names no device, so a value whose
    first entry is empty, negative or not an index/UUID ("", "-1", "none", "NoDevFiles") hides them all.
    """
    value = os.environ.get("CUDA_VISIBLE_DEVICES")
    if value is None:
        return None, False
    first = value.split(",")[0].strip()
    return value, not (first.isdigit() or first.startswith(("GPU-", "MIG-")))


def device_remedy(requested: str, torch_version: str, cuda: str | None, driver_cuda: str | None) -> str:
    """What makes ``--device requested`` available: a build that has it, a new enough driver, or the device visible."""
    if requested == "cuda" and not cuda:
        base = torch_version.split("+", maxsplit=1)[0]
        return (
            f"this torch ({torch_version}) is a CPU-only build: reinstall torch {base} from the CUDA index your driver "
            f"supports (nvidia-smi shows its CUDA version), e.g. {pip_install(f'torch=={base}', 'cu126', extra='--force-reinstall ')}"
        )
    if requested == "cuda" and cuda:
        need = min_driver(cuda)
        floor = f" (at least {need} for CUDA {cuda.split('.')[0]}.x, this torch's build)" if need else ""
        visible, hides_all = cuda_visibility()
        if hides_all:
            fix = f"unset CUDA_VISIBLE_DEVICES (it is {visible!r}, which hides every GPU) or set it to the GPUs to use (nvidia-smi -L lists them)"
            return fix + (f"; no NVIDIA driver answers either: install it{floor}" if driver_cuda is None else "")
        if driver_cuda is None:
            return f"install the NVIDIA driver{floor}; then nvidia-smi must list the GPU"
        have, want = driver_cuda.split(".")[0], cuda.split(".")[0]
        if have.isdigit() and want.isdigit() and int(have) < int(want):
            return f"the driver supports CUDA {driver_cuda} but this torch needs CUDA {cuda}: update the NVIDIA driver{floor}"
        if visible is not None:
            return (
                f"CUDA_VISIBLE_DEVICES={visible!r} names no GPU CUDA can open: set it to indices or UUIDs from nvidia-smi -L, or unset it"
            )
        return "the driver loads but no GPU is visible: check CUDA_VISIBLE_DEVICES, the container's GPU request and nvidia-smi"
    if requested == "mps":
        return "MPS needs macOS 12.3+ on Apple silicon and a torch built with MPS (the macOS arm64 wheels are)"
    if requested == "xpu":
        return "XPU needs an Intel GPU driver and a torch built for XPU (the download.pytorch.org/whl/xpu index)"
    return f"pass --device for a backend this machine has, or install a torch build for {requested}"
