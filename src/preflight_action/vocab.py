"""The fixed sets of values, in one home: argparse choices, action inputs, schemas and renderers read these.

Standard library only (the early start-up path and the action's input parsing import it). Each set is a
``Literal`` for the type checker and a tuple derived from it for the code; ``tests/core/test_vocab.py``
proves the JSON Schemas' enums equal these tuples.
"""

from __future__ import annotations

from typing import Literal, get_args

# What --device accepts; "auto" picks the first available of cuda/rocm > xpu > mps > cpu.
Device = Literal["auto", "cpu", "cuda", "mps", "xpu", "rocm"]
DEVICES: tuple[Device, ...] = get_args(Device)
DEFAULT_DEVICE: Device = "auto"

# What --device resolves to (a report's backend).
Backend = Literal["cpu", "cuda", "rocm", "mps", "xpu"]
BACKENDS: tuple[Backend, ...] = get_args(Backend)

# How deep a run goes (policy/levels.yaml lists each level's checks and budget). watch is read-only (no CUDA
# context, no allocation): what a node-problem-detector DaemonSet runs beside training pods.
Level = Literal["watch", "quick", "standard", "deep"]
LEVELS: tuple[Level, ...] = get_args(Level)
DEFAULT_LEVEL: Level = "standard"  # a run without --level: the preflight as it always was
GATE_LEVEL: Level = "quick"  # a gate without --level: seconds, before every job

# One check's outcome. A skip always says why.
CheckStatus = Literal["pass", "fail", "skip"]
CHECK_STATUSES: tuple[CheckStatus, ...] = get_args(CheckStatus)

# Where a check ran: in the worker under the diagnosed interpreter, or in the orchestrator.
CheckSource = Literal["probe", "host"]
CHECK_SOURCES: tuple[CheckSource, ...] = get_args(CheckSource)

# Why a check the level requires never reached its end (a check with one of these is "not judged").
Unfinished = Literal["interrupted", "budget_cut", "budget_exhausted", "needs_unfinished"]
UNFINISHED: tuple[Unfinished, ...] = get_args(Unfinished)

# A whole report: pass, fail (something failed), or incomplete (nothing failed, but not every
# check the level requires ran to its end: interrupted, cut by the budget, never reached).
ReportStatus = Literal["pass", "fail", "incomplete"]
REPORT_STATUSES: tuple[ReportStatus, ...] = get_args(ReportStatus)

# The verdict every reader shows: healthy (every required check ran to its end and nothing blocking
# failed), blocking (a finding at or above the threshold), not judged (a required check never finished,
# the run was simulated, or the tool itself failed). No reader turns "not_judged" into a pass.
Verdict = Literal["healthy", "blocking", "not_judged"]
VERDICTS: tuple[Verdict, ...] = get_args(Verdict)
VERDICT_WORDS: dict[Verdict, str] = {"healthy": "healthy", "blocking": "blocking", "not_judged": "not judged"}

# Severity bands, worst first (policy/severity.yaml maps scores to them).
BandName = Literal["critical", "high", "medium", "low"]
BANDS: tuple[BandName, ...] = get_args(BandName)

# preflight-summarize --fail-on (and the action's fail-on input): failure (a report failed), regression (a check
# fails that did not in the baseline), perf-regression (a figure dropped below its node's own history), never.
FailOn = Literal["failure", "regression", "perf-regression", "never"]
FAIL_ON: tuple[FailOn, ...] = get_args(FailOn)

# The engines a gate answers (preflight-gate --gate).
GateName = Literal["slurm", "npd", "github-runner"]
GATES: tuple[GateName, ...] = get_args(GateName)

# The exit codes every command shares. 1 is kept for a verdict ("strict run blocked", "gate blocking");
# the tool's own failure (a missing dependency, an internal error) is never 1.
EXIT_OK = 0
EXIT_BLOCKING = 1
EXIT_USAGE = 2
EXIT_TOOL_BROKEN = 3
# preflight-gate --gate slurm only: the verdict is blocking, but the drain circuit breaker is open (too many nodes
# already drained by preflight), so the node was NOT drained; the prolog lets the job run and the finding is logged.
EXIT_BREAKER_OPEN = 4
EXIT_INTERRUPTED = 130


def choice_error(flag: str, value: object, choices: tuple[str, ...]) -> str:
    """The one line for a value outside its set, naming the flag and every choice."""
    return f"{flag} {value!r} is not one of {', '.join(choices)}"
