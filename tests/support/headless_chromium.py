"""Debian's Chromium, headless, as the browser tests drive it (flags that keep it off the network)."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

CHROMIUM = next(
    (c for c in ("/usr/bin/chromium", shutil.which("chromium"), shutil.which("chromium-browser")) if c and Path(c).exists()), None
)
requires_chromium = pytest.mark.skipif(
    CHROMIUM is None, reason="chromium is not installed (apt-get install -y chromium); .ci/run installs it"
)


def run(page: Path, profile: Path, *mode: str, timeout: float = 120) -> subprocess.CompletedProcess[str]:
    """Open ``page`` once in a fresh profile; ``mode`` is e.g. ``--dump-dom`` or ``--screenshot=...``."""
    assert CHROMIUM is not None
    argv = [
        CHROMIUM,
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-background-networking",
        "--disable-component-update",
        "--no-first-run",
        f"--user-data-dir={profile}",
        *mode,
        page.as_uri(),
    ]
    return subprocess.run(argv, capture_output=True, text=True, timeout=timeout, check=False)
