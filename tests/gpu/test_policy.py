"""GPU reference matching and NVML health decisions, played back from tests/data fixtures.

The NVML fixtures are synthesized from H100 SXM datasheet values and NVML field
semantics (their ``provenance`` says so): no GPU was available to record them.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from preflight_action import schemas
from preflight_action.errors import SchemaError
from preflight_action.gpu import policy as gpu_policy

DATA = Path(__file__).resolve().parents[1] / "data"


def readings(name: str) -> dict[str, Any]:
    return schemas.read_json(DATA / f"nvml_{name}.json", "nvml_readings")


def gpu0(name: str) -> dict[str, Any]:
    return readings(name)["gpus"][0]


def test_fixtures_say_they_are_synthesized() -> None:
    for path in sorted(DATA.glob("nvml_*.json")):
        provenance = json.loads(path.read_text())["provenance"]
        assert provenance.startswith("synthesized from "), path.name
        assert provenance.endswith(", not recorded"), path.name


@pytest.mark.parametrize(
    ("device_name", "sku"),
    [
        ("NVIDIA H100 80GB HBM3", "H100 SXM"),
        ("NVIDIA H100 PCIe", "H100 PCIe"),
        ("NVIDIA H200", "H200"),
        ("NVIDIA A100-SXM4-40GB", "A100 40GB"),
        ("NVIDIA A100-PCIE-40GB", "A100 40GB"),
        ("NVIDIA A100-SXM4-80GB", "A100 80GB SXM"),
        ("NVIDIA A100 80GB PCIe", "A100 80GB PCIe"),
        ("NVIDIA L4", "L4"),
        ("NVIDIA L40S", "L40S"),
        ("Tesla T4", "T4"),
        ("NVIDIA GeForce RTX 4090", "RTX 4090"),
        ("AMD Instinct MI300X", "MI300X"),
        # Look-alikes with different silicon or memory must not borrow a neighbour's figures.
        ("NVIDIA L40", None),
        ("NVIDIA H200 NVL", None),
        ("NVIDIA H100 NVL", None),
        ("NVIDIA GH200 480GB", None),
        (None, None),
    ],
)
def test_device_names_match_the_right_sku(device_name: str | None, sku: str | None) -> None:
    found = gpu_policy.match_sku(gpu_policy.load_reference(), device_name)
    assert (found.name if found else None) == sku


def test_h100_sxm_expectation_is_the_careful_measurement() -> None:
    """The calibrated SKU reproduces the careful H100 figures it was calibrated on (780 TFLOP/s, 3.0 TB/s)."""
    ref = gpu_policy.reference_for(gpu_policy.load_reference(), "NVIDIA H100 80GB HBM3", "gpu_reference.yaml")
    assert ref["sku"] == "H100 SXM"
    assert ref["expected"]["bf16"] == pytest.approx(780, rel=0.01)
    assert ref["expected"]["copy_tbs"] == pytest.approx(3.0, rel=0.01)
    assert ref["threshold"] == 0.7


def test_missing_tensor_core_paths_have_no_expectation() -> None:
    ref = gpu_policy.reference_for(gpu_policy.load_reference(), "Tesla T4", "gpu_reference.yaml")
    assert ref["expected"]["bf16"] is None
    assert ref["expected"]["tf32"] is None
    assert ref["expected"]["fp16"] == pytest.approx(32.5)


def test_unknown_sku_says_why_there_is_no_comparison() -> None:
    ref = gpu_policy.reference_for(gpu_policy.load_reference(), "NVIDIA GH200 480GB", "gpu_reference.yaml")
    assert ref["sku"] is None
    assert "NVIDIA GH200 480GB matches no SKU in gpu_reference.yaml" in ref["reason"]
    assert "H100 SXM" in ref["reason"]


def test_an_invalid_reference_file_names_the_field(tmp_path: Path) -> None:
    bad = tmp_path / "ref.yaml"
    bad.write_text(
        "schema_version: 1\nskus:\n  - name: X\n    match: [X1]\n    datasheet: {bf16_tflops: 1, fp16_tflops: 1, tf32_tflops: 1, memory_tbs: 1}\n"
        "    achievable: {matmul_fraction: 1.5, copy_fraction: 0.9}\n    threshold: 0.7\n    provenance: made up for a test\n"
    )
    with pytest.raises(SchemaError, match=r"/skus/0/achievable/matmul_fraction"):
        gpu_policy.load_reference(str(bad))


# ---------------------------------------------------------------- health evaluations


@pytest.mark.parametrize("case", ["healthy_busy", "healthy_idle"])
def test_healthy_h100_passes_every_health_evaluation(case: str) -> None:
    gpu = gpu0(case)
    for evaluate in (gpu_policy.evaluate_clocks, gpu_policy.evaluate_ecc, gpu_policy.evaluate_pcie, gpu_policy.evaluate_mig):
        verdict = evaluate(gpu)
        assert verdict.status == "pass", (evaluate.__name__, verdict.message)


def test_idle_clocks_and_link_generation_are_not_judged() -> None:
    gpu = gpu0("healthy_idle")
    assert "idle clocks are not judged" in gpu_policy.evaluate_clocks(gpu).message
    assert "PCIe gen 1 of gen 5 while idle" in gpu_policy.evaluate_pcie(gpu).message


def test_thermal_throttle_at_half_clock_fails() -> None:
    verdict = gpu_policy.evaluate_clocks(gpu0("thermal_throttle"))
    assert verdict.status == "fail"
    assert verdict.message == (
        "GPU 0 (NVIDIA H100 80GB HBM3): thermal slowdown (software) and thermal slowdown (hardware) active, SM clock 990 of 1980 MHz (50%), 92 C"
    )


def test_low_clock_under_load_without_a_named_reason_fails() -> None:
    gpu = gpu0("healthy_busy")
    gpu["clocks"]["sm_mhz"] = 800
    verdict = gpu_policy.evaluate_clocks(gpu)
    assert verdict.status == "fail"
    assert "SM clock 800 of 1980 MHz (40%) under load" in verdict.message


def test_power_cap_under_load_is_not_a_failure() -> None:
    gpu = gpu0("healthy_busy")
    gpu["clocks"]["sm_mhz"] = 1755
    gpu["clock_event_reasons"] = {"mask": 4, "active": ["sw_power_cap"]}
    assert gpu_policy.evaluate_clocks(gpu).status == "pass"


def test_pcie_x8_fails_with_the_bandwidth_share() -> None:
    verdict = gpu_policy.evaluate_pcie(gpu0("pcie_x8"))
    assert verdict.status == "fail"
    assert "PCIe link width x8 of x16: host<->device transfers run at 50% bandwidth" in verdict.message


def test_pcie_generation_trained_down_under_load_fails() -> None:
    verdict = gpu_policy.evaluate_pcie(gpu0("pcie_gen3"))
    assert verdict.status == "fail"
    assert "PCIe link gen 3 of gen 5 under load" in verdict.message


def test_host_slot_limit_is_a_note_not_a_failure() -> None:
    gpu = gpu0("healthy_busy")
    gpu["pcie"].update(gen=4, max_gen=4, gpu_max_gen=5)
    verdict = gpu_policy.evaluate_pcie(gpu)
    assert verdict.status == "pass"
    assert "the host slot limits the link to gen 4 (the GPU supports gen 5)" in verdict.message


def test_volatile_uncorrected_ecc_and_pending_remap_fail() -> None:
    verdict = gpu_policy.evaluate_ecc(gpu0("ecc_errors"))
    assert verdict.status == "fail"
    assert "2 volatile uncorrected ECC error(s) since the driver loaded" in verdict.message
    assert "remapping pending until the GPU is reset" in verdict.message


def test_row_remap_failure_and_pending_page_retirement_fail() -> None:
    gpu = gpu0("healthy_busy")
    gpu["remapped_rows"]["failure"] = True
    assert "row remapping failed" in gpu_policy.evaluate_ecc(gpu).message
    gpu = gpu0("healthy_busy")
    gpu["remapped_rows"] = None
    gpu["retired_pages"] = {"single_bit_multiple": 3, "double_bit": 1, "pending": True}
    verdict = gpu_policy.evaluate_ecc(gpu)
    assert verdict.status == "fail"
    assert "retired pages are pending" in verdict.message


def test_mig_enabled_fails_and_says_how_to_accept_it() -> None:
    verdict = gpu_policy.evaluate_mig(gpu0("mig_enabled"))
    assert verdict.status == "fail"
    assert "MIG mode is enabled" in verdict.message
    assert "lower gpu.mig's score in your --policy" in verdict.message


def test_consumer_gpu_skips_ecc_and_mig_with_reasons() -> None:
    gpu = gpu0("rtx4090_consumer")
    ecc, mig = gpu_policy.evaluate_ecc(gpu), gpu_policy.evaluate_mig(gpu)
    assert (ecc.status, mig.status) == ("skip", "skip")
    assert "does not support ECC" in ecc.message
    assert "does not support MIG" in mig.message
    assert gpu_policy.evaluate_clocks(gpu).status == "pass"


@pytest.mark.parametrize(
    ("driver_cuda", "torch_cuda", "status", "text"),
    [
        ("12.4", "12.4", "pass", "covers the CUDA 12.4 runtime"),
        ("12.8", "12.4", "pass", "covers"),
        ("12.2", "12.4", "fail", "minor-version compatibility"),
        ("11.8", "12.1", "fail", "cudaErrorInsufficientDriver"),
        ("12.4", None, "skip", "not a CUDA build"),
        (None, "12.4", "skip", "cannot compare"),
    ],
)
def test_driver_against_torch_cuda_runtime(driver_cuda: str | None, torch_cuda: str | None, status: str, text: str) -> None:
    verdict = gpu_policy.evaluate_driver("550.54.15", driver_cuda, torch_cuda)
    assert verdict.status == status
    assert text in verdict.message


# ---------------------------------------------------------------- which NVML GPU is torch's


def _two_gpus() -> dict[str, Any]:
    doc = readings("healthy_busy")
    second = json.loads(json.dumps(doc["gpus"][0]))
    second.update(index=1, uuid="GPU-22222222-0000-0000-0000-000000000000", name="NVIDIA H100 80GB HBM3")
    doc["gpus"].append(second)
    return doc


def test_select_gpu_follows_cuda_visible_devices() -> None:
    doc = _two_gpus()
    gpu, how = gpu_policy.select_gpu(doc, 0, "NVIDIA H100 80GB HBM3", {"CUDA_VISIBLE_DEVICES": "1"})
    assert gpu is not None
    assert gpu["index"] == 1
    assert "NVML index 1" in how
    gpu, _ = gpu_policy.select_gpu(doc, 0, None, {"CUDA_VISIBLE_DEVICES": "GPU-2222"})
    assert gpu is not None
    assert gpu["index"] == 1
    gpu, _ = gpu_policy.select_gpu(doc, 0, None, {})
    assert gpu is not None
    assert gpu["index"] == 0


def test_select_gpu_refuses_mig_instances_and_missing_entries() -> None:
    doc = _two_gpus()
    gpu, how = gpu_policy.select_gpu(doc, 0, None, {"CUDA_VISIBLE_DEVICES": "MIG-abc"})
    assert gpu is None
    assert "MIG instance" in how
    gpu, how = gpu_policy.select_gpu(doc, 1, None, {"CUDA_VISIBLE_DEVICES": "0"})
    assert gpu is None
    assert "has no entry 1" in how


def test_select_gpu_prefers_the_only_gpu_with_torchs_name() -> None:
    doc = _two_gpus()
    doc["gpus"][1]["name"] = "NVIDIA L4"
    gpu, how = gpu_policy.select_gpu(doc, 0, "NVIDIA L4", {})
    assert gpu is not None
    assert gpu["index"] == 1
    assert "the only GPU named" in how
