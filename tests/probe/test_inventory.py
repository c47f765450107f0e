"""The probe's inventory scan under a real interpreter: every distribution, its version and where it came from."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest

from tests.support import broken_runtimes as br
from tests.support import environments as envs

SRC = Path(__file__).resolve().parents[2] / "src"


def _scan(python: Path, limit: int, env: dict[str, str] | None = None) -> dict[str, Any]:
    code = f"import json, sys; sys.path.append({str(SRC)!r}); from preflight_probe import inventory; print(json.dumps(inventory.scan({limit})))"
    environ = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"} | (env or {})
    done = subprocess.run([str(python), "-c", code], capture_output=True, text=True, timeout=120, check=True, env=environ)
    return json.loads(done.stdout)


def _by_name(scan: dict[str, Any]) -> dict[str, list[dict[str, Any]]]:
    """name -> each copy (version, source, path, added_by, editable), in sys.path order."""
    out: dict[str, list[dict[str, Any]]] = {}
    for where in scan["paths"]:
        for name, version in where["distributions"].items():
            copy = {"version": version, "source": where["source"], "path": where["path"], "added_by": where["added_by"]}
            if name in (where.get("editable") or {}):
                copy["editable"] = where["editable"][name]
            out.setdefault(name, []).append(copy)
    return out


def _count(scan: dict[str, Any]) -> int:
    return sum(len(where["distributions"]) for where in scan["paths"])


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """A venv whose site-packages holds one package and links (.pth) a folder of 400, an editable install and a
    ``setup.py develop`` egg; a PYTHONPATH folder with a newer copy of the venv's package; a conda-meta folder."""
    root = tmp_path_factory.mktemp("inventory")
    bulk = root / "bulk-site"
    names = envs.many_distributions(bulk, 400)
    source = root / "project-src"
    source.mkdir()
    legacy = root / "legacy-src"
    (legacy / "Legacy_Tool.egg-info").mkdir(parents=True)
    (legacy / "Legacy_Tool.egg-info" / "PKG-INFO").write_text(
        "Metadata-Version: 1.1\nName: Legacy-Tool\nVersion: 0.3.1\n", encoding="utf-8"
    )
    python, site = br.venv_reaching(root / "venv", bulk)
    try:
        envs.pip_install(envs.wheel(root / "wheels", "demo-pkg", "1.0.0"), site)
        later = root / "pythonpath-site"
        envs.pip_install(envs.wheel(root / "wheels", "demo-pkg", "1.2.0"), later)
    except br.Unavailable as why:
        pytest.skip(str(why))
    editable = site / "my_project-0.1.0.dist-info"
    editable.mkdir()
    (editable / "METADATA").write_text("Metadata-Version: 2.1\nName: my-project\nVersion: 0.1.0\n", encoding="utf-8")
    (editable / "direct_url.json").write_text(json.dumps({"url": source.as_uri(), "dir_info": {"editable": True}}), encoding="utf-8")
    (site / "__editable__.my_project-0.1.0.pth").write_text(f"{source}\n", encoding="utf-8")
    (site / "Legacy-Tool.egg-link").write_text(f"{legacy}\n.\n", encoding="utf-8")
    (site / "easy-install.pth").write_text(f"{legacy}\n", encoding="utf-8")
    conda = root / "venv" / "conda-meta"
    conda.mkdir()
    (conda / "cudatoolkit-12.1.0-h3b0a9a3_11.json").write_text("{}", encoding="utf-8")
    (conda / "demo-pkg-1.0.0-py_0.json").write_text("{}", encoding="utf-8")  # also on sys.path: listed once
    (conda / "history").write_text("", encoding="utf-8")
    return {"python": python, "site": site, "bulk": bulk, "names": names, "later": later, "source": source, "legacy": legacy, "root": root}


def test_every_distribution_is_named_with_its_version_and_where_it_came_from(world: dict[str, Any]) -> None:
    scan = _scan(world["python"], 2000, {"PYTHONPATH": str(world["later"])})
    found = _by_name(scan)
    assert scan["omitted"] == 0
    assert all(name in found for name in world["names"])
    bulk = found["bulk-package-0007"][0]
    assert (bulk["version"], bulk["source"], bulk["path"]) == ("1.7.1", "pth", str(world["bulk"]))
    assert bulk["added_by"] == str(world["site"] / "00_reach.pth")
    # PYTHONPATH comes first on sys.path: its copy wins the import, the venv's is shadowed
    assert [(d["version"], d["source"]) for d in found["demo-pkg"]] == [("1.2.0", "pythonpath"), ("1.0.0", "site-packages")]
    assert found["my-project"][0]["editable"] == str(world["source"])
    assert found["legacy-tool"] == [
        {"version": "0.3.1", "source": "pth", "path": str(world["legacy"]), "added_by": str(world["site"] / "easy-install.pth")}
        | {"editable": str(world["legacy"])}
    ]
    assert found["cudatoolkit"] == [
        {"version": "12.1.0", "source": "conda-meta", "path": str(world["root"] / "venv" / "conda-meta"), "added_by": None}
    ]
    assert len(found["demo-pkg"]) == 2  # conda's record of it adds no third copy


def test_past_the_bound_distributions_are_counted_and_still_change_the_digest(world: dict[str, Any], tmp_path: Path) -> None:
    scan = _scan(world["python"], 100)
    assert _count(scan) == 100
    assert scan["omitted"] == 404 - 100  # 400, demo-pkg, my-project, legacy-tool, cudatoolkit
    assert [where["source"] for where in scan["paths"]] == ["pth"]  # only the paths the listed ones sit in
    # a version change among the omitted ones (the last by name) shows in the digest
    bulk = world["bulk"]
    old = next(bulk.glob("bulk_package_0399-*.dist-info"))
    moved = bulk / "bulk_package_0399-9.9.9.dist-info"
    shutil.move(old, moved)
    try:
        again = _scan(world["python"], 100)
    finally:
        shutil.move(moved, old)
    assert again["paths"] == scan["paths"]
    assert again["digest"] != scan["digest"]
