"""The report's inventory, from real runs: every distribution, the allow-listed environment redacted, the platform, the bound."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from preflight_action import atomic, schemas
from preflight_action.preflight import inventory
from preflight_action.preflight.report import Report
from tests.support import broken_runtimes as br
from tests.support import environments as envs

SECRET = "hf_planted0123456789abcdefghijklmnopqrstu"  # a token shape, built for this test; no real credential


@pytest.fixture(scope="module")
def four_hundred(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A venv layered on torch's site-packages and a site-packages of 400 more distributions."""
    root = tmp_path_factory.mktemp("four-hundred")
    envs.many_distributions(root / "site", 400)
    try:
        return envs.layered(root / "venv", root / "site")
    except br.Unavailable as why:
        pytest.skip(str(why))


@pytest.mark.integration
def test_a_400_package_environment_is_inventoried_whole_and_stays_a_small_report(run_preflight, four_hundred: Path, monkeypatch) -> None:
    monkeypatch.delenv("PYTHONPATH", raising=False)
    run = run_preflight("--python", str(four_hundred), "--device", "cpu", "--level", "quick", "--quiet")
    assert run.exit_code == 0, run.stderr
    document = run.report["inventory"]
    count = sum(len(where["distributions"]) for where in document["paths"])
    names = {name for where in document["paths"] for name in where["distributions"]}
    assert {f"bulk-package-{i:04d}" for i in range(400)} <= names
    assert {"torch", "numpy"} <= names
    assert document["omitted"] == 0
    assert "inventory" not in run.check("deps.consistency")["details"]  # said once, at the top of the report
    # The bound: one "name": "version" line per distribution, about 35 bytes as written (two-space indented JSON,
    # platform and variables included below 45), so 400 packages add about 15 KB and the inventory of 530 (torch's
    # own 130 more) stays under 24 KB; the whole quick report, its other checks' evidence included, under 64 KB.
    per_distribution = len(atomic.dumps(document)) / count
    assert per_distribution < 45, per_distribution
    assert len(atomic.dumps(document)) < 24 * 1024
    assert run.path.stat().st_size < 64 * 1024, run.path.stat().st_size


@pytest.mark.integration
def test_the_environment_is_the_allow_list_redacted_and_the_platform_is_capabilities_facts(run_preflight, monkeypatch) -> None:
    monkeypatch.setenv("NCCL_ALGO", "Ring")
    monkeypatch.setenv("HF_TOKEN", SECRET)
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setenv("LD_PRELOAD", f"/opt/lib/libshim.so /tmp/{SECRET}.so")
    monkeypatch.setenv("EDITOR", "vim")  # changes nothing torch does: not recorded
    run = run_preflight("--device", "cpu", "--level", "quick", "--quiet")
    document = run.report["inventory"]
    variables = document["environment"]
    assert variables["NCCL_ALGO"] == "Ring"
    assert variables["HF_HUB_OFFLINE"] == "1"
    assert variables["HF_TOKEN"] == "<redacted>"
    assert variables["LD_PRELOAD"] == "/opt/lib/libshim.so /tmp/<redacted>.so"
    assert "EDITOR" not in variables
    assert SECRET not in run.path.read_text(encoding="utf-8")
    facts = document["platform"]
    caps = run.check("capabilities.detect")["details"]
    for name in ("os_release", "libc_version", "cpu_isa", "torch_cuda_build", "python_version", "torch_cxx11_abi"):
        assert facts[name] == caps[name], name
    assert facts["torch_wheel_platform"].startswith(("manylinux", "macosx", "win"))
    assert "python_executable" not in facts  # a path: two venvs of the same packages are not a change
    assert "ram_available_mb" not in facts  # changes run to run


def test_the_allow_list_is_prefixes_and_names_and_values_are_cut() -> None:
    environ = {"CUDA_VISIBLE_DEVICES": "0", "TORCHINDUCTOR_CACHE_DIR": "/c", "LD_LIBRARY_PATH": "x" * 5000, "HOME": "/root"}
    environ |= {f"NCCL_VAR_{i:03d}": "1" for i in range(300)}
    kept, left_out = inventory.environment(environ)
    assert len(kept) == inventory.MAX_VARIABLES
    assert left_out == 303 - inventory.MAX_VARIABLES
    assert "HOME" not in kept
    assert "CUDA_VISIBLE_DEVICES" in kept
    assert len(kept["LD_LIBRARY_PATH"]) == inventory.MAX_VALUE_CHARS
    assert kept["LD_LIBRARY_PATH"].endswith("…")


def test_a_report_written_before_the_inventory_is_read_and_written_back_without_one(tmp_path: Path) -> None:
    from tests.support.report_factory import report_doc

    old = report_doc("node-a")
    assert "inventory" not in old
    path = tmp_path / "old.json"
    path.write_text(json.dumps(old), encoding="utf-8")
    read_back = Report.from_dict(schemas.read_json(path, "preflight_report"))
    assert read_back.inventory is None
    assert read_back.to_dict() == old


def test_the_inventory_round_trips_and_its_views_are_typed() -> None:
    from tests.support.report_factory import report_doc

    document: dict[str, Any] = report_doc("node-a")
    document["inventory"] = envs.inventory({"torch": "2.14.1", "numpy": "2.4.6"}, {"NCCL_ALGO": "Ring"})
    schemas.validate(document, "preflight_report", "test")
    report = Report.from_dict(document)
    assert report.to_dict() == document
    assert report.inventory is not None
    assert [(d.name, d.version, d.source) for d in report.inventory.distributions] == [
        ("numpy", "2.4.6", "site-packages"),
        ("torch", "2.14.1", "site-packages"),
    ]
    assert report.inventory.environment == {"NCCL_ALGO": "Ring"}
