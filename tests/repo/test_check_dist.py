"""scripts/check_dist.py: a wheel or sdist that lacks a subsystem, the probe, a template, a schema or policy file fails."""

from __future__ import annotations

import importlib.util
import io
import shutil
import tarfile
import zipfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import ROOT


def _load() -> Any:
    spec = importlib.util.spec_from_file_location("check_dist_under_test", ROOT / "scripts" / "check_dist.py")
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


check_dist = _load()
PROJECT = check_dist.pyproject()
VERSION = PROJECT["project"]["version"]


def _metadata(version: str) -> str:
    return f"Metadata-Version: 2.4\nName: preflight-action\nVersion: {version}\n"


def _entry_points(scripts: dict[str, str]) -> str:
    return "[console_scripts]\n" + "".join(f"{command} = {target}\n" for command, target in scripts.items())


@pytest.fixture
def make_wheel(tmp_path: Path) -> Callable[..., Path]:
    """A wheel assembled from this checkout's files as hatchling lays them out, less ``drop`` and plus ``extra``."""

    def make(
        drop: tuple[str, ...] = (), extra: tuple[str, ...] = (), version: str = VERSION, scripts: dict[str, str] | None = None
    ) -> Path:
        path = tmp_path / f"preflight_action-{version}-py3-none-any.whl"
        info = f"preflight_action-{version}.dist-info"
        with zipfile.ZipFile(path, "w") as wheel:
            for name, source in check_dist.expected_wheel(ROOT, PROJECT).items():
                if name not in drop:
                    wheel.write(ROOT / source, name)
            for name in extra:
                wheel.writestr(name, "stray\n")
            wheel.writestr(f"{info}/METADATA", _metadata(version))
            wheel.writestr(f"{info}/entry_points.txt", _entry_points(PROJECT["project"]["scripts"] if scripts is None else scripts))
            wheel.writestr(f"{info}/RECORD", "")
        return path

    return make


@pytest.fixture
def make_sdist(tmp_path: Path) -> Callable[..., Path]:
    """An sdist of this checkout's included files, less ``drop`` and plus ``extra``."""

    def make(drop: tuple[str, ...] = (), extra: tuple[str, ...] = ()) -> Path:
        path = tmp_path / f"preflight_action-{VERSION}.tar.gz"
        top = f"preflight_action-{VERSION}"
        include = PROJECT["tool"]["hatch"]["build"]["targets"]["sdist"]["include"]
        with tarfile.open(path, "w:gz") as tar:
            for name in [*check_dist.source_files(ROOT, include), "pyproject.toml"]:
                if name not in drop:
                    tar.add(ROOT / name, f"{top}/{name}")
            for name in ("PKG-INFO", *extra):
                data = _metadata(VERSION).encode()
                member = tarfile.TarInfo(f"{top}/{name}")
                member.size = len(data)
                tar.addfile(member, io.BytesIO(data))
        return path

    return make


def test_the_expected_wheel_holds_every_subsystem_the_probe_the_templates_and_the_shipped_data() -> None:
    expected = check_dist.expected_wheel(ROOT, PROJECT)
    package = ROOT / "src" / "preflight_action"
    subsystems = sorted(p.name for p in package.iterdir() if (p / "__init__.py").is_file())
    assert len(subsystems) >= 10, subsystems  # preflight, process, gates, exports, github, summary, ...
    for subsystem in subsystems:
        for module in (package / subsystem).glob("*.py"):
            assert f"preflight_action/{subsystem}/{module.name}" in expected
    assert {f"preflight_probe/{p.name}" for p in (ROOT / "src" / "preflight_probe").glob("*.py")} <= expected.keys()
    assert {f"preflight_action/templates/{p.name}" for p in (package / "templates").iterdir()} <= expected.keys()
    assert {f"preflight_action/_data/schemas/{p.name}" for p in (ROOT / "schemas").glob("*.json")} <= expected.keys()
    policy = {f"preflight_action/_data/policy/{p.relative_to(ROOT / 'policy').as_posix()}" for p in (ROOT / "policy").rglob("*.yaml")}
    assert policy <= expected.keys()
    assert not [name for name in expected if "__pycache__" in name or name.startswith(("tests/", "outputs/"))]


def test_a_complete_wheel_and_sdist_pass(make_wheel: Callable[..., Path], make_sdist: Callable[..., Path]) -> None:
    assert check_dist.check_wheel(make_wheel(), ROOT, PROJECT) == []
    assert check_dist.check_sdist(make_sdist(), ROOT, PROJECT) == []


@pytest.mark.parametrize(
    "dropped",
    [
        "preflight_action/gates/verdict.py",
        "preflight_action/process/tree.py",
        "preflight_probe/worker.py",
        "preflight_action/templates/summary.md.j2",
        "preflight_action/_data/schemas/runtime_matrix.schema.json",
        "preflight_action/_data/policy/profiles/cpu_generic.yaml",
    ],
)
def test_a_wheel_missing_a_file_is_named(make_wheel: Callable[..., Path], dropped: str) -> None:
    wheel = make_wheel(drop=(dropped,))
    assert check_dist.check_wheel(wheel, ROOT, PROJECT) == [f"{wheel.name}: missing {dropped}"]


def test_a_wheel_with_tests_or_bytecode_is_named(make_wheel: Callable[..., Path]) -> None:
    wheel = make_wheel(extra=("tests/conftest.py", "preflight_action/__pycache__/vocab.cpython-311.pyc"))
    problems = check_dist.check_wheel(wheel, ROOT, PROJECT)
    assert problems == [
        f"{wheel.name}: ships preflight_action/__pycache__/vocab.cpython-311.pyc, which is not in the checkout's packages or data",
        f"{wheel.name}: ships tests/conftest.py, which is not in the checkout's packages or data",
    ]


def test_a_wheel_whose_version_or_console_scripts_disagree_with_pyproject_is_named(make_wheel: Callable[..., Path]) -> None:
    wheel = make_wheel(version="9.9.9")
    assert check_dist.check_wheel(wheel, ROOT, PROJECT) == [f"{wheel.name}: METADATA version '9.9.9' is not pyproject's {VERSION!r}"]
    scripts = {command: target for command, target in PROJECT["project"]["scripts"].items() if command != "preflight-gate"}
    wheel = make_wheel(scripts=scripts)
    assert check_dist.check_wheel(wheel, ROOT, PROJECT) == [
        f"{wheel.name}: console script preflight-gate is None, pyproject says {PROJECT['project']['scripts']['preflight-gate']!r}"
    ]


def test_an_sdist_missing_an_included_file_or_holding_bytecode_is_named(make_sdist: Callable[..., Path]) -> None:
    flow = check_dist.source_files(ROOT, ["flows"])[0]
    sdist = make_sdist(drop=(flow,), extra=("src/preflight_action/__pycache__/paths.cpython-311.pyc",))
    assert check_dist.check_sdist(sdist, ROOT, PROJECT) == [
        f"{sdist.name}: missing {flow} (pyproject's sdist include)",
        f"{sdist.name}: ships src/preflight_action/__pycache__/paths.cpython-311.pyc, a build or cache output",
    ]


def test_outside_git_the_files_on_disk_are_expected_less_bytecode(tmp_path: Path) -> None:
    shutil.copytree(ROOT / "src" / "preflight_probe", tmp_path / "src" / "preflight_probe", ignore=shutil.ignore_patterns("__pycache__"))
    (tmp_path / "src" / "preflight_probe" / "__pycache__").mkdir()
    (tmp_path / "src" / "preflight_probe" / "__pycache__" / "worker.cpython-311.pyc").write_bytes(b"\0")
    (tmp_path / "README.md").write_text("readme\n", encoding="utf-8")
    files = check_dist.source_files(tmp_path, ["src", "README.md"])
    assert "src/preflight_probe/worker.py" in files
    assert "README.md" in files
    assert not [name for name in files if "__pycache__" in name]


def test_main_wants_one_wheel_and_one_sdist(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert check_dist.main([str(tmp_path)]) == 1
    assert capsys.readouterr().err == f"check_dist: {tmp_path}: expected one wheel and one sdist, found []\n"
