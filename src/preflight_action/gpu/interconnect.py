"""Pure multi-GPU decisions: a node's GPU topology, its NVLink health, and the bus-bandwidth reference it gets.

Nothing here talks to a GPU. policy/distributed_reference.yaml plus NVML readings
(schema ``nvml_readings`` with its optional ``nvlink`` / ``p2p`` fields) go in; a
``Verdict``, or a reference (or why there is none), comes out.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any

from preflight_action.gpu import policy as gpu_policy
from preflight_action.gpu.policy import Verdict
from preflight_action.paths import data_dir

ERROR_COUNTERS = ("replay", "recovery", "crc_flit", "crc_data")


@dataclass(frozen=True)
class LinkSku:
    name: str
    match: tuple[str, ...]
    exclude: tuple[str, ...]
    nvlink_links: int

    def matches(self, device_name: str) -> bool:
        name = device_name.lower()
        return any(m.lower() in name for m in self.match) and not any(x.lower() in name for x in self.exclude)


@dataclass(frozen=True)
class DistributedPolicy:
    source: str
    run: dict[str, Any]
    skus: tuple[LinkSku, ...]
    references: tuple[dict[str, Any], ...]
    gang: dict[str, Any] | None = None  # gang.allreduce's settings and references across nodes (None: a policy without them)

    def sku(self, device_name: str | None) -> LinkSku | None:
        """The first SKU whose substrings match ``device_name`` (file order)."""
        return next((s for s in self.skus if device_name and s.matches(device_name)), None)


def policy_path() -> Path:
    return data_dir("policy") / "distributed_reference.yaml"


@lru_cache(maxsize=4)
def load_policy(path: str | None = None) -> DistributedPolicy:
    """The validated policy (the shipped one when ``path`` is None); InputError names file and pointer."""
    from preflight_action.policy_files import read_yaml

    file = Path(path) if path else policy_path()
    document = read_yaml(file, "distributed_reference")
    skus = tuple(LinkSku(s["name"], tuple(s["match"]), tuple(s.get("exclude", ())), s["nvlink_links"]) for s in document["skus"])
    return DistributedPolicy(str(file), document["run"], skus, tuple(document["references"]), document.get("gang"))


def visible_gpus(readings: dict[str, Any], count: int, environ: dict[str, str] | None = None) -> tuple[list[dict[str, Any]], list[str]]:
    """NVML's entries for torch's cuda:0..count-1 (CUDA_VISIBLE_DEVICES honoured), and the ones not found."""
    found: list[dict[str, Any]] = []
    missing: list[str] = []
    for index in range(count):
        gpu, how = gpu_policy.select_gpu(readings, index, None, environ)
        if gpu is None:
            missing.append(f"cuda:{index}: {how}")
        elif all(g["index"] != gpu["index"] for g in found):
            found.append(gpu)
    return found, missing


def _active_links(gpu: dict[str, Any]) -> list[int]:
    return [link["link"] for link in (gpu.get("nvlink") or {}).get("links", []) if link["active"]]


def topology(gpus: list[dict[str, Any]]) -> tuple[str | None, str]:
    """``nvlink`` (every GPU has an active NVLink link), ``pcie`` (none has), or None with the reason."""
    if not gpus:
        return None, "NVML found none of the GPUs torch uses"
    if any("nvlink" not in g for g in gpus):
        return None, "these NVML readings carry no NVLink fields (nvidia-ml-py too old, or recorded before they existed)"
    linked = [bool(_active_links(g)) for g in gpus]
    if all(linked):
        return "nvlink", f"all {len(gpus)} GPUs have active NVLink links (NVML)"
    if not any(linked):
        return "pcie", f"none of the {len(gpus)} GPUs has an active NVLink link (NVML)"
    without = ", ".join(str(g["index"]) for g, ok in zip(gpus, linked, strict=True) if not ok)
    return None, f"mixed topology: GPU(s) {without} have no active NVLink link while the others do"


def nccl_algo(environ: dict[str, str] | None = None) -> str | None:
    """NCCL_ALGO as the references name it (lower case), None when NCCL chooses."""
    value = (os.environ if environ is None else environ).get("NCCL_ALGO", "").strip()
    return value.lower() or None


def reference_for(
    policy: DistributedPolicy, sku: str | None, gpus: int, topo: str | None, algo: str | None
) -> tuple[dict[str, Any] | None, str]:
    """The busbw reference for this node, or None and why the comparison is skipped."""
    if sku is None:
        return None, f"the GPU matches no SKU in {Path(policy.source).name}"
    if topo is None:
        return None, "the GPU topology is unknown"
    algo_text = f"NCCL_ALGO={algo}" if algo else "NCCL's own algorithm choice"
    for entry in policy.references:
        if (entry["sku"], entry["gpus"], entry["topology"], entry["nccl_algo"]) == (sku, gpus, topo, algo):
            return dict(entry), f"{gpus}x {sku} over {topo}, {algo_text}"
    known = sorted({f"{e['gpus']}x {e['sku']} {e['topology']}" for e in policy.references if e["sku"] == sku}) or ["none"]
    return (
        None,
        f"no reference for {gpus}x {sku} over {topo} with {algo_text} in {Path(policy.source).name} (known for {sku}: {', '.join(known)})",
    )


def compare(peak_busbw: float, reference: dict[str, Any], threshold: float) -> tuple[bool, str]:
    """(passed, sentence) for the measured peak against the reference."""
    floor = reference["busbw_gbs"] * threshold
    ratio = peak_busbw / reference["busbw_gbs"]
    sentence = (
        f"peak busbw {peak_busbw:.1f} GB/s is {ratio:.0%} of the {reference['busbw_gbs']:g} GB/s reference "
        f"({reference['kind']}; fails below {threshold:.0%} = {floor:.1f} GB/s)"
    )
    return peak_busbw >= floor, sentence


def _label(gpu: dict[str, Any]) -> str:
    return f"GPU {gpu.get('index')} ({gpu.get('name') or 'unnamed'})"


def _p2p(gpu: dict[str, Any], peer: dict[str, Any]) -> dict[str, Any] | None:
    return next((p for p in gpu.get("p2p") or [] if p["peer"] == peer["index"]), None)


def evaluate_nvlink(gpus: list[dict[str, Any]], policy: DistributedPolicy) -> Verdict:
    """Link state per GPU against its SKU's link count, and P2P between every pair of NVLink GPUs."""
    if any("nvlink" not in g for g in gpus):
        return Verdict("skip", "these NVML readings carry no NVLink fields (nvidia-ml-py too old, or recorded before they existed)")
    problems: list[str] = []
    notes: list[str] = []
    per_gpu: list[dict[str, Any]] = []
    expected_links = 0
    for gpu in gpus:
        sku = policy.sku(gpu.get("name"))
        links = (gpu.get("nvlink") or {}).get("links", [])
        active = _active_links(gpu)
        errors = {c: sum(int((link.get("errors") or {}).get(c) or 0) for link in links) for c in ERROR_COUNTERS}
        per_gpu.append(
            {"index": gpu["index"], "sku": sku.name if sku else None, "links": len(links), "active": len(active), "errors": errors}
        )
        if sku is not None:
            expected_links += sku.nvlink_links
            down = sorted(set(range(sku.nvlink_links)) - set(active))
            if down:
                which = ", ".join(str(i) for i in down)
                problems.append(f"{_label(gpu)}: NVLink link(s) {which} not active ({len(active)} of {sku.nvlink_links} a {sku.name} has)")
        elif links:
            notes.append(f"{_label(gpu)}: {len(active)} of {len(links)} NVLink links active (SKU not in policy: not judged)")
        counted = {c: n for c, n in errors.items() if n}
        if counted:
            notes.append(f"{_label(gpu)} NVLink error counters since driver load: " + ", ".join(f"{c} {n}" for c, n in counted.items()))
    pairs = 0
    judged = [g for g in gpus if policy.sku(g.get("name"))]
    for i, a in enumerate(judged):
        for b in judged[i + 1 :]:
            pairs += 1
            status = _p2p(a, b) or _p2p(b, a)
            if status is None:
                problems.append(f"NVML reports no P2P status between GPU {a['index']} and GPU {b['index']}")
                continue
            bad = {k: v for k, v in status.items() if k in ("read", "nvlink") and v not in ("ok", None)}
            if None in (status.get("read"), status.get("nvlink")):
                notes.append(f"NVML could not tell every P2P status between GPU {a['index']} and GPU {b['index']}")
            if bad:
                problems.append(f"P2P between GPU {a['index']} and GPU {b['index']}: " + ", ".join(f"{k} {v}" for k, v in bad.items()))
    details = {"gpus": per_gpu, "pairs_judged": pairs, "notes": notes}
    if problems:
        return Verdict("fail", "; ".join(problems), details)
    if not judged and not any(g.get("nvlink") for g in gpus):
        return Verdict(
            "skip", f"no NVLink on {', '.join(_label(g) for g in gpus) or 'any GPU'} (NVML), and no SKU in policy that has it", details
        )
    total_active = sum(int(g["active"]) for g in per_gpu)
    summary = f"{len(gpus)} GPU(s): {total_active} NVLink links active"
    if judged:
        summary += f" ({expected_links} expected for {len(judged)} GPU(s) of known SKUs), P2P OK between {pairs} pair(s)"
    return Verdict("pass", summary + ("; " + "; ".join(notes) if notes else ""), details)
