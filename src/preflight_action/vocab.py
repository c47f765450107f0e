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
# tool_error: the tool could not run the check (its own policy or an input it was given is broken), which is
# never a finding against the machine. gang_incomplete: the gang all-reduce could not finish because of another
# member (one never joined, stopped answering or got wrong results): not judged for the members who came.
Unfinished = Literal["interrupted", "budget_cut", "budget_exhausted", "needs_unfinished", "tool_error", "gang_incomplete"]
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

# Why a finding happened, as far as its evidence goes (a check's details.diagnosis.cause; the probe's
# preflight_probe/evidence.py spells the same set). "not_identified": the evidence names no cause, and the
# finding gives the next diagnostic step instead of a guess (never a default reinstall).
Cause = Literal[
    "install_damaged",
    "install_unverifiable",
    "install_conflict",
    "dependency_missing",
    "library_elsewhere",
    "resource_limit",
    "container_limit",
    "thread_oversubscription",
    "code_outside_torch",
    "cpu_instructions",
    "toolchain",
    "interpreter_environment",
    "not_identified",
]
CAUSES: tuple[Cause, ...] = get_args(Cause)

# preflight-summarize --fail-on (and the action's fail-on input): failure (a report failed or was not judged),
# regression (a check fails that did not in the baseline), perf-regression (a figure dropped below its node's
# own history), outlier (a node slower than its peers, policy/peers.yaml), never.
FailOn = Literal["failure", "regression", "perf-regression", "outlier", "never"]
FAIL_ON: tuple[FailOn, ...] = get_args(FailOn)

# What a kernel-log finding (check kernel.log, policy/kernel_log.yaml) asks of an operator. The first four are
# required in a policy file; monitor (nothing to drain now, watch whether it repeats) came later and is optional,
# so a policy written before it still loads.
KernelAction = Literal["application_or_driver", "reset_gpu", "reboot_node", "hardware_service", "monitor"]
KERNEL_ACTIONS: tuple[KernelAction, ...] = get_args(KernelAction)
KERNEL_ACTIONS_REQUIRED: tuple[KernelAction, ...] = KERNEL_ACTIONS[:4]

# The engines a gate answers (preflight-gate --gate).
GateName = Literal["slurm", "npd", "github-runner"]
GATES: tuple[GateName, ...] = get_args(GateName)

# Where an inventoried distribution came from (the sys.path entry that holds it, or conda-meta/).
InventorySource = Literal["site-packages", "user-site", "pth", "pythonpath", "sys-path", "conda-meta"]
INVENTORY_SOURCES: tuple[InventorySource, ...] = get_args(InventorySource)
# ... and an editable install, whatever folder its metadata sits in (the diff's word for its source).
EDITABLE = "editable"

# The environment a report's fingerprint hashes (env_fingerprint; secret-named values redacted): variables that change
# what torch does. A report without an inventory (before 1.2) recorded only these, so preflight-diff compares them.
FINGERPRINT_ENV_PREFIXES: tuple[str, ...] = (
    "PREFLIGHT_", "CUDA_", "NVIDIA_", "TORCH", "PYTORCH_", "OMP_", "MKL_", "HIP_", "ROCM_", "HSA_", "XPU_", "ZE_", "TRITON_", "NCCL_",
)  # fmt: skip
FINGERPRINT_ENV_NAMES: tuple[str, ...] = ("LD_LIBRARY_PATH", "PYTHONPATH", "VIRTUAL_ENV", "CONDA_PREFIX", "CUBLAS_WORKSPACE_CONFIG")

# The behaviour-changing environment a report's inventory records (values redacted like the rest of the
# report): every variable starting with one of these prefixes, and these names.
INVENTORY_ENV_PREFIXES: tuple[str, ...] = (
    "CUDA_", "CUBLAS_", "CUBLASLT_", "CUDNN_", "NCCL_", "NVIDIA_", "TORCH_", "PYTORCH_", "TORCHINDUCTOR_",
    "TORCHDYNAMO_", "TRITON_", "OMP_", "MKL_", "KMP_", "HIP_", "ROCM_", "HSA_", "HF_",
)  # fmt: skip
INVENTORY_ENV_NAMES: tuple[str, ...] = ("LD_PRELOAD", "LD_LIBRARY_PATH", "DYLD_LIBRARY_PATH", "PYTHONPATH")

# What preflight-diff groups changes into, in the order it shows them: most likely to explain a failure first.
DiffGroup = Literal["checks", "runtime", "packages", "environment", "capabilities", "performance"]
DIFF_GROUPS: tuple[DiffGroup, ...] = get_args(DiffGroup)
DIFF_GROUP_TITLES: dict[DiffGroup, str] = {
    "checks": "Checks whose outcome changed",
    "runtime": "Runtime (torch, torchvision, CUDA, driver, Python)",
    "packages": "Packages",
    "environment": "Environment variables",
    "capabilities": "Capabilities (OS, kernel, compiler, C library, CPU, device)",
    "performance": "Performance figures beyond their noise",
}
# One change: a check's outcome; a version up or down; something that appeared, went, or took another value.
ChangeKind = Literal["outcome", "upgraded", "downgraded", "added", "removed", "set", "unset", "changed", "moved", "faster", "slower"]
CHANGE_KINDS: tuple[ChangeKind, ...] = get_args(ChangeKind)
# Who started a gang's members (preflight-gang): torchrun's flags, srun, a Kubernetes Indexed Job / JobSet.
GangLauncher = Literal["torchrun", "slurm", "kubernetes"]
GANG_LAUNCHERS: tuple[GangLauncher, ...] = get_args(GangLauncher)

# A gang member as one member's report saw it: finished its collectives (ok; slow: its inter-node links far below
# the gang's median), failed on its own ranks (wrong results, died, hung), stopped answering while the others waited,
# never joined within the join timeout, or joined with nothing more known (the gang failed with no one to blame).
GangMemberState = Literal["ok", "slow", "failed", "stopped", "never_joined", "joined"]
GANG_MEMBER_STATES: tuple[GangMemberState, ...] = get_args(GangMemberState)

# The exit codes every command shares. 1 is kept for a verdict ("strict run blocked", "gate blocking");
# the tool's own failure (a missing dependency, an internal error) is never 1.
EXIT_OK = 0
EXIT_BLOCKING = 1
EXIT_USAGE = 2
EXIT_CHANGED = 1  # preflight-diff: something relevant changed between the two reports (diff(1)'s 1)
EXIT_NOT_JUDGED = 2  # a gate's or preflight-gang's "not judged": no verdict on the node, the same code as bad usage
EXIT_TOOL_BROKEN = 3
# preflight-gate --gate slurm only: the verdict is blocking, but the drain circuit breaker is open (too many nodes
# already drained by preflight), so the node was NOT drained; the prolog lets the job run and the finding is logged.
EXIT_BREAKER_OPEN = 4
EXIT_INTERRUPTED = 130


def choice_error(flag: str, value: object, choices: tuple[str, ...]) -> str:
    """The one line for a value outside its set, naming the flag and every choice."""
    return f"{flag} {value!r} is not one of {', '.join(choices)}"
