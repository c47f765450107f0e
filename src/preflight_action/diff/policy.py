"""The diff policy (policy/diff.yaml): the performance noise, how many changed-since lines a summary shows."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from preflight_action import policy_files

DIFF = policy_files.PolicySource("diff_policy", "diff.yaml", "PREFLIGHT_DIFF_POLICY")


@dataclass(frozen=True)
class DiffPolicy:
    noise_percent: float
    summary_lines: int
    source: str = ""


def from_document(document: dict[str, Any], source: str) -> DiffPolicy:
    return DiffPolicy(float(document["performance"]["noise_percent"]), int(document["summary"]["lines"]), source)


def load(path: str | Path | None = None) -> DiffPolicy:
    """``path``, else $PREFLIGHT_DIFF_POLICY, else the shipped policy/diff.yaml (validated, cached)."""
    return policy_files.load(DIFF, from_document, path)
