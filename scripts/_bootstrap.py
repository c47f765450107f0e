"""Let ``python scripts/<name>.py`` work from a checkout without installing the package."""

from __future__ import annotations

import os
import sys


def ensure_package() -> None:
    from importlib.util import find_spec  # finds without importing: a broken package fails inside the entry's guard

    if find_spec("preflight_action") is None or find_spec("preflight_entry") is None:
        # os.path, not pathlib: runtime_preflight starts its worker before anything heavy loads
        sys.path.insert(1, os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "src"))
