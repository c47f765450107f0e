"""Let ``python scripts/<name>.py`` work from a checkout without installing the package."""

from __future__ import annotations

import os
import sys


def _findable(name: str) -> bool:
    """Whether an import of the top-level ``name`` would find it, without importing it (a broken package then fails
    inside the entry's guard): what ``importlib.util.find_spec`` asks of ``sys.meta_path``, without the 5 ms of
    imports ``importlib.util`` costs before runtime_preflight has started its worker."""
    if name in sys.modules:
        return True
    for finder in sys.meta_path:
        find = getattr(finder, "find_spec", None)
        if find is not None and find(name, None) is not None:
            return True
    return False


def ensure_package() -> None:
    if not _findable("preflight_action") or not _findable("preflight_entry"):
        # os.path, not pathlib: runtime_preflight starts its worker before anything heavy loads
        sys.path.insert(1, os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "src"))
