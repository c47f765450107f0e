"""Let ``python scripts/<name>.py`` work from a checkout without installing the package."""

from __future__ import annotations

import os
import sys


def ensure_package() -> None:
    try:
        import preflight_action  # noqa: F401
    except ImportError:  # os.path, not pathlib: runtime_preflight starts its worker before anything heavy loads
        sys.path.insert(1, os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "src"))
