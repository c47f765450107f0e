"""The worker's protocol stream: a private duplicate of fd 1, with fd 1 itself pointed at stderr.

Anything torch, a model or a C library prints then lands in stderr and can
never corrupt the one-JSON-object-per-line stream the orchestrator reads.
"""

from __future__ import annotations

import os
import sys
from typing import TextIO


def private_stdout() -> TextIO:
    """Take fd 1 for the protocol and send every later print to stderr."""
    sys.stdout.flush()
    private_fd = os.dup(1)
    os.dup2(2, 1)
    sys.stdout = sys.stderr
    return os.fdopen(private_fd, "w", encoding="utf-8", newline="\n")
