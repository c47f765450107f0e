"""A lane (node, backend) that fails anew or regressed, with what changed since its last good run: the type
``changes`` builds and ``trends`` carries on the series it annotates."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from preflight_action.diff.engine import ChangedSince

WHAT = "last good run on this node"
NOT_RUN = "not run"  # a check absent from the last good run (a newer check, another level)


@dataclass(frozen=True)
class LaneChange:
    """A lane that fails anew or regressed, and what changed in its inventory since its last good run."""

    node_id: str
    backend: str
    failing: tuple[str, ...]  # checks failing now that did not fail in the last good run
    regressed: tuple[str, ...]  # "check metric" of each regressed figure
    since: ChangedSince
    since_run_url: str | None
    was: tuple[str, ...] = ()  # each failing check's status in the last good run (pass | skip | not run); () without one

    @property
    def failing_words(self) -> tuple[str, ...]:
        """Each new failure and what it was in the last good run: "dtype.support skip -> fail"."""
        if len(self.was) != len(self.failing):
            return self.failing
        return tuple(f"{check} {before} -> fail" for check, before in zip(self.failing, self.was, strict=True))

    @property
    def lines(self) -> tuple[str, ...]:
        return self.since.lines

    @property
    def words(self) -> str:
        """One line: "changed since the last good run on this node: torch 2.14.0 -> 2.14.1, NCCL_ALGO set"."""
        if self.since.lines:
            return f"changed since the {WHAT}: {', '.join(self.since.lines)}"
        return self.since.note or ""

    def to_dict(self) -> dict[str, Any]:
        found = self.since.to_dict()
        return {
            "node_id": self.node_id,
            "backend": self.backend,
            "failing": list(self.failing),
            "regressed": list(self.regressed),
            "since": found["since"],
            "since_run_url": self.since_run_url,
            "changes": found["changes"],
            "lines": found["lines"],
            "note": found["note"],
        }
