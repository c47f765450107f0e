"""Where a gang meets and which member this is: torchrun's flags, ``srun``'s SLURM_* variables, a Kubernetes Indexed Job's.

Every field is the flag's when it is given (torchrun's names: ``--rdzv-endpoint``, ``--nnodes``,
``--node-rank``, ``--rdzv-id``, ``--rdzv-conf``, ``--nproc-per-node``), else the launcher's:

- ``srun`` (SLURM_STEP_ID and SLURM_PROCID set): one member per task. Node rank = SLURM_PROCID, members =
  the step's tasks, gang id ``slurm-<job>.<step>``, endpoint = the step's first node (``scontrol show
  hostnames``) on the first of SLURM_STEP_RESV_PORTS, else port 29400 + job id mod 1000.
- A Kubernetes Indexed Job or JobSet (JOB_COMPLETION_INDEX set): node rank = the index; endpoint = the pod
  of index 0 (this pod's own name and DNS domain with ``-0`` for its index), port 29400; ``--nnodes`` is the
  Job's ``completions``, given in the manifest.
- torchrun's flags alone: ``--rdzv-endpoint`` and ``--nnodes`` are needed; without ``--node-rank`` ranks
  are given in order of arrival (torchrun's c10d does the same).
"""

from __future__ import annotations

import shutil
import socket
import subprocess
from collections.abc import Mapping
from dataclasses import dataclass

from preflight_action.errors import UsageError
from preflight_action.preflight.options import GangOptions
from preflight_action.vocab import GangLauncher

DEFAULT_PORT = 29400  # torchrun's c10d default
RDZV_CONF_KEYS = ("join_timeout", "is_host")
SCONTROL_TIMEOUT_S = 15.0


@dataclass(frozen=True)
class GangFlags:
    """The gang's flags as argparse read them (None: not given)."""

    rdzv_endpoint: str | None = None
    nnodes: str | None = None
    node_rank: int | None = None
    rdzv_id: str | None = None
    rdzv_backend: str = "c10d"
    rdzv_conf: str | None = None
    nproc_per_node: str | None = None
    collective_timeout: float | None = None


def launcher_of(environ: Mapping[str, str]) -> GangLauncher:
    """srun inside a step, a Kubernetes Indexed Job / JobSet pod, else torchrun's flags."""
    if environ.get("SLURM_STEP_ID") is not None and environ.get("SLURM_PROCID") is not None:
        return "slurm"
    if environ.get("JOB_COMPLETION_INDEX") is not None:
        return "kubernetes"
    return "torchrun"


def resolve(flags: GangFlags, environ: Mapping[str, str]) -> GangOptions:
    """The validated ``GangOptions``; a ``UsageError`` names the flag or variable that is missing or means nothing."""
    if flags.rdzv_backend != "c10d":
        raise UsageError(f"--rdzv-backend {flags.rdzv_backend!r}: preflight-gang meets at a c10d store only (c10d)")
    launcher = launcher_of(environ)
    conf = _rdzv_conf(flags.rdzv_conf)
    found = {"slurm": _slurm, "kubernetes": _kubernetes, "torchrun": _torchrun}[launcher](flags, environ)
    host, port = found.endpoint
    if flags.rdzv_endpoint:
        host, port = parse_endpoint(flags.rdzv_endpoint)
    nnodes = parse_nnodes(flags.nnodes) if flags.nnodes else found.nnodes
    if nnodes is None:
        raise UsageError("--nnodes N is needed: how many members (nodes) the gang has")
    if not host:
        raise UsageError("--rdzv-endpoint HOST:PORT is needed: where the gang's members meet (the c10d store)")
    names = found.names if len(found.names) == nnodes else ()
    return GangOptions(
        host=host,
        port=port,
        nnodes=nnodes,
        launcher=launcher,
        node_rank=flags.node_rank if flags.node_rank is not None else found.node_rank,
        rdzv_id=flags.rdzv_id if flags.rdzv_id not in (None, "none") else found.rdzv_id,
        join_timeout_s=conf.join_timeout,
        collective_timeout_s=flags.collective_timeout,
        nproc_per_node=_nproc(flags.nproc_per_node),
        is_host=conf.is_host,
        names=names,
    ).validated()


@dataclass(frozen=True)
class Found:
    """What a launcher's environment says (None / empty: it does not say)."""

    endpoint: tuple[str, int] = ("", DEFAULT_PORT)
    nnodes: int | None = None
    node_rank: int | None = None
    rdzv_id: str | None = None
    names: tuple[str, ...] = ()


def _torchrun(flags: GangFlags, environ: Mapping[str, str]) -> Found:
    return Found()


def _slurm(flags: GangFlags, environ: Mapping[str, str]) -> Found:
    job, step = _whole(environ, "SLURM_JOB_ID"), environ.get("SLURM_STEP_ID", "0")
    tasks = _whole(environ, "SLURM_STEP_NUM_TASKS") if environ.get("SLURM_STEP_NUM_TASKS") else _whole(environ, "SLURM_NTASKS")
    nodelist = environ.get("SLURM_STEP_NODELIST") or environ.get("SLURM_JOB_NODELIST") or ""
    try:
        nodes = hostnames(nodelist) if nodelist else ()
    except UsageError:
        if not flags.rdzv_endpoint:
            raise
        nodes = ()  # the endpoint is given; only the members' names are lost
    if not nodes and not flags.rdzv_endpoint:
        raise UsageError("srun: SLURM_STEP_NODELIST is not set: pass --rdzv-endpoint HOST:PORT (the first node of the step)")
    ports = [p for p in environ.get("SLURM_STEP_RESV_PORTS", "").replace("-", ",").split(",") if p.strip().isdigit()]
    port = int(ports[0]) if ports else DEFAULT_PORT + job % 1000
    # One task per node (the usual gang): task i runs on node i of the step, so the tasks' names are the nodes'.
    names = nodes if len(nodes) == tasks else ()
    return Found((nodes[0] if nodes else "", port), tasks, _whole(environ, "SLURM_PROCID"), f"slurm-{job}.{step}", names)


def _kubernetes(flags: GangFlags, environ: Mapping[str, str]) -> Found:
    index = _whole(environ, "JOB_COMPLETION_INDEX")
    pod = socket.gethostname()
    suffix = f"-{index}"
    if not pod.endswith(suffix):
        return Found(node_rank=index)  # a pod not named <job>-<index>: --rdzv-endpoint says where index 0 is
    base = pod[: -len(suffix)]
    fqdn = socket.getfqdn()
    domain = fqdn.split(".", 1)[1] if fqdn.startswith(pod + ".") else ""
    first = f"{base}-0" + (f".{domain}" if domain else "")
    count = parse_nnodes(flags.nnodes) if flags.nnodes else None
    names = tuple(f"{base}-{i}" for i in range(count)) if count else ()
    return Found((first, DEFAULT_PORT), None, index, None, names)


def hostnames(nodelist: str) -> tuple[str, ...]:
    """A Slurm hostlist (``node[01-03],gpu7``) as host names, by ``scontrol show hostnames``."""
    if not any(c in nodelist for c in "[],"):
        return (nodelist,)
    scontrol = shutil.which("scontrol")
    if scontrol is None:
        raise UsageError(f"srun: cannot expand SLURM_STEP_NODELIST {nodelist!r} without scontrol: pass --rdzv-endpoint HOST:PORT")
    try:
        done = subprocess.run(
            [scontrol, "show", "hostnames", nodelist], capture_output=True, text=True, timeout=SCONTROL_TIMEOUT_S, check=False
        )
    except (OSError, subprocess.SubprocessError) as exc:
        done = subprocess.CompletedProcess([scontrol], -1, "", str(exc))
    if done.returncode != 0:
        said = (done.stderr.strip().splitlines() or [f"exit code {done.returncode}"])[-1][:200]
        raise UsageError(f"srun: scontrol show hostnames {nodelist!r} failed ({said}): pass --rdzv-endpoint HOST:PORT")
    return tuple(line.strip() for line in done.stdout.splitlines() if line.strip())


def parse_endpoint(text: str) -> tuple[str, int]:
    """``HOST:PORT``, ``[V6]:PORT`` or ``HOST`` (port 29400, as torchrun)."""
    value = text.strip()
    if value.startswith("["):
        host, _, rest = value[1:].partition("]")
        port_text = rest[1:] if rest.startswith(":") else ""
    elif value.count(":") == 1:
        host, _, port_text = value.partition(":")
    else:
        host, port_text = value, ""
    if not port_text:
        return host, DEFAULT_PORT
    if not port_text.isdigit() or not 0 < int(port_text) < 65536:
        raise UsageError(f"--rdzv-endpoint {text!r}: the port must be a number from 1 to 65535")
    return host, int(port_text)


def parse_nnodes(text: str) -> int:
    """``N`` or torchrun's ``MIN:MAX`` with MIN == MAX: a gang has a fixed size."""
    low, _, high = text.partition(":")
    try:
        first, last = int(low), int(high or low)
    except ValueError:
        raise UsageError(f"--nnodes {text!r} is not a whole number (or N:N)") from None
    if first != last:
        raise UsageError(f"--nnodes {text!r}: a gang has a fixed number of members (N, or N:N), not an elastic range")
    return first


@dataclass(frozen=True)
class RdzvConf:
    join_timeout: float | None = None
    is_host: bool | None = None


def _rdzv_conf(text: str | None) -> RdzvConf:
    """torchrun's ``--rdzv-conf key=value,...``: join_timeout (seconds) and is_host (true/false)."""
    join_timeout: float | None = None
    is_host: bool | None = None
    for item in (text or "").split(","):
        if not item.strip():
            continue
        key, sep, value = (part.strip() for part in item.partition("="))
        if not sep or key not in RDZV_CONF_KEYS:
            raise UsageError(f"--rdzv-conf {item.strip()!r}: preflight-gang reads {', '.join(k + '=...' for k in RDZV_CONF_KEYS)}")
        if key == "is_host":
            if value.lower() not in ("true", "false", "1", "0"):
                raise UsageError(f"--rdzv-conf is_host={value!r}: true or false")
            is_host = value.lower() in ("true", "1")
            continue
        try:
            join_timeout = float(value)
        except ValueError:
            raise UsageError(f"--rdzv-conf join_timeout={value!r} is not a number of seconds") from None
    return RdzvConf(join_timeout, is_host)


def _nproc(text: str | None) -> int | None:
    if text is None or text == "auto":
        return None
    if not text.isdigit():
        raise UsageError(f"--nproc-per-node {text!r}: auto, or a whole number of ranks")
    return int(text)


def _whole(environ: Mapping[str, str], name: str) -> int:
    value = environ.get(name, "")
    if not value.strip().isdigit():
        raise UsageError(f"{name}={value!r} is not a whole number (set by the launcher: is this run inside it?)")
    return int(value)
