"""gpu.nvlink from replayed NVML link readings, the NVML reader's NVLink/P2P calls, and the busbw references.

The ``nvml_nvlink_*.json`` readings are synthesized (see their ``provenance``): an
8x H100 SXM HGX node with 18 NVLink links per GPU, one with two links down, one with
P2P disabled between a pair, and a PCIe pair without NVLink. They are replayed through
a real subprocess standing in for ``python -m preflight_action.gpu.nvml``.
"""

from __future__ import annotations

import json
import sys
import types
from pathlib import Path
from typing import Any

import pynvml
import pytest

from preflight_action import schemas
from preflight_action.gpu import collect, interconnect
from preflight_action.gpu import nvml as nvml_readings
from preflight_action.preflight import distributed, host_checks, triage
from preflight_action.preflight import severity as severity_policy
from preflight_action.preflight.context import Context
from preflight_action.preflight.options import Options
from preflight_action.preflight.ranks import Rank, RankPlan, RankRun
from preflight_action.preflight.report import CheckResult
from tests.support.fake_pynvml import fake_pynvml, raises

DATA = Path(__file__).resolve().parents[1] / "data"
H100 = "NVIDIA H100 80GB HBM3"


def replay(name: str) -> list[str]:
    return [sys.executable, "-c", "import sys; sys.stdout.write(open(sys.argv[1]).read())", str(DATA / f"nvml_{name}.json")]


def context(device_name: str = H100, count: int = 8, readings: str | None = "nvlink_8x_h100") -> Context:
    ctx = Context(Options(device="cuda", check_distributed=True), severity_policy.load())
    ctx.device, ctx.backend = "cuda:0", "cuda"
    caps = {"device_name": device_name, "cuda_device_count": count, "torch_cuda_build": "12.4", "cuda_driver_version": "12.4"}
    ctx.results["device.resolve"] = CheckResult("device.resolve", "pass", details={"resolved_device": "cuda:0", "backend": "cuda"})
    ctx.results["capabilities.detect"] = CheckResult("capabilities.detect", "pass", details=caps)
    if readings:
        health = host_checks.check_gpu_health(ctx, lambda t: collect.collect_readings(t, replay(readings)))
        assert health.status == "pass", health.error
        ctx.results["gpu.health"] = health
    return ctx


def nvlink(ctx: Context) -> CheckResult:
    return triage.score_checks([distributed.check_gpu_nvlink(ctx)], ctx.policy, ctx.backend)[0]


@pytest.fixture(autouse=True)
def _no_visible_devices_override(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("CUDA_VISIBLE_DEVICES", raising=False)
    monkeypatch.delenv("NCCL_ALGO", raising=False)


def test_every_fixture_is_marked_synthesized_and_schema_valid() -> None:
    for path in sorted(DATA.glob("nvml_nvlink_*.json")):
        document = json.loads(path.read_text(encoding="utf-8"))
        schemas.validate(document, "nvml_readings", str(path))
        assert "synthesized" in document["provenance"]


def test_a_healthy_hgx_node_passes_with_its_counters_noted() -> None:
    result = nvlink(context())
    assert result.status == "pass", result.error
    assert result.details["summary"].startswith("8 GPU(s): 144 NVLink links active (144 expected for 8 GPU(s) of known SKUs)")
    assert "P2P OK between 28 pair(s)" in result.details["summary"]
    assert "GPU 5 (NVIDIA H100 80GB HBM3) NVLink error counters since driver load: replay 2" in result.details["summary"]


def test_a_link_down_is_a_high_finding_naming_gpu_and_links() -> None:
    result = nvlink(context(readings="nvlink_link_down"))
    assert result.status == "fail"
    assert result.error == "GPU 3 (NVIDIA H100 80GB HBM3): NVLink link(s) 7, 12 not active (16 of 18 a H100 SXM has)"
    assert result.severity is not None
    assert (result.severity.score, result.severity.band) == (80, "high")
    gpu3 = next(g for g in result.details["gpus"] if g["index"] == 3)
    assert gpu3["errors"]["recovery"] == 4


def test_p2p_disabled_between_a_pair_is_a_finding() -> None:
    result = nvlink(context(readings="nvlink_p2p_disabled"))
    assert result.status == "fail"
    assert result.error == "P2P between GPU 0 and GPU 6: read disabled_by_regkey, nvlink disabled_by_regkey"


def test_only_the_gpus_torch_sees_are_judged(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", "0,1")  # GPU 3's dead links are not this job's
    result = nvlink(context(count=2, readings="nvlink_link_down"))
    assert result.status == "pass"
    assert [g["index"] for g in result.details["gpus"]] == [0, 1]


def test_pcie_boards_without_nvlink_skip_saying_why() -> None:
    result = nvlink(context(device_name="NVIDIA GeForce RTX 4090", count=2, readings="nvlink_pcie_pair"))
    assert result.status == "skip"
    assert (result.skip_reason or "").startswith("no NVLink on GPU 0 (NVIDIA GeForce RTX 4090), GPU 1")


def test_readings_from_before_nvlink_fields_skip_rather_than_judge() -> None:
    ctx = context(count=1, readings="healthy_busy")
    result = nvlink(ctx)
    assert result.status == "skip"
    assert "carry no NVLink fields" in (result.skip_reason or "")


# ---------------------------------------------------------------- topology and the busbw reference


def test_topology_from_nvml() -> None:
    readings = context().details("gpu.health")["readings"]
    gpus, missing = interconnect.visible_gpus(readings, 8)
    assert (len(gpus), missing) == (8, [])
    assert interconnect.topology(gpus)[0] == "nvlink"
    pcie = json.loads((DATA / "nvml_nvlink_pcie_pair.json").read_text(encoding="utf-8"))
    assert interconnect.topology(pcie["gpus"])[0] == "pcie"
    mixed = [gpus[0], pcie["gpus"][0]]
    topo, reason = interconnect.topology(mixed)
    assert topo is None
    assert reason.startswith("mixed topology: GPU(s) 0 have no active NVLink link")


@pytest.mark.parametrize(
    ("sku", "gpus", "algo", "busbw"),
    [("H100 SXM", 8, None, 370), ("H100 SXM", 8, "nvls", 480), ("H200", 8, None, 475), ("A100 SXM", 8, None, 200)],
)
def test_references_by_sku_count_topology_and_algorithm(sku: str, gpus: int, algo: str | None, busbw: float) -> None:
    reference, why = interconnect.reference_for(interconnect.load_policy(), sku, gpus, "nvlink", algo)
    assert reference is not None, why
    assert reference["busbw_gbs"] == busbw
    assert reference["kind"] in ("measured", "estimated")


def test_no_reference_says_what_is_known() -> None:
    reference, why = interconnect.reference_for(interconnect.load_policy(), "H100 SXM", 4, "nvlink", None)
    assert reference is None
    assert why == (
        "no reference for 4x H100 SXM over nvlink with NCCL's own algorithm choice in distributed_reference.yaml "
        "(known for H100 SXM: 8x H100 SXM nvlink)"
    )


def test_nccl_algo_is_read_as_the_references_name_it() -> None:
    assert interconnect.nccl_algo({"NCCL_ALGO": "NVLS"}) == "nvls"
    assert interconnect.nccl_algo({}) is None


class _Quiet:
    """Stands in for a finished rank process in the pure judging tests below."""

    def stderr_tail(self, lines: int) -> list[str]:
        return []


def synthetic_run(world: int, busbw: float) -> RankRun:
    """What 8 NCCL ranks would report (synthesized figures, not measured)."""
    plan = RankPlan("nccl", "cuda", world, (1 << 30,), 5, 20, 4099, 30.0, 120.0)
    algbw = busbw / (2 * (world - 1) / world)
    ranks = []
    for index in range(world):
        rank = Rank(index, _Quiet(), pid=1000 + index, stage="done")  # type: ignore[arg-type]
        rank.init = {"library": "NCCL", "nccl_version": "2.21.5", "torch": "2.5.1", "device": f"cuda:{index}", "elapsed_ms": 900.0}
        rank.correctness = {"ok": True, "problems": [], "dtype": "int64", "elements": 4099, "broadcast_roots": world}
        rank.timings = [{"size_bytes": 1 << 30, "iterations": 20, "time_us": 1.0, "algbw_gbs": algbw, "busbw_gbs": busbw}]
        rank.done, rank.exit = {"ranks_failed": 0}, "stopped after its done line"
        ranks.append(rank)
    return RankRun(plan, ranks, port=29500)


@pytest.mark.parametrize(("busbw", "status"), [(360.0, "pass"), (250.0, "fail")])
def test_busbw_is_judged_against_the_reference_for_8x_h100(busbw: float, status: str) -> None:
    ctx = context()
    result = distributed.judge(synthetic_run(8, busbw), ctx, interconnect.load_policy())
    assert result.status == status
    assert result.details["topology"] == "nvlink"
    assert result.details["reference"]["busbw_gbs"] == 370
    assert result.details["nccl_version"] == "2.21.5"
    words = result.details.get("summary") or result.error or ""
    assert f"peak busbw {busbw:.1f} GB/s is {busbw / 370:.0%} of the 370 GB/s reference (estimated; fails below 75% = 277.5 GB/s)" in words


def test_an_unknown_topology_reports_the_figure_and_skips_the_comparison() -> None:
    ctx = context(device_name="NVIDIA L40S", readings=None)
    result = distributed.judge(synthetic_run(8, 20.0), ctx, interconnect.load_policy())
    assert result.status == "pass"
    assert result.details["peak_busbw_gbs"] == 20.0
    assert result.details["comparison"] == (
        "skipped: the GPU matches no SKU in distributed_reference.yaml (NVIDIA L40S; topology: NVML readings are unavailable "
        "(gpu.health did not read them))"
    )


# ---------------------------------------------------------------- the reader's NVLink and P2P calls


def fake_nvml(links: int = 18, down: tuple[int, ...] = ()) -> types.SimpleNamespace:
    """Two idle H100s with ``links`` NVLinks each, those in ``down`` inactive; link 1 counts 3 replays, CRC data is unsupported."""
    invalid = raises(pynvml.NVML_ERROR_INVALID_ARGUMENT)
    unsupported = raises(pynvml.NVML_ERROR_NOT_SUPPORTED)

    def state(handle: Any, link: int) -> int:
        if link >= links:
            invalid()
        return pynvml.NVML_FEATURE_DISABLED if link in down else pynvml.NVML_FEATURE_ENABLED

    def counter(handle: Any, link: int, which: int) -> int:
        if which == pynvml.NVML_NVLINK_ERROR_DL_CRC_DATA:
            unsupported()
        return 3 if which == pynvml.NVML_NVLINK_ERROR_DL_REPLAY and link == 1 else 0

    return fake_pynvml(
        nvmlDeviceGetCount=lambda: 2,
        nvmlDeviceGetName=lambda h: H100.encode(),
        nvmlDeviceGetNvLinkState=state,
        nvmlDeviceGetNvLinkRemotePciInfo=lambda h, link: types.SimpleNamespace(busId=b"00000000:C0:00.0"),
        nvmlDeviceGetNvLinkErrorCounter=counter,
        nvmlDeviceGetP2PStatus=lambda a, b, index: pynvml.NVML_P2P_STATUS_OK if index == pynvml.NVML_P2P_CAPS_INDEX_READ else 4,
    )


def test_reader_records_link_states_counters_and_p2p(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "pynvml", fake_nvml(down=(5,)))
    document = nvml_readings.collect()
    schemas.validate(document, "nvml_readings", "reader output")
    gpu0 = document["gpus"][0]
    links = gpu0["nvlink"]["links"]
    assert [link["link"] for link in links] == list(range(18))  # links past the GPU's count are not links
    assert [link["link"] for link in links if not link["active"]] == [5]
    assert links[5]["remote_pci_bus_id"] is None
    assert links[1]["errors"] == {"replay": 3, "recovery": 0, "crc_flit": 0, "crc_data": None}
    assert gpu0["unavailable"]["nvlink.crc_data"]
    assert gpu0["p2p"] == [{"peer": 1, "read": "ok", "nvlink": "disabled_by_regkey"}]


def test_reader_marks_a_gpu_without_nvlink_as_none(monkeypatch: pytest.MonkeyPatch) -> None:
    fake = fake_nvml()

    def no_nvlink(handle: Any, link: int) -> int:
        raise pynvml.NVMLError(pynvml.NVML_ERROR_NOT_SUPPORTED)

    fake.nvmlDeviceGetNvLinkState = no_nvlink
    monkeypatch.setitem(sys.modules, "pynvml", fake)
    document = nvml_readings.collect()
    schemas.validate(document, "nvml_readings", "reader output")
    assert document["gpus"][1]["nvlink"] is None
    assert document["gpus"][1]["unavailable"]["nvlink"]
