"""The one policy loader: explicit path, then environment variable, then the shipped file; cached per file."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import pytest
import yaml

from preflight_action import policy_files
from preflight_action.errors import InputError, SchemaError
from preflight_action.gpu import policy as gpu_policy
from preflight_action.preflight import severity
from preflight_action.safety import dtype, memory
from preflight_action.sweep import config as sweep_config

SOURCES = (
    policy_files.SEVERITY,
    policy_files.DTYPE,
    policy_files.MEMORY,
    policy_files.GPU_REFERENCE,
    policy_files.SAFETY,
    policy_files.LEVELS,
    policy_files.GATES,
)


def _copy_shipped(source: policy_files.PolicySource, tmp_path: Path, edit: Any = None) -> Path:
    document = yaml.safe_load(source.shipped_path().read_text(encoding="utf-8"))
    if edit:
        edit(document)
    target = tmp_path / source.shipped
    target.write_text(yaml.safe_dump(document), encoding="utf-8")
    return target


@pytest.mark.parametrize("source", SOURCES, ids=lambda s: s.schema)
def test_every_shipped_policy_is_valid_and_named_by_an_environment_variable(source: policy_files.PolicySource) -> None:
    assert source.env_var
    assert source.env_var.startswith("PREFLIGHT_")
    assert source.shipped_path().is_file()
    policy_files.read_yaml(source.shipped_path(), source.schema)


def test_explicit_path_beats_the_environment_which_beats_the_shipped_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    source = policy_files.SEVERITY
    monkeypatch.delenv(source.env_var or "", raising=False)
    assert source.path() == source.shipped_path()
    monkeypatch.setenv(source.env_var or "", str(tmp_path / "from-env.yaml"))
    assert source.path() == tmp_path / "from-env.yaml"
    assert source.path(tmp_path / "explicit.yaml") == tmp_path / "explicit.yaml"


def test_the_environment_variable_replaces_each_policy(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    sev = _copy_shipped(policy_files.SEVERITY, tmp_path, lambda d: d.update(default_score=7))
    monkeypatch.setenv("PREFLIGHT_SEVERITY_POLICY", str(sev))
    assert severity.load().default_score == 7
    assert severity.load().source == str(sev)

    dt = _copy_shipped(policy_files.DTYPE, tmp_path, lambda d: d.update(default_request="float64"))
    monkeypatch.setenv("PREFLIGHT_DTYPE_POLICY", str(dt))
    assert dtype.load_dtype_policy().default_request == "float64"

    mem = _copy_shipped(policy_files.MEMORY, tmp_path, lambda d: d.update(safety_margin_mb=1234))
    monkeypatch.setenv("PREFLIGHT_MEMORY_POLICY", str(mem))
    assert memory.load_memory_policy().safety_margin_mb == 1234.0

    ref = _copy_shipped(policy_files.GPU_REFERENCE, tmp_path, lambda d: d.update(skus=d["skus"][:1]))
    monkeypatch.setenv("PREFLIGHT_GPU_REFERENCE", str(ref))
    assert len(gpu_policy.load_reference()) == 1
    assert gpu_policy.reference_path() == ref

    safety = _copy_shipped(policy_files.SAFETY, tmp_path, lambda d: d.setdefault("limits", {}).update(max_points=3))
    monkeypatch.setenv("PREFLIGHT_SAFETY_POLICY", str(safety))
    assert sweep_config.load_policy().limits.max_points == 3


def test_a_file_is_read_once_and_again_after_it_changes(tmp_path: Path) -> None:
    file = _copy_shipped(policy_files.SEVERITY, tmp_path, lambda d: d.update(default_score=11))
    first = severity.load(file)
    assert severity.load(file) is first  # cached: same object, no second parse
    document = yaml.safe_load(file.read_text(encoding="utf-8"))
    document["default_score"] = 12
    replacement = tmp_path / "next.yaml"
    replacement.write_text(yaml.safe_dump(document), encoding="utf-8")
    os.replace(replacement, file)  # an atomic rewrite, possibly inside one mtime tick
    assert severity.load(file).default_score == 12


def test_a_schema_violation_names_the_file_and_the_json_pointer(tmp_path: Path) -> None:
    file = _copy_shipped(policy_files.MEMORY, tmp_path, lambda d: d.update(safety_margin_mb="lots"))
    with pytest.raises(SchemaError) as caught:
        memory.load_memory_policy(file)
    assert str(file) in str(caught.value)
    assert "/safety_margin_mb" in str(caught.value)
    assert caught.value.exit_code == 2


def test_malformed_missing_and_binary_files_are_one_clear_line(tmp_path: Path) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text("checks: [unclosed\n", encoding="utf-8")
    with pytest.raises(InputError, match=r"bad\.yaml: malformed YAML at line \d+ column \d+"):
        severity.load(bad)
    with pytest.raises(InputError, match=r"missing\.yaml: file not found"):
        dtype.load_dtype_policy(tmp_path / "missing.yaml")
    binary = tmp_path / "binary.yaml"
    binary.write_bytes(b"\xff\xfe\x00\x01")
    with pytest.raises(InputError, match=r"binary\.yaml: cannot read"):
        policy_files.read_yaml(binary, "severity_policy")


def test_a_bad_policy_from_the_environment_fails_the_preflight_with_exit_2(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    from preflight_action import main as cli

    file = _copy_shipped(policy_files.SEVERITY, tmp_path, lambda d: d.update(bands="none"))
    monkeypatch.setenv("PREFLIGHT_SEVERITY_POLICY", str(file))
    out = tmp_path / "report.json"
    code = cli.main(["--device", "cpu", "--quiet", "--output-path", str(out)])
    err = capsys.readouterr().err
    assert code == 2
    assert f"{file}: /bands" in err
    assert "Traceback" not in err
    assert not out.exists()


def test_a_bad_policy_named_by_its_variable_says_which_variable(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from preflight_action.errors import InputError
    from preflight_action.preflight import levels

    bad = tmp_path / "levels.yaml"
    bad.write_text("levels: 3\n", encoding="utf-8")
    monkeypatch.setenv("PREFLIGHT_LEVELS_POLICY", str(bad))
    with pytest.raises(InputError) as refused:
        levels.load()
    assert str(refused.value).startswith(f"$PREFLIGHT_LEVELS_POLICY: {bad}: ")
    with pytest.raises(InputError) as given:
        levels.load(bad)  # a path the user passed is named as it was given
    assert str(given.value).startswith(f"{bad}: ")
