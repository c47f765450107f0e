"""distributed.allreduce and gpu.nvlink on real GPUs (pytest -m device): the NCCL path end to end.

One GPU: NCCL initialises a 1-rank group, the exact checks run, the collective is a skip
saying why. Several: one rank per GPU, exact results, NCCL version and busbw figures.
"""

from __future__ import annotations

import json
from typing import Any

import pytest

pytestmark = pytest.mark.device


def _cuda() -> Any:
    torch = pytest.importorskip("torch")
    if not torch.cuda.is_available():
        pytest.skip("no CUDA device visible to torch")
    if getattr(torch.version, "hip", None):
        pytest.skip("ROCm build: this test reads NVIDIA figures (NCCL version, NVML)")
    return torch


def test_nccl_ranks_one_per_visible_gpu(run_preflight: Any) -> None:
    torch = _cuda()
    count = torch.cuda.device_count()
    run = run_preflight("--device", "cuda", "--check-distributed", "--expect-gpus", str(count))
    check = run.check("distributed.allreduce")
    details = check["details"]
    print(json.dumps({k: details.get(k) for k in ("world_size", "library", "nccl_version", "timings", "comparison")}, indent=2))
    assert run.check("device.count")["status"] == "pass"
    assert details["world_size"] == count
    assert details["backend"] == "nccl"
    assert details["nccl_version"] == ".".join(str(p) for p in torch.cuda.nccl.version())
    assert details["correctness"]["checked_ranks"] == list(range(count))
    if count == 1:
        assert check["status"] == "skip"
        assert check["skip_reason"].startswith("world size 1 (one visible cuda device): no peer to exchange with")
        assert f"NCCL {details['nccl_version']} initialised" in check["skip_reason"]
        assert "timings" not in details
    else:
        assert check["status"] in ("pass", "fail"), check
        assert check["status"] == "pass" or "reference" in (check["error"] or ""), check["error"]
        assert [t["size_bytes"] for t in details["timings"]]
        for timing in details["timings"]:
            assert timing["busbw_gbs"] == pytest.approx(timing["algbw_gbs"] * 2 * (count - 1) / count, rel=1e-3)
    assert all(r["exit"] in ("stopped after its done line", "exit code 0") for r in details["ranks"])


def test_nvlink_facts_on_this_machine(run_preflight: Any) -> None:
    _cuda()
    pytest.importorskip("pynvml")
    run = run_preflight("--device", "cuda")
    health = run.check("gpu.health")
    if health["status"] != "pass":
        pytest.skip(f"gpu.health did not pass here: {health['skip_reason'] or health['error']}")
    nvlink = run.check("gpu.nvlink")
    for gpu in health["details"]["readings"]["gpus"]:
        assert "nvlink" in gpu  # a link list, or None for a board without NVLink: never silently absent
    print(json.dumps({k: nvlink.get(k) for k in ("status", "error", "skip_reason")}, indent=2))
    assert nvlink["status"] in ("pass", "skip", "fail")
    assert nvlink["status"] != "skip" or nvlink["skip_reason"]
