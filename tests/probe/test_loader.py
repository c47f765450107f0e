"""The loader reader: ELF dynamic sections, glibc's search order, and which mapped library came from where."""

from __future__ import annotations

import os
import sys
from pathlib import Path

import pytest

from preflight_probe import elf, loader
from tests.support.broken_runtimes import SITE

pytestmark = pytest.mark.skipif(sys.platform != "linux", reason="ELF and glibc's loader")
LIB = SITE / "torch" / "lib"


def test_the_real_torch_library_names_its_needs_and_its_rpath() -> None:
    found = elf.dynamic(str(LIB / "libtorch_cpu.so"))
    if found is None:
        pytest.skip("the dev venv's torch has no ELF libtorch_cpu.so")
    assert "libc10.so" in found["needed"]  # its string table runs to megabytes: read per name, not capped
    assert found["soname"] == "libtorch_cpu.so"
    assert "$ORIGIN" in found["rpath"] + found["runpath"]


def test_rpath_comes_before_ld_library_path_which_comes_before_the_system(tmp_path: Path) -> None:
    requester = str(LIB / "libtorch_cpu.so")
    order = loader.search("libc10.so", requester, {"LD_LIBRARY_PATH": str(tmp_path)})
    reasons = [why for _, why in order]
    assert reasons.index(f"the RPATH of {requester}") < reasons.index("LD_LIBRARY_PATH") < reasons.index("the system default folders")
    assert (str(LIB / "libc10.so"), f"the RPATH of {requester}") in order


def test_a_preloaded_library_torch_also_ships_is_found_with_its_preload(tmp_path: Path) -> None:
    system = loader.ld_cache().get("libgomp.so.1")
    if not system or not (LIB / "libgomp.so.1").exists():
        pytest.skip("needs the system's libgomp.so.1 and torch's own")
    found = loader.foreign({"libgomp.so.1": str(LIB / "libgomp.so.1")}, [os.path.realpath(system)], {"LD_PRELOAD": system})
    assert found == [
        {
            "library": "libgomp.so.1",
            "loaded": os.path.realpath(system),
            "bundled": str(LIB / "libgomp.so.1"),
            "why": f"LD_PRELOAD={system}",
            "entry": system,
            "needed_by": [],
        }
    ]
    assert loader.foreign({"libgomp.so.1": str(LIB / "libgomp.so.1")}, [str(LIB / "libgomp.so.1")], {}) == []


def test_the_loaders_own_words_name_what_it_took_and_why() -> None:
    taken = loader.replay(sys.executable, {**os.environ, "LD_LIBRARY_PATH": ""}, code="import ctypes; ctypes.CDLL('libz.so.1')")
    if not taken:
        pytest.skip("LD_DEBUG is glibc's")
    assert "libz.so.1" in taken
    assert taken["libz.so.1"]["file"].endswith("libz.so.1")


def test_library_names_are_read_out_of_loader_errors() -> None:
    text = "ImportError: /env/torch/lib/libtorch_cpu.so: undefined symbol: _ZN3c10; libcublas.so.13: cannot open shared object file"
    assert loader.named_libraries(text) == ["/env/torch/lib/libtorch_cpu.so", "libcublas.so.13"]
