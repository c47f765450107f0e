"""The one record a probe check returns."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any


@dataclass
class Outcome:
    status: str
    details: dict[str, Any] = field(default_factory=dict)
    error: str | None = None
    skip_reason: str | None = None
    remedy: str | None = None  # the concrete next step for the diagnosed cause (a command where one exists)

    @classmethod
    def ok(cls, **details: Any) -> Outcome:
        return cls("pass", details)

    @classmethod
    def fail(cls, error: str, remedy: str | None = None, **details: Any) -> Outcome:
        return cls("fail", details, error=error, remedy=remedy)

    @classmethod
    def skip(cls, reason: str, **details: Any) -> Outcome:
        return cls("skip", details, skip_reason=reason)

    def to_record(self, check_id: str) -> dict[str, Any]:
        return {
            "id": check_id,
            "status": self.status,
            "details": self.details,
            "error": self.error,
            "skip_reason": self.skip_reason,
            "remedy": self.remedy,
        }
