"""The goal line every ratio benchmark ends with, and its exit code (0 met, 1 missed)."""

from __future__ import annotations


def ratio_verdict(ratio: float, goal: float, what: str = "wall ratio (median of pairs)") -> int:
    verdict = "met" if ratio <= goal else "MISSED"
    print(f"{what}: {ratio:.3f}x (goal <= {goal}x): {verdict}")
    return 0 if ratio <= goal else 1


def failures_verdict(failures: list[str]) -> int:
    """One line per missed goal, or "goals met"; the exit code (0 met, 1 missed)."""
    for failure in failures:
        print(f"GOAL MISSED: {failure}")
    if not failures:
        print("goals met")
    return 1 if failures else 0
