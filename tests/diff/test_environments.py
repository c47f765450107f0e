"""preflight-diff on real reports from two real environments that differ in one package version and one variable."""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

import pytest

from preflight_action import schemas
from preflight_action.diff import cli
from tests.support import broken_runtimes as br
from tests.support import environments as envs


@pytest.fixture(scope="module")
def two_venvs(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """Two venvs layered on torch's site-packages, each with demo-pkg installed by pip: 1.0.0 in one, 1.1.0 in the other."""
    root = tmp_path_factory.mktemp("two-venvs")
    try:
        for name, version in (("a", "1.0.0"), ("b", "1.1.0")):
            envs.pip_install(envs.wheel(root / "wheels", "demo-pkg", version), root / f"site-{name}")
        return envs.layered(root / "a", root / "site-a"), envs.layered(root / "b", root / "site-b")
    except br.Unavailable as why:
        pytest.skip(str(why))


@pytest.mark.integration
def test_preflight_diff_names_exactly_the_package_and_the_variable_that_differ(
    run_preflight, two_venvs: tuple[Path, Path], monkeypatch: pytest.MonkeyPatch, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.delenv("PYTHONPATH", raising=False)
    monkeypatch.delenv("NCCL_ALGO", raising=False)
    reports = []
    for index, python in enumerate(two_venvs):
        if index == 1:
            monkeypatch.setenv("NCCL_ALGO", "Ring")
        run = run_preflight("--python", str(python), "--device", "cpu", "--level", "quick", "--quiet")
        assert run.exit_code == 0, run.stderr
        reports.append(shutil.copy(run.path, tmp_path / f"{'ab'[index]}.json"))
    code = cli.main(
        [str(reports[0]), str(reports[1]), "--output-json", str(tmp_path / "diff.json"), "--output-md", str(tmp_path / "diff.md")]
    )
    out = capsys.readouterr().out
    assert code == 1, out
    document: dict[str, Any] = schemas.read_json(tmp_path / "diff.json", "preflight_diff")
    changes = [(c["group"], c["kind"], c["subject"], c["before"], c["after"]) for g in document["groups"] for c in g["changes"]]
    assert changes == [("packages", "upgraded", "demo-pkg", "1.0.0", "1.1.0"), ("environment", "set", "NCCL_ALGO", None, "Ring")]
    assert document["notes"] == []
    assert (document["before"]["inventory"], document["after"]["inventory"]) == ("full", "full")
    assert out.splitlines()[1:] == [
        "verdict: healthy in both",
        "Packages:",
        "  demo-pkg 1.0.0 -> 1.1.0",
        "Environment variables:",
        "  NCCL_ALGO set (Ring)",
    ]
    # the two reports are two runs (other interpreters, other times, other durations), and none of that is a change
    first, second = (json.loads(Path(p).read_text(encoding="utf-8")) for p in reports)
    assert first["interpreter"]["path"] != second["interpreter"]["path"]
    assert first["finished_at"] != second["finished_at"]
