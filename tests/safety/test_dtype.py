"""The safe dtype policy: every branch of policy/dtype.yaml on simulated platforms, and user overrides."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest
import torch

from preflight_action import runtime_safety as rs
from preflight_action.errors import InputError, SchemaError
from preflight_action.safety.dtype import ENV_VAR, load_dtype_policy, normalize

ROOT = Path(__file__).resolve().parents[2]


def profile(name: str, **changes):
    caps = rs.load_simulated_profile(name)
    return dataclasses.replace(caps, **changes) if changes else caps


# (platform, requested, chosen dtype, changed, rule) - the seed's table, one row per branch.
CASES = [
    ("cpu-only", "bfloat16", "float32", True, "cpu-only"),
    ("cpu-only", None, "float32", False, "cpu-only"),
    ("cpu-only", "float64", "float64", False, "cpu-only"),
    ("rtx4090-windows-wddm", "bfloat16", "float16", True, "windows-native-wddm"),
    ("rtx4090-windows-wddm", None, "float16", False, "windows-native-wddm"),
    ("rtx4090-windows-wddm", "float32", "float32", False, "windows-native-wddm"),
    ("h100-linux", "bfloat16", "bfloat16", False, "gpu-bf16-capable"),
    ("h100-linux", None, "bfloat16", False, "gpu-bf16-capable"),
    ("h100-linux", "float16", "float16", False, "gpu-bf16-capable"),
    ("a100-linux", "bfloat16", "bfloat16", False, "gpu-bf16-capable"),
    ("mi300-rocm", "bfloat16", "bfloat16", False, "gpu-bf16-capable"),
    ("t4-linux", "bfloat16", "float16", True, "gpu-no-bf16"),
    ("t4-linux", None, "float16", False, "gpu-no-bf16"),
    ("apple-m2-mps", "bfloat16", "float16", True, "apple-mps"),
    ("apple-m2-mps", "float64", "float16", True, "apple-mps"),
]


@pytest.mark.parametrize(("name", "requested", "dtype", "changed", "rule"), CASES)
def test_policy_table_on_simulated_platforms(name, requested, dtype, changed, rule):
    choice = rs.select_safe_dtype(requested, caps=profile(name))
    assert (choice.dtype, choice.changed, choice.rule) == (dtype, changed, rule)
    assert choice.requested == requested
    assert choice.simulated is True
    assert "SIMULATED" in choice.reason


def test_wsl2_with_a_bf16_gpu_keeps_bfloat16():
    wsl = profile("rtx4090-windows-wddm", os="Linux", is_wsl2=True, windows_wddm=None)
    choice = rs.select_safe_dtype(torch.bfloat16, caps=wsl)
    assert (choice.dtype, choice.changed, choice.rule) == ("bfloat16", False, "gpu-bf16-capable")
    assert "(WSL2, cuda" in choice.reason


def test_windows_with_the_tcc_driver_keeps_bfloat16_but_unknown_driver_model_is_treated_as_wddm():
    tcc = profile("rtx4090-windows-wddm", windows_wddm=False)
    assert rs.select_safe_dtype("bfloat16", caps=tcc).dtype == "bfloat16"
    unknown = profile("rtx4090-windows-wddm", windows_wddm=None)
    assert rs.select_safe_dtype("bfloat16", caps=unknown).rule == "windows-native-wddm"


def test_without_torch_the_answer_is_float32():
    caps = profile("h100-linux", torch_available=False, torch_version=None)
    choice = rs.select_safe_dtype("bfloat16", caps=caps)
    assert (choice.dtype, choice.rule) == ("float32", "torch-absent")


def test_real_machine_choice_is_not_simulated_and_gives_a_torch_dtype():
    choice = rs.select_safe_dtype(torch.bfloat16)
    assert choice.simulated is False
    assert "SIMULATED" not in choice.reason
    assert choice.torch_dtype() == getattr(torch, choice.dtype)
    if not torch.cuda.is_available():
        assert choice.dtype == "float32"
        assert choice.changed


def test_changed_choices_are_logged_as_warnings(caplog):
    rs.select_safe_dtype("bfloat16", caps=profile("t4-linux"))
    assert any(r.levelname == "WARNING" and "requested bfloat16 but using float16 for safety" in r.getMessage() for r in caplog.records)


@pytest.mark.parametrize(
    ("given", "name"),
    [
        (torch.bfloat16, "bfloat16"),
        ("torch.float16", "float16"),
        ("bf16", "bfloat16"),
        ("half", "float16"),
        ("FP32", "float32"),
        (None, None),
    ],
)
def test_dtype_spellings_normalize(given, name):
    assert normalize(given) == name


def test_unknown_dtype_is_a_clear_error():
    with pytest.raises(ValueError, match="unknown dtype 'bfloat17'"):
        rs.select_safe_dtype("bfloat17", caps=profile("cpu-only"))


def write_policy(path: Path, prefer_on_cpu: str = "bfloat16") -> Path:
    text = (ROOT / "policy" / "dtype.yaml").read_text(encoding="utf-8")
    marker = "  - id: cpu-only\n    when: {backend: [cpu]}\n    allow: [float32, float64]\n    prefer: float32\n"
    assert marker in text
    path.write_text(
        text.replace(
            marker, f"  - id: cpu-only\n    when: {{backend: [cpu]}}\n    allow: [float32, {prefer_on_cpu}]\n    prefer: {prefer_on_cpu}\n"
        ),
        encoding="utf-8",
    )
    return path


def test_a_user_policy_file_replaces_the_shipped_one(tmp_path, monkeypatch):
    mine = write_policy(tmp_path / "dtype.yaml")
    cpu = profile("cpu-only")
    assert rs.select_safe_dtype(None, caps=cpu, policy=load_dtype_policy(mine)).dtype == "bfloat16"
    monkeypatch.setenv(ENV_VAR, str(mine))
    choice = rs.select_safe_dtype("bfloat16", caps=cpu)
    assert (choice.dtype, choice.changed, choice.policy) == ("bfloat16", False, str(mine))
    monkeypatch.delenv(ENV_VAR)
    assert rs.select_safe_dtype("bfloat16", caps=cpu).dtype == "float32"


def test_an_edited_policy_file_is_reread(tmp_path):
    mine = write_policy(tmp_path / "dtype.yaml", "bfloat16")
    assert load_dtype_policy(mine).rules[1].prefer == "bfloat16"
    write_policy(mine, "float16")
    assert load_dtype_policy(mine).rules[1].prefer == "float16"


def test_invalid_policy_names_file_and_pointer(tmp_path, monkeypatch):
    bad = tmp_path / "dtype.yaml"
    bad.write_text(
        "schema_version: 1\ndefault_request: bfloat16\nrules:\n  - {id: x, when: {backend: [tpu]}, allow: [float32], prefer: fp32, reason: r}\n",
        encoding="utf-8",
    )
    with pytest.raises(SchemaError) as info:
        load_dtype_policy(bad)
    assert info.value.exit_code == 2
    assert str(bad) in str(info.value)
    assert any(p.startswith("/rules/0/prefer:") for p in info.value.problems)
    assert any(p.startswith("/rules/0/when/backend/0:") for p in info.value.problems)
    monkeypatch.setenv(ENV_VAR, str(tmp_path / "missing.yaml"))
    with pytest.raises(InputError, match=r"missing\.yaml: file not found"):
        rs.select_safe_dtype("bfloat16", caps=profile("cpu-only"))
    bad.write_text("rules: [unclosed\n", encoding="utf-8")
    with pytest.raises(InputError, match="malformed YAML"):
        load_dtype_policy(bad)


def test_a_policy_without_a_catch_all_still_answers_float32(tmp_path):
    only_gpu = tmp_path / "dtype.yaml"
    only_gpu.write_text(
        "schema_version: 1\ndefault_request: bfloat16\nrules:\n"
        "  - {id: gpu, when: {backend: [cuda]}, allow: [bfloat16], prefer: bfloat16, reason: gpus}\n",
        encoding="utf-8",
    )
    choice = rs.select_safe_dtype("bfloat16", caps=profile("cpu-only"), policy=load_dtype_policy(only_gpu))
    assert (choice.dtype, choice.rule) == ("float32", "implicit-fallback")
