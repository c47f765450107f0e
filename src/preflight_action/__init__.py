"""preflight-action: tell a PyTorch team whether each machine can really run their stack.

``from preflight_action import run_preflight`` is the Python API (see README, "Python API"). The name loads
on first use: the entry points import this package before the worker starts, so it stays empty of imports.
"""

from __future__ import annotations

TYPE_CHECKING = False  # typing.TYPE_CHECKING without importing typing (9 ms on the start-up path)
__version__ = "0.1.0"
__all__ = ["Report", "__version__", "run_preflight"]

if TYPE_CHECKING:
    from typing import Any

    from preflight_action.preflight.report import Report
    from preflight_action.preflight.run import run_preflight


def __getattr__(name: str) -> Any:
    if name == "run_preflight":
        from preflight_action.preflight.run import run_preflight

        return run_preflight
    if name == "Report":
        from preflight_action.preflight.report import Report

        return Report
    raise AttributeError(f"module 'preflight_action' has no attribute {name!r}")
