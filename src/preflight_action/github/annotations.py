"""GitHub workflow commands (``::error::``, ``::warning::``, ``::notice::``): built and escaped here, and nowhere else.

Escaping follows GitHub's workflow-command rules: in the message ``%``, CR and
LF are percent-encoded; in property values ``:`` and ``,`` as well. Control and
bidirectional characters show as escapes, so a line means what it reads as.
GitHub shows at most 10 error and 10 warning annotations per step (and 50 per
job): ``lines`` keeps to that, and when there are more, the last line of each
kind says how many were left out. Which findings become annotations is the
caller's (summary, gates); this room only writes them.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from preflight_action import untrusted

MAX_PER_KIND = 10
KINDS = ("error", "warning", "notice")


@dataclass(frozen=True)
class Annotation:
    """One annotation: ``kind`` is error, warning or notice."""

    kind: str
    title: str | None
    message: str


def escape_data(text: str) -> str:
    return untrusted.escape(text.replace("%", "%25").replace("\r", "%0D").replace("\n", "%0A"))


def escape_property(text: str) -> str:
    return escape_data(text).replace(":", "%3A").replace(",", "%2C")


def command(kind: str, message: str, title: str | None = None) -> str:
    """One workflow command line, e.g. ``::error title=T::message``."""
    if kind not in KINDS:
        raise ValueError(f"no workflow command {kind!r}; known: {', '.join(KINDS)}")
    props = f" title={escape_property(title)}" if title else ""
    return f"::{kind}{props}::{escape_data(message)}"


def lines(annotations: Iterable[Annotation], cap: int = MAX_PER_KIND) -> list[str]:
    """Workflow command lines, errors first, at most ``cap`` of each kind (the last one then counts the rest)."""
    found = list(annotations)
    out: list[str] = []
    for kind in KINDS:
        out += _capped(kind, [a for a in found if a.kind == kind], cap)
    return out


def _capped(kind: str, items: list[Annotation], cap: int) -> list[str]:
    if len(items) <= cap:
        return [command(kind, a.message, a.title) for a in items]
    shown = [command(kind, a.message, a.title) for a in items[: cap - 1]]
    rest = len(items) - (cap - 1)
    shown.append(command(kind, f"{rest} more {kind}s not annotated (GitHub shows {cap} per step); see the job summary", "preflight: more"))
    return shown
