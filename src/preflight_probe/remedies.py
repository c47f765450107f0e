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
