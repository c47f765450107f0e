"""Shipped flows, manifests, policy and profiles are valid; `validate` reports every problem at once."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from preflight_action.errors import InputError, SchemaError
from preflight_action.paths import repo_root
from preflight_action.sweep import config
from preflight_action.sweep.cli import main

ROOT = repo_root()
assert ROOT is not None


def test_shipped_inputs_validate(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["validate"]) == 0
    out = capsys.readouterr().out
    assert "validate: ok: 4 flow(s), 4 adapter(s), 4 profile(s) valid" in out


def test_list_flows_shows_each_flow_with_its_size(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["list-flows"]) == 0
    out = capsys.readouterr().out
    for name in ("dtype_batch_matmul", "compile_modes", "small_model_smoke", "noop"):
        assert name in out
    assert "9 point(s) · 2 step spec(s) · dtype(3) x batch(3)" in out


def _copy_root(tmp_path: Path) -> Path:
    root = tmp_path / "repo"
    shutil.copytree(ROOT / "flows", root / "flows")
    shutil.copytree(ROOT / "policy", root / "policy")
    return root


def test_validate_reports_all_problems_with_file_pointer_and_suggestions(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    root = _copy_root(tmp_path)
    flow = root / "flows" / "noop.yaml"
    flow.write_text(flow.read_text(encoding="utf-8").replace("timeout_s: 30", "timeout: 30"), encoding="utf-8")
    (root / "flows" / "bad_adapter.yaml").write_text("name: bad\nsteps:\n  - {name: a, adapter: matmul_bensh}\n", encoding="utf-8")
    (root / "flows" / "too_big.yaml").write_text(
        "name: big\nsteps:\n  - {name: a, adapter: matmul_bench, params: {dtype: float32, batch: 9000}}\n", encoding="utf-8"
    )
    profile = root / "policy" / "profiles" / "apple_mps.yaml"
    profile.write_text(profile.read_text(encoding="utf-8").replace("priority: 50", "priority: high"), encoding="utf-8")
    assert main(["--root", str(root), "validate"]) == 2
    out = capsys.readouterr().out
    assert f"{flow}: /: Additional properties are not allowed ('timeout' was unexpected) ('timeout' -> did you mean 'timeout_s'?)" in out
    assert "bad_adapter.yaml: /steps/0/adapter: unknown adapter 'matmul_bensh' (did you mean 'matmul_bench'?)" in out
    assert "too_big.yaml: point p000 step a: batch=9000 exceeds the maximum 4096" in out
    assert f"{profile}: /priority: 'high' is not of type 'integer'" in out


def test_malformed_yaml_names_file_and_line(tmp_path: Path) -> None:
    path = tmp_path / "f.yaml"
    path.write_text("name: x\nsteps: [\n", encoding="utf-8")
    with pytest.raises(InputError, match=r"f\.yaml: malformed YAML at line 3"):
        config.load_flow(path)
    path.write_text("name: x\nsteps: []\n", encoding="utf-8")
    with pytest.raises(SchemaError, match=r"/steps: \[\] should be non-empty"):
        config.load_flow(path)


def test_unknown_flow_name_suggests_the_closest(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    assert main(["--output-root", str(tmp_path), "plan", "--flow", "dtype_batch_matmull"]) == 2
    assert "flow not found (did you mean 'dtype_batch_matmul'?)" in capsys.readouterr().err
