#!/usr/bin/env python3
"""Merge preflight reports into a Markdown + JSON summary (job summary, sticky PR comment): see --help."""

from __future__ import annotations

import _bootstrap

_bootstrap.ensure_package()

from preflight_action.summary.cli import main  # noqa: E402

if __name__ == "__main__":
    raise SystemExit(main())
