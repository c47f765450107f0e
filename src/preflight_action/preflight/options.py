"""What a preflight run is asked to do: one typed record, built from flags, the action, nox or ``run_preflight``."""

from __future__ import annotations

import math
import re
from dataclasses import dataclass

from preflight_action.cli_args import MIN_CHECK_TIMEOUT_S
from preflight_action.errors import UsageError
from preflight_action.vocab import (
    BANDS,
    DEFAULT_DEVICE,
    DEFAULT_LEVEL,
    DEVICES,
    GANG_LAUNCHERS,
    LEVELS,
    BandName,
    Device,
    GangLauncher,
    Level,
    choice_error,
)

DEFAULT_CHECK_TIMEOUT_S = 120.0
DEFAULT_OUTPUT_PATH = "outputs/runtime_preflight/preflight.json"
MAX_SECONDS = 366 * 24 * 3600.0  # past a year a timeout means nothing (and overflows threading's waits)


MAX_GANG_NODES = 4096
RDZV_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._:-]{0,127}$")  # a store key part and a file-name-safe gang id


@dataclass(frozen=True)
class GangOptions:
    """``gang.allreduce`` (preflight-gang): where the gang's members meet, how many there are, and which one this is."""

    host: str  # the c10d rendezvous endpoint (torchrun's --rdzv-endpoint HOST:PORT)
    port: int
    nnodes: int
    launcher: GangLauncher = "torchrun"
    node_rank: int | None = None  # None: assigned in order of arrival (torchrun's c10d without --node-rank)
    rdzv_id: str | None = None  # None: the member serving the store makes one up (the gang id in every report)
    join_timeout_s: float | None = None  # None: policy/distributed_reference.yaml gang.join_timeout_s
    collective_timeout_s: float | None = None  # None: the policy's gang.collective_timeout_s
    nproc_per_node: int | None = None  # None: one rank per visible GPU, one on the CPU
    is_host: bool | None = None  # None: a member on an address of the endpoint's host tries to serve the store
    names: tuple[str, ...] = ()  # the launcher's name of each node rank (Slurm node, pod), where it knows them

    @property
    def endpoint(self) -> str:
        return f"[{self.host}]:{self.port}" if ":" in self.host else f"{self.host}:{self.port}"

    def validated(self) -> GangOptions:
        """This record, or a ``UsageError`` naming the flag whose value means nothing."""
        if not isinstance(self.host, str) or not self.host.strip() or any(c.isspace() for c in self.host):
            raise UsageError(f"--rdzv-endpoint needs a host name or address before the port, got {self.host!r}")
        if not _whole(self.port) or not 0 < self.port < 65536:
            raise UsageError(f"--rdzv-endpoint needs a port from 1 to 65535, got {self.port!r}")
        if not _whole(self.nnodes) or not 1 <= self.nnodes <= MAX_GANG_NODES:
            raise UsageError(f"--nnodes must be a whole number from 1 to {MAX_GANG_NODES}, got {self.nnodes!r}")
        if self.node_rank is not None and (not _whole(self.node_rank) or not 0 <= self.node_rank < self.nnodes):
            raise UsageError(f"--node-rank must be a whole number from 0 to --nnodes - 1 ({self.nnodes - 1}), got {self.node_rank!r}")
        if self.launcher not in GANG_LAUNCHERS:
            raise UsageError(choice_error("launcher", self.launcher, GANG_LAUNCHERS))
        if self.rdzv_id is not None and not RDZV_ID.match(self.rdzv_id):
            raise UsageError(
                f"--rdzv-id must be 1-128 letters, digits, '.', '_', ':' or '-' (starting with a letter or digit), got {self.rdzv_id!r}"
            )
        for flag, value in (("--rdzv-conf join_timeout", self.join_timeout_s), ("--collective-timeout", self.collective_timeout_s)):
            if value is not None and (
                isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value) or not 0 < value <= 86400
            ):
                raise UsageError(f"{flag} must be a finite number of seconds above 0 and at most a day, got {value!r}")
        if self.nproc_per_node is not None and (not _whole(self.nproc_per_node) or not 1 <= self.nproc_per_node <= 64):
            raise UsageError(f"--nproc-per-node must be auto or a whole number from 1 to 64, got {self.nproc_per_node!r}")
        if self.names and len(self.names) != self.nnodes:
            raise UsageError(f"the launcher named {len(self.names)} members for --nnodes {self.nnodes}")
        return self


def _whole(value: object) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


@dataclass(frozen=True)
class Options:
    device: Device = DEFAULT_DEVICE
    check_torchvision: bool = False
    check_compile: bool = False
    strict: bool = False
    strict_threshold: BandName | None = None  # None: the policy's strict_threshold
    check_timeout: float = DEFAULT_CHECK_TIMEOUT_S
    python: str | None = None  # None: the interpreter running the orchestrator
    policy_path: str | None = None
    level: Level = DEFAULT_LEVEL
    budget_s: float | None = None  # None: the level's default budget (policy/levels.yaml), if any
    levels_path: str | None = None  # None: $PREFLIGHT_LEVELS_POLICY, else the shipped policy/levels.yaml
    check_distributed: bool = False  # distributed.allreduce: one rank per local device
    expect_gpus: int | None = None  # device.count: fewer visible GPUs than this is critical
    gang: GangOptions | None = None  # gang.allreduce (preflight-gang): an all-reduce across the gang's nodes

    def validated(self) -> Options:
        """This record, or a ``UsageError`` naming the first flag whose value means nothing (argparse checks the CLI's)."""
        if self.device not in DEVICES:
            raise UsageError(choice_error("--device", self.device, DEVICES))
        if self.level not in LEVELS:
            raise UsageError(choice_error("--level", self.level, LEVELS))
        if self.strict_threshold is not None and self.strict_threshold not in BANDS:
            raise UsageError(choice_error("--strict-threshold", self.strict_threshold, BANDS))
        for flag, value in (("--check-timeout", self.check_timeout), ("--budget", self.budget_s)):
            if value is None and flag == "--budget":
                continue
            if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value) or not 0 < value <= MAX_SECONDS:
                raise UsageError(f"{flag} must be a finite number of seconds above 0 and at most a year, got {value!r}")
            if (
                flag == "--check-timeout" and value < MIN_CHECK_TIMEOUT_S
            ):  # no check answers that fast: a kill would fail the node on nothing
                raise UsageError(f"--check-timeout must be at least {MIN_CHECK_TIMEOUT_S:g} s, got {value!r}")
        if self.expect_gpus is not None and (
            isinstance(self.expect_gpus, bool) or not isinstance(self.expect_gpus, int) or self.expect_gpus < 1
        ):
            raise UsageError(f"--expect-gpus must be a whole number of at least 1, got {self.expect_gpus!r}")
        for flag, path in (("--python", self.python), ("--policy", self.policy_path)):
            if path is not None and (not isinstance(path, str) or not path.strip()):
                raise UsageError(f"{flag} must name a file, got {path!r}")
        if self.gang is not None:
            self.gang.validated()
        return self
