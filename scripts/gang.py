#!/usr/bin/env python3
"""preflight-gang: the gang all-reduce across nodes, once per node (torchrun flags, srun, an Indexed Job): see --help."""

from __future__ import annotations

import _bootstrap

_bootstrap.ensure_package()

from preflight_entry import gang as main  # noqa: E402  (the tool's own failure is one line and exit 3)

if __name__ == "__main__":
    raise SystemExit(main())
