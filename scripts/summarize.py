#!/usr/bin/env python3
"""Merge preflight reports into a Markdown + JSON summary (job summary, sticky PR comment): see --help."""

from __future__ import annotations

import _bootstrap

_bootstrap.ensure_package()

from preflight_entry import summarize as main  # noqa: E402  (the tool's own failure is one line and exit 3)

if __name__ == "__main__":
    raise SystemExit(main())
