"""``run_preflight``: the one function that runs a preflight and returns its complete, typed ``Report``.

The CLI, every gate, nox and the action call it (through ``run``, which takes the typed ``Options``);
writing, rendering, exporting and gating are steps after it, never inside it. A bad value raises
``UsageError`` (exit code 2 in a CLI); it never exits the process.
"""

from __future__ import annotations

import os
from typing import TYPE_CHECKING

from preflight_action.preflight.options import DEFAULT_CHECK_TIMEOUT_S, Options
from preflight_action.vocab import DEFAULT_DEVICE, DEFAULT_LEVEL, BandName, Device, Level

if TYPE_CHECKING:  # the session (and what it imports) loads after the worker starts
    from preflight_action.preflight.report import Report
    from preflight_action.preflight.session import Progress, Starting
    from preflight_action.process.interrupts import Interrupted


def run(
    options: Options,
    *,
    progress: Progress | None = None,
    starting: Starting | None = None,
    interrupts: Interrupted | None = None,
) -> Report:
    """Run the checks ``options`` ask for and return the report: redacted, strict JSON values, every check accounted for.

    ``interrupts``: the caller's SIGINT/SIGTERM guard; a signal ends the run early with the unfinished checks marked
    (the report's verdict is then "not_judged"). The worker ``early.launch`` started is taken over when it fits.
    """
    # The worker (and its torch import) starts first; the session's imports then overlap with it.
    from preflight_action.preflight import early

    options.validated()
    started = early.start(options.python)
    from preflight_action.preflight import severity
    from preflight_action.preflight.report import Report
    from preflight_action.preflight.session import Session, finalize

    try:
        session = Session(options, interrupts, started)
    except BaseException:
        if started is not None:  # refused before it took the worker over (closing twice is harmless)
            started.close()
        raise
    try:
        policy = severity.load(options.policy_path)
        report = session.run(policy, progress, starting)
        return Report.from_dict(finalize(report.to_dict()))
    finally:
        from preflight_action.process import reaper

        reaper.later(session.close)  # killed when the last check ended; reaped while the caller writes, before exit


def run_preflight(
    *,
    device: Device = DEFAULT_DEVICE,
    level: Level = DEFAULT_LEVEL,
    check_torchvision: bool = False,
    check_compile: bool = False,
    check_distributed: bool = False,
    expect_gpus: int | None = None,
    budget: float | None = None,
    strict: bool = False,
    strict_threshold: BandName | None = None,
    python: str | os.PathLike[str] | None = None,
    check_timeout: float = DEFAULT_CHECK_TIMEOUT_S,
    policy: str | os.PathLike[str] | None = None,
    levels_policy: str | os.PathLike[str] | None = None,
    handle_signals: bool = True,
    progress: Progress | None = None,
) -> Report:
    """Preflight a runtime from Python, keyword arguments named like the CLI's flags; returns the typed ``Report``.

    ``report.ok`` is True only when the verdict is healthy. With ``handle_signals`` (on the main thread), Ctrl-C or
    SIGTERM ends the run early and returns the partial report instead of raising.
    """
    options = Options(
        device=device,
        level=level,
        check_torchvision=check_torchvision,
        check_compile=check_compile,
        check_distributed=check_distributed,
        expect_gpus=expect_gpus,
        budget_s=budget,
        strict=strict,
        strict_threshold=strict_threshold,
        python=os.fspath(python) if python is not None else None,
        check_timeout=check_timeout,
        policy_path=os.fspath(policy) if policy is not None else None,
        levels_path=os.fspath(levels_policy) if levels_policy is not None else None,
    ).validated()
    if not handle_signals:
        return run(options, progress=progress)
    from preflight_action.process.interrupts import Interrupted

    with Interrupted() as guard:
        return run(options, progress=progress, interrupts=guard)
