"""Adapter manifests: typed values checked before launch, argument lists, executables kept inside the repository."""

from __future__ import annotations

from pathlib import Path

import pytest

from preflight_action.errors import InputError
from preflight_action.paths import repo_root
from preflight_action.sweep import config
from preflight_action.sweep.adapters import build_argv, load_adapters, load_manifest, value_problems

ROOT = repo_root()
assert ROOT is not None


@pytest.fixture(scope="module")
def adapters() -> dict:
    return load_adapters(config.adapters_dir(ROOT), ROOT)


def test_shipped_manifests_load_and_point_inside_the_repository(adapters: dict) -> None:
    assert {"noop", "matmul_bench", "compile_bench", "model_smoke"} <= set(adapters)
    for adapter in adapters.values():
        assert adapter.executable.is_file()
        assert adapter.executable.is_relative_to(ROOT)


def test_argv_is_a_list_with_flags_from_the_manifest(adapters: dict) -> None:
    argv = build_argv(adapters["model_smoke"], {"model": "tiny_cnn", "backward": True, "image_size": 32, "dtype": "float32"}, "py")
    assert argv[0] == "py"
    assert argv[1].endswith("model_smoke.py")
    assert argv[2:] == ["--backward", "--dtype", "float32", "--image-size", "32", "--model", "tiny_cnn"]
    assert "--backward" not in build_argv(adapters["model_smoke"], {"model": "tiny_cnn", "backward": False}, "py")


def test_every_value_is_checked_against_type_choices_and_range(adapters: dict) -> None:
    matmul = adapters["matmul_bench"]
    problems = value_problems(matmul, {"dtype": "bfloat61", "batch": "8", "size": 4, "iters": 20000, "batchsize": 1})
    text = "\n".join(problems)
    assert "dtype: 'bfloat61' is not one of" in text
    assert "did you mean 'bfloat16'" in text
    assert "batch: '8' is not of type integer" in text
    assert "size: 4 is below the manifest minimum 8" in text
    assert "iters: 20000 is above the manifest maximum 10000" in text
    assert "has no parameter 'batchsize' (did you mean 'batch'?)" in text
    assert value_problems(matmul, {}) == [
        "dtype: required by adapter 'matmul_bench' but not given",
        "batch: required by adapter 'matmul_bench' but not given",
    ]
    assert value_problems(adapters["noop"], {"skip": 1}) == [f"skip: 1 is not of type boolean ({adapters['noop'].path})"]
    with pytest.raises(InputError, match="not one of"):
        build_argv(matmul, {"dtype": "int8", "batch": 1}, "py")


def test_shell_metacharacters_stay_one_argument(adapters: dict) -> None:
    argv = build_argv(adapters["noop"], {"tag": "x; rm -rf / $(id)"}, "py")
    assert argv[-2:] == ["--tag", "x; rm -rf / $(id)"]


def test_an_executable_escaping_the_repository_is_refused(tmp_path: Path) -> None:
    root = tmp_path / "repo"
    (root / "flows" / "adapters").mkdir(parents=True)
    outside = tmp_path / "outside.py"
    outside.write_text("print('{}')\n", encoding="utf-8")
    manifest = root / "flows" / "adapters" / "evil.yaml"
    manifest.write_text("name: evil\nexecutable: ../../../outside.py\n", encoding="utf-8")
    with pytest.raises(
        InputError, match=r"evil\.yaml: /executable: '\.\./\.\./\.\./outside\.py' resolves to .*outside the repository .*refused"
    ):
        load_manifest(manifest, root)
    link = root / "flows" / "adapters" / "link.py"
    link.symlink_to(outside)
    manifest.write_text("name: evil\nexecutable: link.py\n", encoding="utf-8")
    with pytest.raises(InputError, match="outside the repository"):
        load_manifest(manifest, root)
