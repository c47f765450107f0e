"""Reading the live kernel log where there is none (macOS, Windows: forced here)."""

from __future__ import annotations

import os
import sys

import pytest

from preflight_action.kernel_log import read


@pytest.mark.parametrize("platform", ["win32", "darwin"])
def test_off_linux_the_log_is_unreadable_and_says_why_without_touching_dev_kmsg(monkeypatch: pytest.MonkeyPatch, platform: str) -> None:
    monkeypatch.delenv(read.LOG_ENV, raising=False)
    monkeypatch.setattr(sys, "platform", platform)
    if platform == "win32":
        monkeypatch.delattr(os, "O_NONBLOCK")  # Windows has neither
        monkeypatch.delattr(os, "O_CLOEXEC")
    assert read.read(5.0) == read.Unreadable(f"no Linux kernel log on {platform}")
    assert read._kmsg(5.0) == (None, f"no /dev/kmsg on {platform}")
