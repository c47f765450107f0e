"""Preflight levels (policy/levels.yaml): which checks run at quick / standard / deep, and their budgets.

A level is data: its check ids, its default budget and each check's guaranteed
share of a budget. ``plan`` turns a level and the options into the ordered
specs a Session runs (``checks.SPECS`` order, so every check's needs run first).
"""

from __future__ import annotations

import difflib
import textwrap
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

from preflight_action import policy_files
from preflight_action.errors import InputError

if TYPE_CHECKING:  # levels is read by the checks' params too: no import of checks at run time
    from preflight_action.preflight.checks import CheckSpec

from preflight_action.vocab import DEFAULT_LEVEL, LEVELS

__all__ = ["DEFAULT_LEVEL", "LEVELS", "Level", "LevelsPolicy", "budget_for", "help_text", "load", "plan"]

MAX_SHARE_SUM = 0.9  # the rest of a budget absorbs start-up, worker restarts and the report
HANG_AFTER_S = 15.0  # a policy without hang_after_s (written before 1.2 of the report): the shipped default


@dataclass(frozen=True)
class Level:
    name: str
    description: str
    budget_s: float | None
    checks: tuple[str, ...]


@dataclass(frozen=True)
class LevelsPolicy:
    source: str
    levels: dict[str, Level]
    default_share: float
    shares: dict[str, float]
    stress: dict[str, Any]
    default_hang_after_s: float = HANG_AFTER_S
    hang_after: dict[str, float] = field(default_factory=dict)

    def hang_after_s(self, check_id: str) -> float:
        """How long a check may run before a budget cut fails it as hung (policy/levels.yaml ``hang_after_s``)."""
        return self.hang_after.get(check_id, self.default_hang_after_s)

    def level(self, name: str) -> Level:
        return self.levels[name]

    def share(self, check_id: str) -> float:
        """The fraction of a budget ``check_id`` is guaranteed."""
        return self.shares.get(check_id, self.default_share)


def from_document(document: dict[str, Any], source: str) -> LevelsPolicy:
    levels = {
        name: Level(name, entry["description"], entry["budget_s"], tuple(entry["checks"])) for name, entry in document["levels"].items()
    }
    shares = document["shares"]
    policy = LevelsPolicy(
        source=source,
        levels=levels,
        default_share=float(shares["default"]),
        shares={k: float(v) for k, v in shares["checks"].items()},
        stress=document["stress"],
        default_hang_after_s=float(document.get("hang_after_s", {}).get("default", HANG_AFTER_S)),
        hang_after={k: float(v) for k, v in document.get("hang_after_s", {}).get("checks", {}).items()},
    )
    for level in levels.values():
        total = sum(policy.share(check_id) for check_id in level.checks)
        if total > MAX_SHARE_SUM + 1e-9:
            raise InputError(
                f"{source}: /shares: the {level.name} level's checks are guaranteed {total:.2f} of a budget, over {MAX_SHARE_SUM}"
            )
    return policy


def load(path: str | Path | None = None) -> LevelsPolicy:
    """The levels policy: ``path``, else $PREFLIGHT_LEVELS_POLICY, else the shipped policy/levels.yaml."""
    return policy_files.load(policy_files.LEVELS, from_document, path)


def plan(policy: LevelsPolicy, level_name: str, specs: list[CheckSpec]) -> list[CheckSpec]:
    """The specs ``level_name`` runs, in ``specs`` order.

    A check in the level runs whatever its flag says (deep runs compile.smoke);
    a flag-gated check outside it runs when its flag is given and is otherwise
    reported as not requested, as it always was.
    """
    known = {s.id for s in specs}
    level = policy.level(level_name)
    for index, check_id in enumerate(level.checks):
        if check_id not in known:
            close = difflib.get_close_matches(check_id, sorted(known), n=1)
            hint = f" (did you mean {close[0]!r}?)" if close else ""
            raise InputError(f"{policy.source}: /levels/{level_name}/checks/{index}: no check named {check_id!r}{hint}")
    chosen = set(level.checks)
    out: list[CheckSpec] = []
    for spec in specs:
        if spec.id in chosen:
            # A need the level leaves out on purpose is not waited for (watch reads NVML without device.resolve,
            # which allocates on the GPU); the check itself copes with its absence.
            needs = tuple(need for need in spec.needs if need in chosen)
            out.append(replace(spec, enabled_by=None, needs=needs) if spec.enabled_by or needs != spec.needs else spec)
        elif spec.enabled_by is not None:
            out.append(spec)
    return out


def budget_for(policy: LevelsPolicy, level_name: str, explicit: float | None) -> float | None:
    """The run's budget in seconds: ``--budget``, else the level's default (None: no budget)."""
    return explicit if explicit is not None else policy.level(level_name).budget_s


def help_text(policy: LevelsPolicy) -> str:
    """One line per level for --help, counted as a run lists its checks: the level's own, plus the checks a flag adds
    (a run without the flag lists them as "not requested")."""
    from preflight_action.preflight import checks  # the full list of checks, read only when help is asked for

    lines = ["levels (policy/levels.yaml; --budget replaces the default budget):"]
    for name in LEVELS:
        level = policy.level(name)
        planned = plan(policy, name, checks.SPECS)
        flagged = [f"{spec.flag}" for spec in planned if spec.enabled_by]
        budget = f"default budget {level.budget_s:g} s" if level.budget_s else "no default budget"
        extra = f" + {len(flagged)} by flag ({', '.join(flagged)})" if flagged else ""
        said = f"{level.description}; {budget}; {len(planned)} checks listed, {len(level.checks)} always{extra}"
        lines += textwrap.wrap(said, 79, initial_indent=f"  {name:<9} ", subsequent_indent=" " * 12, break_on_hyphens=False)
    return "\n".join(lines) + "\n"
