"""Reading the small text files the probe looks at (/proc, /sys, dist-info): a file that cannot be read is None."""

from __future__ import annotations


def read_text(path: str) -> str | None:
    """The file's text (undecodable bytes replaced), or None when it is absent or unreadable."""
    try:
        with open(path, encoding="utf-8", errors="replace") as handle:
            return handle.read()
    except OSError:
        return None
