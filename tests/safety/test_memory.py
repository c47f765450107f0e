"""Memory estimates: named models, parameter counts, meta-device modules, and accelerate's figures."""

from __future__ import annotations

import math
from pathlib import Path

import pytest
import torch
from torch import nn

from preflight_action import runtime_safety as rs
from preflight_action.errors import SchemaError
from preflight_action.safety.memory import ENV_VAR, MIB, count_module, load_memory_policy

ROOT = Path(__file__).resolve().parents[2]


def test_named_models_scale_with_dtype_and_include_overhead():
    fp16 = rs.estimate_model_memory_mb("flux-schnell", torch.bfloat16)
    fp32 = rs.estimate_model_memory_mb("flux-schnell", "float32")
    assert fp16.parameters == 16_869_000_000
    assert fp16.weights_mb == pytest.approx(16_869_000_000 * 2 / MIB)
    assert fp32.weights_mb == pytest.approx(2 * fp16.weights_mb)
    assert fp16.activations_mb == pytest.approx(0.25 * fp16.weights_mb)  # the model's own allowance
    assert fp16.overhead_mb == 512
    assert fp16.gradients_mb == 0
    assert fp16.optimizer_mb == 0
    assert int(fp16) == fp16.total_mb == math.ceil(fp16.weights_mb * 1.25 + 512)
    assert "weights" in fp16.includes
    assert "activation allowance 25%" in fp16.includes


@pytest.mark.parametrize(
    ("name", "low_gb", "high_gb"),
    [("sd15", 2, 4), ("sdxl", 7, 10), ("sd3", 16, 22), ("t5-xxl", 10, 13), ("llama-7b", 15, 18), ("llama-70b", 150, 165)],
)
def test_named_inference_figures_are_in_the_known_range(name, low_gb, high_gb):
    """fp16 inference figures bracket what these models are known to need (weights + ~20-30%)."""
    assert low_gb * 1024 <= rs.estimate_model_memory_mb(name, "float16").total_mb <= high_gb * 1024


def test_training_counts_gradients_adam_states_and_master_weights():
    est = rs.estimate_model_memory_mb(1_000_000_000, "bfloat16", mode="training")
    per = 1_000_000_000 / MIB
    assert est.weights_mb == pytest.approx(2 * per)
    assert est.gradients_mb == pytest.approx(2 * per)
    assert est.optimizer_mb == pytest.approx((2 * 4 + 4) * per)  # two fp32 Adam states + fp32 master weights
    assert est.activations_mb == pytest.approx(2 * per)
    assert est.total_mb == math.ceil(18 * per + 512)  # the well-known ~18 bytes/parameter
    fp32 = rs.estimate_model_memory_mb(1_000_000_000, "float32", mode="training")
    assert fp32.optimizer_mb == pytest.approx(8 * per)  # no master copy in pure fp32


def test_meta_device_modules_are_counted_without_memory():
    model = rs.meta_model(nn.Transformer, batch_first=True)
    assert all(p.device.type == "meta" for p in model.parameters())
    params, trainable, _buffers, _fixed = count_module(model)
    assert params == sum(p.numel() for p in model.parameters()) == trainable
    est = rs.estimate_model_memory_mb(model, "float16", activation_mb=0, overhead_mb=0)
    assert est.model == "Transformer"
    assert est.total_mb == math.ceil(params * 2 / MIB)


def test_frozen_parameters_get_no_gradients_or_optimizer_state():
    model = rs.meta_model(nn.Sequential, nn.Linear(1000, 1000), nn.Linear(1000, 10))
    model[0].requires_grad_(False)
    est = rs.estimate_model_memory_mb(model, "float32", mode="training")
    assert est.parameters == 1_011_010
    assert est.trainable_parameters == 10_010
    assert est.gradients_mb == pytest.approx(10_010 * 4 / MIB)


def test_buffers_count_with_the_weights_and_tied_weights_count_once():
    bn = nn.BatchNorm1d(100)
    assert count_module(bn) == (200, 200, 200, 8)  # weight+bias; running mean/var; int64 num_batches_tracked
    est = rs.estimate_model_memory_mb(bn, "float16", activation_mb=0, overhead_mb=0)
    assert est.weights_mb == pytest.approx((400 * 2 + 8) / MIB)
    shared = nn.Linear(10, 10)
    tied = nn.Sequential(shared, shared)
    assert count_module(tied)[0] == 110


def test_bad_models_and_modes_are_clear_errors():
    with pytest.raises(KeyError, match="unknown model 'gpt-9'"):
        rs.estimate_model_memory_mb("gpt-9")
    with pytest.raises(ValueError, match="mode must be"):
        rs.estimate_model_memory_mb("sd15", mode="serving")
    with pytest.raises(ValueError, match="positive"):
        rs.estimate_model_memory_mb(0)
    with pytest.raises(TypeError, match="cannot estimate"):
        rs.estimate_model_memory_mb(object())


def test_a_user_memory_policy_adds_models_and_changes_margins(tmp_path, monkeypatch):
    text = (ROOT / "policy" / "memory.yaml").read_text(encoding="utf-8")
    mine = tmp_path / "memory.yaml"
    mine.write_text(
        text.replace("safety_margin_mb: 1024", "safety_margin_mb: 0")
        + "  my-unet:\n    description: in-house UNet\n    components: {unet: 500_000_000}\n",
        encoding="utf-8",
    )
    monkeypatch.setenv(ENV_VAR, str(mine))
    est = rs.estimate_model_memory_mb("my-unet", "float16")
    assert est.parameters == 500_000_000
    assert est.policy == str(mine)
    cpu = rs.load_simulated_profile("cpu-only")
    ok, message = rs.check_vram_sufficient(14410, caps=cpu)
    assert ok
    assert "need 14410MB" in message


def test_invalid_memory_policy_names_file_and_pointer(tmp_path):
    bad = tmp_path / "memory.yaml"
    text = (ROOT / "policy" / "memory.yaml").read_text(encoding="utf-8")
    bad.write_text(text.replace("runtime_overhead_mb: 512", "runtime_overhead_mb: -5").replace("  cpu: 1024\n", ""), encoding="utf-8")
    with pytest.raises(SchemaError) as info:
        load_memory_policy(bad)
    assert str(bad) in str(info.value)
    assert any(p.startswith("/runtime_overhead_mb:") for p in info.value.problems)
    assert any(p.startswith("/minimum_headroom_mb:") and "'cpu'" in p for p in info.value.problems)


# --- compared with Hugging Face accelerate (`accelerate estimate-memory`) -------------------------


def _models():
    yield "nn.Transformer", rs.meta_model(nn.Transformer, batch_first=True)
    torchvision = pytest.importorskip("torchvision", reason="torchvision builds the resnet50 comparison")
    yield "resnet50", rs.meta_model(torchvision.models.resnet50, weights=None)


def test_weights_equal_accelerates_total_size_and_training_differences_are_as_documented():
    """accelerate counts weights only (+ Adam as the peak of single components); we add the rest.

    accelerate: total_size = parameters + buffers at fp32, divided by 2 for float16;
    "Training using Adam" = max(model, gradients, optimizer, step) = 4x (fp32) or 8 bytes/param (mixed).
    ours: weights equal accelerate's total_size exactly; training sums weights + gradients + 2 fp32 Adam
    states (+ fp32 master weights for half) + an activation allowance + runtime overhead.
    """
    accel_utils = pytest.importorskip("accelerate.utils", reason="accelerate is in the test dependency group")
    from accelerate.commands.estimate import estimate_training_usage

    for label, model in _models():
        total_bytes, _largest = accel_utils.calculate_maximum_sizes(model)
        ours32 = rs.estimate_model_memory_mb(model, "float32")
        ours16 = rs.estimate_model_memory_mb(model, "float16")
        fixed = count_module(model)[3]  # integer buffers: accelerate halves them for float16, .to() does not
        assert ours32.weights_mb * MIB == total_bytes, label
        assert ours16.weights_mb * MIB == (total_bytes - fixed) / 2 + fixed, label
        adam32 = max(estimate_training_usage(total_bytes, "float32").values())
        assert adam32 == 4 * total_bytes  # weights + grads + 2 states counted, all fp32
        train32 = rs.estimate_model_memory_mb(model, "float32", mode="training", activation_mb=0, overhead_mb=0)
        trainable = count_module(model)[1] * 4
        assert train32.total_mb == math.ceil((adam32 - 3 * (total_bytes - trainable)) / MIB), (
            label
        )  # buffers get no grads/states  # same sum when we drop our allowances
        adam16 = max(estimate_training_usage(total_bytes, "float16").values())
        train16 = rs.estimate_model_memory_mb(model, "float16", mode="training", activation_mb=0, overhead_mb=0)
        # accelerate reports the largest single component (2 fp32 Adam states = 8 B/param) for mixed
        # precision; we sum weights 2 + grads 2 + master 4 + Adam 8 = 16 B/param (buffers get no state).
        assert adam16 == pytest.approx(2 * total_bytes)
        assert train16.total_mb > 1.9 * adam16 / MIB, label
