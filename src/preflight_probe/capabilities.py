"""Collect runtime facts, each with the place it came from (stdlib + optional torch).

Every collector returns ``None`` (and the reason lands in ``sources``) rather
than raising, so a half-broken runtime still yields a useful record.
"""

from __future__ import annotations

import ctypes
import os
import platform
import shutil
import subprocess
import sys
from typing import Any

from preflight_probe import surroundings
from preflight_probe.files import read_text as _read
from preflight_probe.remedies import os_release

_ISA_FLAGS = ("avx", "avx2", "avx512f", "avx512_bf16", "amx_bf16", "amx_tile", "fma", "neon", "asimd")
ISA_FLAGS = _ISA_FLAGS  # public: the ISA features worth reporting (runtime_safety filters py-cpuinfo with it)


class Facts:
    """Accumulates ``name -> value`` with ``name -> source``."""

    def __init__(self) -> None:
        self.values: dict[str, Any] = {}
        self.sources: dict[str, str] = {}

    def put(self, name: str, value: Any, source: str) -> None:
        self.values[name] = value
        self.sources[name] = source

    def as_dict(self) -> dict[str, Any]:
        return {**self.values, "sources": dict(sorted(self.sources.items()))}


def _run(argv: list[str], timeout: float = 5.0) -> str | None:
    try:
        done = subprocess.run(argv, capture_output=True, text=True, timeout=timeout, check=False)
    except (OSError, subprocess.SubprocessError):
        return None
    return done.stdout.strip() if done.returncode == 0 else None


def collect_host(facts: Facts, run_compiler: bool = True) -> None:
    """OS, WSL2, Python, CPU and RAM facts that need no torch (``run_compiler=False``: the compiler's path, not its version)."""
    system = platform.system()
    release = platform.release()
    facts.put("os", system, "platform.system()")
    facts.put("os_release", release, "platform.release()")
    facts.put("machine", platform.machine(), "platform.machine()")
    collect_system(facts, system, run_compiler)
    wsl = system == "Linux" and "microsoft" in (release + (_read("/proc/version") or "")).lower()
    facts.put("is_wsl2", wsl, "platform.release() and /proc/version")
    facts.put("python_version", platform.python_version(), "platform.python_version()")
    facts.put("python_implementation", platform.python_implementation(), "platform.python_implementation()")
    facts.put("python_executable", sys.executable, "sys.executable")
    limits = surroundings.cgroup_limits() if system == "Linux" else {}
    cpus, cpus_source = surroundings.effective_cpus(limits)
    facts.put("cpu_count_host", os.cpu_count(), "os.cpu_count()")
    facts.put("cpu_count", cpus, f"the CPUs this process may use (affinity, cpuset, CPU quota): {cpus_source}")
    if system == "Linux":
        cores = _physical_cores_linux()
        facts.put(
            "cpu_cores", min(cores, cpus) if cores and cpus else cores, "/proc/cpuinfo (physical id, core id) pairs, at most cpu_count"
        )
    model, flags, source = _cpu_model_and_flags(system)
    facts.put("cpu_model", model, source)
    facts.put("cpu_isa", flags, source)
    total, available, mem_source = _ram_mb(system)
    surroundings.collect(facts, limits, total, available, mem_source)


def collect_system(facts: Facts, system: str, run_compiler: bool = True) -> None:
    """OS distribution and version, C library, and the C++ compiler torch.compile would use."""
    if system == "Linux":
        release = os_release()
        name, version = release.get("NAME") or release.get("ID"), release.get("VERSION_ID")
        source = "/etc/os-release" if release else "no /etc/os-release"
    elif system == "Darwin":
        name, version, source = "macOS", platform.mac_ver()[0] or None, "platform.mac_ver()"
    elif system == "Windows":
        name, version, source = f"Windows {platform.release()}", platform.version(), "platform.release() / platform.version()"
    else:
        name, version, source = system, platform.release(), "platform.system() / platform.release()"
    facts.put("os_distribution", name, source)
    facts.put("os_version", version, source)
    libc, libc_version, libc_source = _libc()
    facts.put("libc", libc, libc_source)
    facts.put("libc_version", libc_version, libc_source)
    cxx, cxx_version, cxx_source = cxx_compiler(sys.modules.get("torch"), run_compiler)
    facts.put("cxx_compiler", cxx, cxx_source)
    version_source = (f"{cxx} --version" if run_compiler else "not run: the quick level starts no compiler") if cxx else cxx_source
    facts.put("cxx_compiler_version", cxx_version, version_source)


def _libc() -> tuple[str | None, str | None, str]:
    found = None
    if hasattr(os, "confstr"):  # POSIX; Windows has none
        try:
            found = os.confstr("CS_GNU_LIBC_VERSION")  # "glibc 2.36", straight from the running C library
        except (ValueError, OSError):  # a name this C library does not know (musl, macOS)
            found = None
    if found and " " in found:
        name, version = found.split(" ", 1)
        return name, version, "os.confstr('CS_GNU_LIBC_VERSION')"
    name, version = platform.libc_ver()
    if name:
        return name, version or None, "platform.libc_ver()"
    return None, None, "no C library version readable (not glibc: musl, macOS libSystem or Windows UCRT)"


def which(name: str) -> str | None:
    return shutil.which(name)


def cxx_compiler(torch: Any = None, run_compiler: bool = True) -> tuple[str | None, str | None, str]:
    """(path, version line, source) of the C++ compiler inductor picks: CXX, its cpp.cxx config, else the default."""
    config = sys.modules.get("torch._inductor.config") if torch is not None else None
    candidates: list[tuple[str, str]] = []
    if os.environ.get("CXX"):
        candidates.append((os.environ["CXX"], "CXX environment variable"))
    cxx = getattr(getattr(config, "cpp", None), "cxx", None)
    for entry in cxx if isinstance(cxx, (list, tuple)) else [cxx]:
        if entry:
            candidates.append((str(entry), "torch._inductor.config.cpp.cxx"))
    default = "cl" if platform.system() == "Windows" else ("clang++" if platform.system() == "Darwin" else "g++")
    candidates += [(default, "inductor's default (torch._inductor.config.cpp.cxx)"), ("c++", "c++ on PATH"), ("clang++", "clang++ on PATH")]
    for name, source in candidates:
        path = name if os.path.isabs(name) and os.path.exists(name) else which(name)
        if path:
            out = None if default == "cl" or not run_compiler else _run([path, "--version"])
            return path, (out.splitlines()[0].strip() if out else None), source
    return None, None, f"none of {', '.join(n for n, _ in candidates)} found on PATH"


def _cpu_model_and_flags(system: str) -> tuple[str | None, list[str] | None, str]:
    if system == "Linux":
        text = _read("/proc/cpuinfo") or ""
        model = None
        flags: set[str] = set()
        for line in text.splitlines():
            key, _, value = line.partition(":")
            key = key.strip().lower()
            if key in ("model name", "hardware") and model is None:
                model = value.strip()
            elif key in ("flags", "features") and not flags:
                flags = set(value.split())
        return model, sorted(f for f in _ISA_FLAGS if f in flags), "/proc/cpuinfo"
    if system == "Darwin":
        model = _run(["sysctl", "-n", "machdep.cpu.brand_string"])
        feats = (_run(["sysctl", "-n", "machdep.cpu.features", "machdep.cpu.leaf7_features"]) or "").lower()
        found = sorted(f for f in _ISA_FLAGS if f.replace("_", "") in feats.replace(".", ""))
        if platform.machine() == "arm64":
            found = sorted(set(found) | {"neon"})
        return model, found, "sysctl machdep.cpu"
    return platform.processor() or None, None, "platform.processor() (ISA flags not readable on this OS)"


def _physical_cores_linux() -> int | None:
    """Distinct (physical id, core id) pairs; None where /proc/cpuinfo lacks them (many ARM kernels)."""
    cores: set[tuple[str, str]] = set()
    physical = None
    for line in (_read("/proc/cpuinfo") or "").splitlines():
        key, _, value = line.partition(":")
        key = key.strip().lower()
        if key == "physical id":
            physical = value.strip()
        elif key == "core id" and physical is not None:
            cores.add((physical, value.strip()))
    return len(cores) or None


def _ram_mb(system: str) -> tuple[int | None, int | None, str]:
    if system == "Linux":
        info: dict[str, int] = {}
        for line in (_read("/proc/meminfo") or "").splitlines():
            key, _, rest = line.partition(":")
            parts = rest.split()
            if parts and parts[0].isdigit():
                info[key] = int(parts[0]) // 1024
        return info.get("MemTotal"), info.get("MemAvailable"), "/proc/meminfo"
    if system == "Windows":
        return _windows_ram_mb()
    if system == "Darwin":
        total = _run(["sysctl", "-n", "hw.memsize"])
        return (int(total) // (1024 * 1024) if total and total.isdigit() else None), None, "sysctl hw.memsize"
    return None, None, "no RAM reader for this OS"


def _windows_ram_mb() -> tuple[int | None, int | None, str]:
    if sys.platform != "win32":  # ctypes.windll exists on Windows alone
        return None, None, "GlobalMemoryStatusEx is Windows only"

    class MemoryStatus(ctypes.Structure):
        _fields_ = [
            ("dwLength", ctypes.c_ulong),
            ("dwMemoryLoad", ctypes.c_ulong),
            ("ullTotalPhys", ctypes.c_ulonglong),
            ("ullAvailPhys", ctypes.c_ulonglong),
            ("ullTotalPageFile", ctypes.c_ulonglong),
            ("ullAvailPageFile", ctypes.c_ulonglong),
            ("ullTotalVirtual", ctypes.c_ulonglong),
            ("ullAvailVirtual", ctypes.c_ulonglong),
            ("sullAvailExtendedVirtual", ctypes.c_ulonglong),
        ]

    status = MemoryStatus()
    status.dwLength = ctypes.sizeof(MemoryStatus)
    try:
        ok = ctypes.windll.kernel32.GlobalMemoryStatusEx(ctypes.byref(status))
    except OSError:
        ok = 0
    if not ok:
        return None, None, "GlobalMemoryStatusEx failed"
    mib = 1024 * 1024
    return status.ullTotalPhys // mib, status.ullAvailPhys // mib, "GlobalMemoryStatusEx"


NVIDIA_PROC_GPUS = "/proc/driver/nvidia/gpus"  # one folder per GPU the kernel driver bound (Linux)
DEVICE_NODES = "/dev"  # /dev/nvidia0, /dev/nvidia1 ...: the GPUs this environment was given


def nvidia_gpus_present() -> list[str]:
    """The NVIDIA GPUs this environment was given, whatever CUDA_VISIBLE_DEVICES hides; [] where none or unknown.

    A GPU counts when its device node is here: a container on a GPU host that asked for no GPU still sees the
    host's driver listing but no /dev/nvidiaN, and must not be told it leaves GPUs unused. The driver's listing
    names them by PCI address when it agrees with the nodes. Two directory listings: no NVML, no CUDA context.
    """
    try:
        nodes = sorted(name for name in os.listdir(DEVICE_NODES) if name.startswith("nvidia") and name[6:].isdigit())
    except OSError:
        return []
    if not nodes:  # no NVIDIA GPU given to this environment (or not Linux)
        return []
    try:
        listing = sorted(os.listdir(NVIDIA_PROC_GPUS))
    except OSError:
        listing = []
    return listing if len(listing) == len(nodes) else [os.path.join(DEVICE_NODES, name) for name in nodes]


def cuda_driver_version() -> tuple[str | None, str]:
    """Driver API version straight from libcuda, not nvcc or torch's build."""
    names = ["nvcuda.dll"] if os.name == "nt" else ["libcuda.so.1", "libcuda.dylib"]
    for name in names:
        try:
            lib = ctypes.CDLL(name)
        except OSError:
            continue
        version = ctypes.c_int(0)
        if lib.cuDriverGetVersion(ctypes.byref(version)) == 0 and version.value:
            major, minor = divmod(version.value, 1000)
            return f"{major}.{minor // 10}", f"{name} cuDriverGetVersion"
    return None, "libcuda not loadable (no NVIDIA driver on this host)"


def windows_driver_model() -> tuple[str | None, str]:
    """WDDM or TCC on native Windows, as nvidia-smi reports it."""
    out = _run(["nvidia-smi", "--query-gpu=driver_model.current", "--format=csv,noheader"], timeout=10)
    if not out:
        return None, "nvidia-smi driver_model query unavailable"
    return out.splitlines()[0].strip(), "nvidia-smi --query-gpu=driver_model.current"


def collect_torch(facts: Facts, torch: Any, device: str | None, query_driver_model: bool = True, query_cudnn: bool = True) -> None:
    """Build and accelerator facts from an imported torch; ``device`` like ``cuda:0``.

    ``query_driver_model=False`` skips the nvidia-smi subprocess (callers with NVML ask it instead);
    ``query_cudnn=False`` skips loading libcudnn just to read its version (~10 ms).
    """
    facts.put("torch_version", torch.__version__, "torch.__version__")
    facts.put("torch_path", os.path.dirname(getattr(torch, "__file__", "") or ""), "torch.__file__")
    facts.put("torch_debug", bool(getattr(torch.version, "debug", False)), "torch.version.debug")
    abi = getattr(getattr(torch, "_C", None), "_GLIBCXX_USE_CXX11_ABI", None)  # which libstdc++ ABI extensions must match
    facts.put("torch_cxx11_abi", bool(abi) if abi is not None else None, "torch._C._GLIBCXX_USE_CXX11_ABI")
    facts.put("torch_cuda_build", torch.version.cuda, "torch.version.cuda (CUDA runtime torch was built with)")
    facts.put("torch_hip_build", getattr(torch.version, "hip", None), "torch.version.hip")
    facts.put("torch_cpu_capability", _safe(torch.backends.cpu.get_cpu_capability), "torch.backends.cpu.get_cpu_capability()")
    facts.put("torch_num_threads", _safe(torch.get_num_threads), "torch.get_num_threads()")
    if query_cudnn:
        cudnn = _safe(torch.backends.cudnn.version) if torch.version.cuda else None
        facts.put("cudnn_version", cudnn, "torch.backends.cudnn.version()")
    cuda_available = bool(_safe(torch.cuda.is_available))
    facts.put("cuda_available", cuda_available, "torch.cuda.is_available()")
    facts.put("cuda_device_count", _safe(torch.cuda.device_count) if cuda_available else 0, "torch.cuda.device_count()")
    if torch.version.cuda:
        driver, source = cuda_driver_version()
        facts.put("cuda_driver_version", driver, source)
        if platform.system() == "Windows" and cuda_available and query_driver_model:
            model, model_source = windows_driver_model()
            facts.put("windows_driver_model", model, model_source)
    mps = getattr(torch.backends, "mps", None)
    facts.put("mps_built", bool(mps and _safe(mps.is_built)), "torch.backends.mps.is_built()")
    facts.put("mps_available", bool(mps and _safe(mps.is_available)), "torch.backends.mps.is_available()")
    xpu = getattr(torch, "xpu", None)
    facts.put("xpu_available", bool(xpu and _safe(xpu.is_available)), "torch.xpu.is_available()")
    if device and device.startswith("cuda") and cuda_available:
        _collect_cuda_device(facts, torch, device)
    elif device and device.startswith("xpu"):
        facts.put("device_name", _safe(lambda: torch.xpu.get_device_name(device)), "torch.xpu.get_device_name()")
    elif device == "mps":
        facts.put("device_name", "Apple MPS", "torch.backends.mps")
        rec = _safe(torch.mps.recommended_max_memory)
        facts.put("total_memory_mb", rec // (1024 * 1024) if rec else None, "torch.mps.recommended_max_memory()")
        facts.put("bf16_supported", _mps_bf16(torch), "bfloat16 tensor on mps")


def _collect_cuda_device(facts: Facts, torch: Any, device: str) -> None:
    props = torch.cuda.get_device_properties(device)
    facts.put("device_name", props.name, "torch.cuda.get_device_properties().name")
    facts.put("compute_capability", f"{props.major}.{props.minor}", "torch.cuda.get_device_properties().major/minor")
    facts.put("multi_processor_count", props.multi_processor_count, "torch.cuda.get_device_properties()")
    free, total = torch.cuda.mem_get_info(device)
    facts.put("total_memory_mb", total // (1024 * 1024), "torch.cuda.mem_get_info()")
    facts.put("free_memory_mb", free // (1024 * 1024), "torch.cuda.mem_get_info()")
    facts.put("bf16_supported", bool(_safe(torch.cuda.is_bf16_supported)), "torch.cuda.is_bf16_supported()")
    # torch >= 2.3 counts emulated bf16 (a T4 says True above); native support is what dtype policy needs.
    native = _safe(lambda: torch.cuda.is_bf16_supported(including_emulation=False))
    facts.put("bf16_native", bool(native) if native is not None else None, "torch.cuda.is_bf16_supported(including_emulation=False)")
    facts.put("gcn_arch", getattr(props, "gcnArchName", None), "torch.cuda.get_device_properties().gcnArchName")


def _mps_bf16(torch: Any) -> bool:
    try:
        torch.ones(1, dtype=torch.bfloat16, device="mps")
    except Exception:
        return False
    return True


def _safe(func: Any) -> Any:
    try:
        return func()
    except Exception:
        return None


def collect(
    torch: Any = None, device: str | None = None, query_driver_model: bool = True, query_cudnn: bool = True, run_compiler: bool = True
) -> dict[str, Any]:
    """All facts as one flat dict with a ``sources`` map; ``torch=None`` means host facts only."""
    facts = Facts()
    collect_host(facts, run_compiler)
    facts.put("torch_available", torch is not None, "import torch")
    if torch is not None:
        collect_torch(facts, torch, device, query_driver_model, query_cudnn)
    return facts.as_dict()
