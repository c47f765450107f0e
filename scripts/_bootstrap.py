"""Let ``python scripts/<name>.py`` work from a checkout without installing the package."""

from __future__ import annotations

import sys
from pathlib import Path


def ensure_package() -> None:
    try:
        import preflight_action  # noqa: F401
    except ImportError:
        sys.path.insert(1, str(Path(__file__).resolve().parent.parent / "src"))
