"""Host facts the probe reads where a platform lacks the direct source (forced here)."""

from __future__ import annotations

import os
import platform
import sys

import pytest

from preflight_probe import capabilities


@pytest.mark.skipif(not platform.libc_ver()[0], reason="platform.libc_ver() names no C library here (not glibc)")
def test_without_os_confstr_the_c_library_comes_from_platform_libc_ver(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delattr(os, "confstr")  # Windows has none
    name, version = platform.libc_ver()  # without confstr: the newest GLIBC_ symbol version the interpreter's binary names
    assert capabilities._libc() == (name, version, "platform.libc_ver()")
    assert name == "glibc"


@pytest.mark.skipif(sys.platform == "win32", reason="the one platform where GlobalMemoryStatusEx exists")
def test_the_windows_ram_reader_says_it_is_windows_only_elsewhere() -> None:
    assert capabilities._windows_ram_mb() == (None, None, "GlobalMemoryStatusEx is Windows only")
