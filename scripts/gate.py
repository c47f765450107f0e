#!/usr/bin/env python3
"""The preflight as a Slurm / node-problem-detector / runner-hook gate: see --help."""

from __future__ import annotations

import _bootstrap

_bootstrap.ensure_package()

from preflight_action.gates.cli import main  # noqa: E402

if __name__ == "__main__":
    raise SystemExit(main())
