"""What the checks run so far have established: the one record host checks read."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from preflight_action.preflight.options import Options
from preflight_action.preflight.report import CheckResult
from preflight_action.preflight.severity import SeverityPolicy


@dataclass
class Context:
    """What the checks run so far have established; host checks read it."""

    options: Options
    policy: SeverityPolicy
    results: dict[str, CheckResult] = field(default_factory=dict)
    device: str | None = None
    backend: str | None = None

    def passed(self, check_id: str) -> bool:
        result = self.results.get(check_id)
        return result is not None and result.status == "pass"

    def details(self, check_id: str) -> dict[str, Any]:
        result = self.results.get(check_id)
        return dict(result.details) if result else {}
