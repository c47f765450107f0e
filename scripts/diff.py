#!/usr/bin/env python3
"""What changed between two preflight reports (checks, runtime, packages, environment, capabilities, performance): see --help."""

from __future__ import annotations

import _bootstrap

_bootstrap.ensure_package()

from preflight_entry import diff as main  # noqa: E402  (the tool's own failure is one line and exit 3)

if __name__ == "__main__":
    raise SystemExit(main())
