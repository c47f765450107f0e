"""Runtimes whose dynamic loader takes a library torch ships from somewhere else, each the way it happens to users.

LD_PRELOAD of the system's OpenMP or of an older torch's libc10; a plugin built with an RPATH into a conda
prefix, loaded before torch; an environment module's LD_LIBRARY_PATH, used by a package that opens OpenMP
by name. Every library is a real one from this machine; the plugin is compiled here with the real gcc.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
import textwrap
from pathlib import Path

from tests.support.broken_runtimes import SITE, Runtime, Unavailable, torch_213_site, venv_reaching


def system_library(soname: str) -> Path:
    """The system's own copy of ``soname`` (ldconfig's cache), which torch also ships."""
    if sys.platform != "linux":
        raise Unavailable("the dynamic loader's search order is glibc's (Linux)")
    try:
        out = subprocess.run(["ldconfig", "-p"], capture_output=True, text=True, timeout=10, check=False).stdout
    except OSError as exc:
        raise Unavailable(f"ldconfig -p cannot run: {exc}") from None
    for line in out.splitlines():
        name, sep, path = line.strip().partition(" => ")
        if sep and name.split(" (")[0] == soname and Path(path).exists():
            return Path(path)
    raise Unavailable(f"this system has no {soname} of its own to load instead of torch's")


def preloaded_system_openmp(root: Path) -> Runtime:
    """LD_PRELOAD of the system's libgomp.so.1 (a tuning guide's advice): torch loads, with an OpenMP it does not ship."""
    gomp = system_library("libgomp.so.1")
    return Runtime(Path(sys.executable), {"LD_PRELOAD": str(gomp)}, {"loaded": str(gomp)})


def preloaded_older_torch_library(root: Path) -> Runtime:
    """LD_PRELOAD of torch 2.13's libc10.so (a leftover from another job's environment): torch 2.14 cannot bind it."""
    old = torch_213_site() / "torch" / "lib" / "libc10.so"
    if not old.exists():
        raise Unavailable(f"the cached torch 2.13 has no {old}")
    return Runtime(Path(sys.executable), {"LD_PRELOAD": str(old)}, {"loaded": str(old)})


def _gcc(what: str, args: list[str]) -> None:
    """Build ``what`` with this machine's C compiler (``args`` after the compiler's name); Unavailable when it cannot."""
    gcc = shutil.which("gcc") or shutil.which("cc")
    if gcc is None:
        raise Unavailable(f"needs a C compiler to build {what}")
    done = subprocess.run([gcc, *args], capture_output=True, text=True, timeout=120, check=False)
    if done.returncode != 0:
        raise Unavailable(f"gcc could not build {what}: {done.stderr.strip().splitlines()[-1:]}")


def _compile_plugin(source_dir: Path, rpath: Path) -> Path:
    (source_dir / "plugin.c").write_text(
        "extern int omp_get_max_threads(void);\nint plugin_threads(void) { return omp_get_max_threads(); }\n"
    )
    plugin = source_dir / "libplugin.so"
    args = ["-shared", "-fPIC", "-o", str(plugin), str(source_dir / "plugin.c"), f"-Wl,-rpath,{rpath}", "-Wl,--disable-new-dtags"]
    _gcc("a plugin with an RPATH", [*args, f"-L{rpath}", "-l:libgomp.so.1"])
    return plugin


def conda_plugin_openmp(root: Path) -> Runtime:
    """A plugin with an RPATH into a conda prefix's lib/, imported before torch: the conda prefix's OpenMP wins."""
    gomp = system_library("libgomp.so.1")
    prefix = root / "conda-env"
    (prefix / "conda-meta").mkdir(parents=True)
    (prefix / "conda-meta" / "history").write_text("==> 2026-01-01 00:00:00 <==\n# cmd: conda create -p conda-env libgomp\n")
    lib = prefix / "lib"
    lib.mkdir()
    shutil.copy2(gomp, lib / "libgomp.so.1")
    plugin = _compile_plugin(lib, lib)
    python, site = venv_reaching(root / "venv", SITE)
    (site / "sitecustomize.py").write_text(
        textwrap.dedent(
            f"""
            # A site's plugin loader: its native helper comes from the conda environment's lib/.
            import ctypes
            ctypes.CDLL({str(plugin)!r})
            """
        ),
        encoding="utf-8",
    )
    return Runtime(
        python, {"CONDA_PREFIX": str(prefix)}, {"loaded": str(lib / "libgomp.so.1"), "plugin": str(plugin), "prefix": str(prefix)}
    )


def module_openmp(root: Path) -> Runtime:
    """`module load gcc/12` put a GCC's lib/ on LD_LIBRARY_PATH; a package opens OpenMP by name before torch does."""
    gomp = system_library("libgomp.so.1")
    lib = root / "apps" / "gcc" / "12.2.0" / "lib64"
    lib.mkdir(parents=True)
    shutil.copy2(gomp, lib / "libgomp.so.1")
    modulefile = root / "modulefiles" / "gcc" / "12.2.0"
    modulefile.parent.mkdir(parents=True)
    modulefile.write_text(f"#%Module1.0\nprepend-path PATH {root}/apps/gcc/12.2.0/bin\nprepend-path LD_LIBRARY_PATH {lib}\n")
    python, site = venv_reaching(root / "venv", SITE)
    (site / "sitecustomize.py").write_text("import ctypes\nctypes.CDLL('libgomp.so.1')  # a package that needs OpenMP\n", encoding="utf-8")
    env = {"LD_LIBRARY_PATH": str(lib), "LOADEDMODULES": "gcc/12.2.0", "_LMFILES_": str(modulefile)}
    return Runtime(python, env, {"loaded": str(lib / "libgomp.so.1"), "modulefile": str(modulefile), "entry": str(lib)})


def older_libstdcxx_first(root: Path) -> Runtime:
    """An old libstdc++.so.6 first on LD_LIBRARY_PATH (a conda env's, an old compiler module's): torch's libraries
    need symbol versions (CXXABI_1.3.8, GLIBCXX_3.4.2x) it lacks. Built here with the real gcc: a stub that
    defines only the oldest version node."""
    if sys.platform != "linux":
        raise Unavailable("symbol versions are glibc's loader's (Linux)")
    folder = root / "old-compiler" / "lib"
    folder.mkdir(parents=True)
    (root / "stub.c").write_text("void __old_placeholder(void) {}\n", encoding="utf-8")
    (root / "versions.map").write_text("GLIBCXX_3.4 { global: __old_placeholder; local: *; };\n", encoding="utf-8")
    library = folder / "libstdc++.so.6"
    script = f"-Wl,--version-script={root / 'versions.map'}"
    _gcc("an old libstdc++ stand-in", ["-shared", "-fPIC", "-Wl,-soname,libstdc++.so.6", script, "-o", str(library), str(root / "stub.c")])
    return Runtime(Path(sys.executable), {"LD_LIBRARY_PATH": str(folder)}, {"folder": str(folder), "library": str(library)})
