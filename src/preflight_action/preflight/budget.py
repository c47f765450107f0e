"""The run budget (--budget): a hard bound on the whole preflight, shared out check by check.

Each check is guaranteed ``share x budget`` seconds. When a check starts it may
run until the deadline minus what the checks after it are guaranteed, and never
longer than --check-timeout; whatever it leaves unused passes on. The Session
enforces the allotment with the same kill-on-timeout that isolates checks, so a
hung device costs one allotment, never the run.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass

from preflight_action.preflight.report import BudgetRecord

# A check offered less than this is not started: it could not even send its request and read
# the answer, and starting a worker just to kill it wastes what is left.
MIN_START_S = 0.25
# A check killed with less than this left of a budget-set allotment was stopped by the budget.
CUT_SLACK_S = 0.05
# A timed probe check (the stress checks) aims to answer this long before its kill, or this fraction.
PROBE_MARGIN_S = 0.5
PROBE_MARGIN_FRACTION = 0.1


@dataclass(frozen=True)
class Allotment:
    """How long one check may run, and whether the budget (not --check-timeout) set that."""

    limit_s: float
    by_budget: bool
    share_s: float | None  # the check's guaranteed share (None: no budget)
    started: float  # monotonic clock when the allotment was made

    @property
    def deadline(self) -> float:
        return self.started + self.limit_s

    def left(self, now: float | None = None) -> float:
        return max(self.deadline - (time.monotonic() if now is None else now), 0.0)

    def wait_s(self) -> float:
        """How long to wait for an answer now: --check-timeout as always, or what the budget has left of this allotment."""
        return round(self.left(), 2) if self.by_budget else self.limit_s

    def probe_limit(self) -> float:
        """The seconds a timed probe check is told it has: its allotment less a margin to answer in."""
        left = self.left()
        return round(max(left - max(PROBE_MARGIN_S, PROBE_MARGIN_FRACTION * left), 0.1), 3)


class Budget:
    """``total_s`` seconds from ``started`` (monotonic) for the checks of one run."""

    def __init__(
        self,
        total_s: float | None,
        check_timeout_s: float,
        share: Callable[[str], float],
        started: float | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.total_s = total_s
        self.check_timeout_s = check_timeout_s
        self._share = share
        self._clock = clock
        self.started = clock() if started is None else started
        self.cut_short: list[str] = []  # checks the budget stopped or never started

    @property
    def deadline(self) -> float | None:
        return None if self.total_s is None else self.started + self.total_s

    def share_s(self, check_id: str) -> float | None:
        return None if self.total_s is None else self._share(check_id) * self.total_s

    def left(self) -> float | None:
        deadline = self.deadline
        return None if deadline is None else max(deadline - self._clock(), 0.0)

    def allot(self, check_id: str, later: list[str]) -> Allotment | None:
        """The allotment for ``check_id`` with ``later`` checks still to run; None when the budget ran out."""
        now = self._clock()
        if self.total_s is None:
            return Allotment(self.check_timeout_s, False, None, now)
        reserved = sum(self._share(c) for c in later) * self.total_s
        available = (self.started + self.total_s) - now - reserved
        if available < MIN_START_S:
            return None
        limit = min(self.check_timeout_s, available)
        return Allotment(limit, limit < self.check_timeout_s, self.share_s(check_id), now)

    def ran_out_reason(self, check_id: str) -> str:
        """The skip reason of a check the budget left no time for."""
        self.cut_short.append(check_id)
        left = self.left() or 0.0
        return f"the --budget of {self.total_s:g} s ran out before this check could start ({left:.1f} s left, kept for the checks after it)"

    def cut_reason(
        self, check_id: str, allotment: Allotment, ran_s: float, used_s: float, stopped_early: bool = False, before: str = ""
    ) -> str:
        """The skip reason of a check the budget stopped, its figures adding up: ``used_s`` of the ``allotment`` had
        passed, ``ran_s`` of it running the check (``before`` says what took the rest); ``stopped_early``: the check
        stopped itself a margin before the end, to stop what it had started (a host check), else its worker was killed."""
        self.cut_short.append(check_id)
        share = f"guaranteed share {allotment.share_s or 0.0:.1f} s"
        if stopped_early:
            left = max(allotment.limit_s - used_s, 0.0)
            said = f"stopped after {ran_s:.1f} s, {left:.1f} s before the end of its {allotment.limit_s:.1f} s allotment ({share}), to stop what it had started"
        else:
            said = f"its {allotment.limit_s:.1f} s allotment ({share}) ran out after {ran_s:.1f} s of running; the worker was killed"
        gone = used_s - ran_s
        if gone >= 0.05:
            said += f"; {gone:.1f} s of the allotment went before the check started" + (f" ({before})" if before else "")
        return f"cut short by the --budget of {self.total_s:g} s: {said}"

    def record(self) -> BudgetRecord:
        """The report's account of the budget (null figures when the run had none)."""
        spent = self._clock() - self.started
        return BudgetRecord(self.total_s, round(max(spent, 0.0), 3), list(self.cut_short))
