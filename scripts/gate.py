#!/usr/bin/env python3
"""The preflight as a Slurm / node-problem-detector / runner-hook gate: see --help."""

from __future__ import annotations

import _bootstrap

_bootstrap.ensure_package()

from preflight_entry import gate as main  # noqa: E402  (the tool's own failure is one line and exit 3)

if __name__ == "__main__":
    raise SystemExit(main())
