#!/usr/bin/env python3
"""Check a PyTorch runtime and write a JSON report: see --help."""

from __future__ import annotations

import _bootstrap

_bootstrap.ensure_package()

from preflight_action.preflight.entry import main  # noqa: E402  (starts the worker, then loads the CLI)

if __name__ == "__main__":
    raise SystemExit(main())
