"""The job summary (``$GITHUB_STEP_SUMMARY``): one writer that keeps every section under GitHub's 1 MiB.

GitHub fails the step when the file passes 1 MiB, and every step of a job
appends to the same file, so a section fits in what is left (and in its own
``share``, when it asks for one); what does not fit is cut with a note that
points to the artifact holding the whole of it.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path

from preflight_action.github.limits import STEP_SUMMARY, cut

MIN_ROOM = 1024  # below this a section would be a note and little else: say so instead of writing it
ENV = "GITHUB_STEP_SUMMARY"


def target(environ: Mapping[str, str] | None = None) -> str | None:
    """The job summary file GitHub Actions names, or None outside Actions."""
    env = os.environ if environ is None else environ
    return env.get(ENV) or None


def room(path: str | Path) -> int:
    """Bytes a new section may take: 1 MiB less what earlier steps wrote and the separating newline."""
    file = Path(path)
    used = file.stat().st_size if file.is_file() else 0
    return STEP_SUMMARY.size - used - 2


def append(path: str | Path, text: str, where: str, share: int | None = None) -> str | None:
    """Append ``text`` as a section, cut to fit (``where`` says where the whole is); why not, when there is no room."""
    file = Path(path)
    used = file.stat().st_size if file.is_file() else 0
    left = room(file)
    if left < MIN_ROOM:
        return f"job summary already holds {used} bytes; the section was not added (GitHub's 1 MiB limit)"
    fitted = cut(text, STEP_SUMMARY, min(left, share) if share else left, where)
    with file.open("a", encoding="utf-8", newline="\n") as handle:
        handle.write(("\n" if used else "") + fitted)
    return None
