"""The severity policy (policy/severity.yaml): which failure scores what, and which band that is."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from preflight_action.errors import InputError
from preflight_action.paths import data_dir
from preflight_action.vocab import BANDS, BandName

BAND_ORDER = BANDS


@dataclass(frozen=True)
class Band:
    name: BandName
    min_score: int
    action: str


@dataclass(frozen=True)
class SeverityPolicy:
    source: str
    strict_threshold: BandName
    bands: tuple[Band, ...]
    first_class: frozenset[str]
    experimental: frozenset[str]
    default_score: int
    scores: dict[str, dict[str, int]]
    compile_fallback_allowed: bool
    compile_fallback_score: int
    compile_fallback_rationale: str
    scored_by_check: frozenset[str] = frozenset()  # checks whose failure carries its own score (details.score)

    def is_experimental(self, backend: str | None) -> bool:
        """Experimental backends get ``experimental_score`` where a check has one; all others
        (first-class, and an unresolved ``auto``) get the check's full score, so a torch that
        does not even import stays critical."""
        return backend in self.experimental

    def score(self, check_id: str, backend: str | None, details: dict[str, Any] | None = None) -> int:
        """Severity score (0-100) of a failure of ``check_id`` on ``backend``.

        A check marked ``scored_by_check`` (its findings have their own bands, e.g. kernel.log's per Xid)
        scores ``details["score"]`` when it set one, else its ``score`` like any other check.
        """
        entry = self.scores.get(check_id)
        if check_id in self.scored_by_check and details and isinstance(details.get("score"), int):
            return max(0, min(100, int(details["score"])))
        if entry is None:
            return self.default_score
        if check_id == "compile.smoke" and self.compile_fallback_allowed:
            return self.compile_fallback_score
        if self.is_experimental(backend) and "experimental_score" in entry:
            return entry["experimental_score"]
        return entry["score"]

    def band(self, score: int) -> Band:
        for band in sorted(self.bands, key=lambda b: b.min_score, reverse=True):
            if score >= band.min_score:
                return band
        return self.bands[-1]

    def band_named(self, name: str) -> Band:
        for band in self.bands:
            if band.name == name:
                return band
        raise KeyError(name)

    def blocks(self, score: int, threshold: str | None = None) -> bool:
        """Whether a failure with ``score`` fails a ``--strict`` run."""
        return score >= self.band_named(threshold or self.strict_threshold).min_score


def default_path() -> Path:
    return data_dir("policy") / "severity.yaml"


def from_document(document: dict[str, Any], source: str) -> SeverityPolicy:
    bands = tuple(Band(b["name"], b["min_score"], b["action"]) for b in document["bands"])
    names = [b.name for b in bands]
    missing = [name for name in BAND_ORDER if name not in names]
    if missing or len(set(names)) != len(names):
        raise InputError(f"{source}: /bands: each of {', '.join(BAND_ORDER)} must appear exactly once")
    ordered = sorted(bands, key=lambda b: BAND_ORDER.index(b.name))
    mins = [b.min_score for b in ordered]
    if mins != sorted(mins, reverse=True) or len(set(mins)) != len(mins):
        raise InputError(f"{source}: /bands: min_score must fall strictly from critical to low, got {mins}")
    if ordered[-1].min_score != 0:
        raise InputError(f"{source}: /bands: the low band must start at 0 so every score has a band")
    overlap = set(document["backends"]["first_class"]) & set(document["backends"]["experimental"])
    if overlap:
        raise InputError(f"{source}: /backends: {', '.join(sorted(overlap))} cannot be both first_class and experimental")
    fallback = document["compile_fallback"]
    return SeverityPolicy(
        source=source,
        strict_threshold=document["strict_threshold"],
        bands=tuple(ordered),
        first_class=frozenset(document["backends"]["first_class"]),
        experimental=frozenset(document["backends"]["experimental"]),
        default_score=document["default_score"],
        scores={k: {n: v for n, v in entry.items() if n != "scored_by_check"} for k, entry in document["checks"].items()},
        scored_by_check=frozenset(k for k, entry in document["checks"].items() if entry.get("scored_by_check")),
        compile_fallback_allowed=fallback["allowed"],
        compile_fallback_score=fallback["score"],
        compile_fallback_rationale=fallback["rationale"],
    )


def load(path: str | Path | None = None) -> SeverityPolicy:
    """Load and validate a severity policy: ``path``, else $PREFLIGHT_SEVERITY_POLICY, else the shipped one."""
    from preflight_action import policy_files

    return policy_files.load(policy_files.SEVERITY, from_document, path)
