#!/usr/bin/env python3
"""Smoke-run small real models with a memory guard: see --help."""

from __future__ import annotations

import _bootstrap

_bootstrap.ensure_package()

from preflight_action.smoke.cli import main  # noqa: E402

if __name__ == "__main__":
    raise SystemExit(main())
