"""GitHub's size limits on what it renders, and the last-resort cut that closes with a note pointing to the artifact.

A PR comment over 65,536 characters is refused outright; a job summary over
1 MiB fails the step. Renderers fit their text by dropping detail first
(``summary.markdown``); ``cut`` is for what still does not fit.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Limit:
    """A destination's size limit; ``unit`` is ``utf16`` (GitHub counts comment characters so) or ``bytes``."""

    name: str
    size: int
    unit: str

    def measure(self, text: str) -> int:
        if self.unit == "bytes":
            return len(text.encode("utf-8"))
        return len(text.encode("utf-16-le")) // 2


COMMENT = Limit("PR comment", 65_536, "utf16")
STEP_SUMMARY = Limit("job summary", 1_048_576, "bytes")


def note(limit: Limit, where: str) -> str:
    """The closing note of a cut text: which limit, and where the whole of it is."""
    return f"\n\n> [!NOTE]\n> Cut to fit GitHub's {limit.name} limit. {where}\n"


def cut(text: str, limit: Limit, room: int, where: str) -> str:
    """``text`` if it fits ``room``; else its head, cut at a line end, closed with the note."""
    if limit.measure(text) <= room:
        return text
    closing = note(limit, where)
    keep = max(0, room - limit.measure(closing) - 16)
    head = text
    while limit.measure(head) > keep:
        # each character is at least one unit in both measures, so this always shrinks enough
        head = head[: len(head) - (limit.measure(head) - keep)]
    return head.rsplit("\n", 1)[0] + closing
