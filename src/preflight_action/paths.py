"""Where the shipped data (schemas/, policy/, templates) lives, installed or in a checkout."""

from __future__ import annotations

from pathlib import Path

PACKAGE_DIR = Path(__file__).resolve().parent
# In a wheel, schemas/, policy/ and flows/ are force-included under preflight_action/_data;
# in a checkout (or an editable install) they sit at the repository root.
_DATA_DIRS = (PACKAGE_DIR / "_data", PACKAGE_DIR.parent.parent)


def data_dir(name: str) -> Path:
    """The directory ``schemas``, ``policy`` or ``flows`` shipped with this package."""
    for base in _DATA_DIRS:
        candidate = base / name
        if candidate.is_dir():
            return candidate
    raise FileNotFoundError(f"preflight-action data directory {name!r} not found under {[str(d) for d in _DATA_DIRS]}")


def templates_dir() -> Path:
    return PACKAGE_DIR / "templates"


def repo_root() -> Path | None:
    """The checkout root when running from one (it holds pyproject.toml)."""
    root = PACKAGE_DIR.parent.parent
    return root if (root / "pyproject.toml").is_file() else None
