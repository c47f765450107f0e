#!/usr/bin/env python3
"""JUnit XML and a node_exporter textfile from an existing preflight report: see --help."""

from __future__ import annotations

import _bootstrap

_bootstrap.ensure_package()

from preflight_entry import export as main  # noqa: E402  (the tool's own failure is one line and exit 3)

if __name__ == "__main__":
    raise SystemExit(main())
