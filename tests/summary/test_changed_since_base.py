"""The PR delta names what changed since the base run beside each new failure: real reports, healthy then broken."""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any

import pytest

from preflight_action.summary import cli
from preflight_action.summary import serialise as summary_json
from tests.support import broken_runtimes as br
from tests.support import environments as envs
from tests.support.report_factory import report_doc, write


@pytest.fixture(scope="module")
def healthy_and_broken(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """The same machine twice: a venv on torch's site-packages, then one where a second real torch (2.13.0+cpu) comes
    first, so torchvision 0.29.1 (built for torch 2.14) no longer pairs with the torch an import takes."""
    root = tmp_path_factory.mktemp("base-and-head")
    try:
        healthy = envs.layered(root / "healthy")
        broken, _ = br.venv_reaching(root / "broken", br.torch_213_site(), envs.torch_site())
    except br.Unavailable as why:
        pytest.skip(str(why))
    return healthy, broken


def summarize(directory: Path, out: Path, *extra: str) -> tuple[int, dict[str, Any], str]:
    md = out.with_suffix(".md")
    code = cli.main(["--input-glob", str(directory / "*.json"), "--output-json", str(out), "--output-md", str(md), "--quiet", *extra])
    return code, summary_json.read(out), md.read_text(encoding="utf-8")


@pytest.mark.integration
def test_a_new_failure_names_the_change_that_caused_it_in_the_json_and_the_markdown(
    run_preflight, healthy_and_broken: tuple[Path, Path], monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.delenv("PYTHONPATH", raising=False)
    for name, python in zip(("base", "head"), healthy_and_broken, strict=True):
        run = run_preflight("--python", str(python), "--device", "cpu", "--level", "quick", "--quiet")
        (tmp_path / name).mkdir()
        shutil.copy(run.path, tmp_path / name / "report.json")
    code, base, _ = summarize(tmp_path / "base", tmp_path / "base-summary.json")
    assert (code, base["status"]) == (0, "pass")
    assert base["reports"][0]["inventory"].keys() == {"packages", "environment", "platform"}
    code, head, markdown = summarize(tmp_path / "head", tmp_path / "head-summary.json", "--baseline", str(tmp_path / "base-summary.json"))
    assert code == 0
    new = {item["check_id"]: item for item in head["delta"]["new_failures"]}
    assert "deps.consistency" in new
    since = new["deps.consistency"]["changed_since_base"]
    assert since["since"] == str(tmp_path / "base" / "report.json")
    texts = [c["text"] for c in since["changes"]]
    assert texts[0] == "torch 2.14.1 -> 2.13.0+cpu"  # the runtime leads: the cause
    assert "a second torch (2.14.1) now further down sys.path (shadowed)" in texts
    assert since["lines"][0] == "torch 2.14.1 -> 2.13.0+cpu"
    assert len(since["lines"]) <= 3  # the comment shows a few; the JSON carries every change
    row = next(line for line in markdown.splitlines() if "`deps.consistency`" in line and "changed" not in line.split("|")[2])
    assert "torch 2.14.1 -&gt; 2.13.0+cpu" in row
    assert "| changed since the base run on this node/lane |" in markdown


def test_a_lane_with_nothing_changed_in_its_inventory_points_at_the_hardware_and_an_older_baseline_says_it_cannot_tell(
    tmp_path: Path,
) -> None:
    healthy = report_doc("node-a", backend="cuda")
    healthy["inventory"] = envs.inventory(envs.FLEET_PACKAGES)
    failing = report_doc("node-a", backend="cuda", failures={"tensor.smoke": "RuntimeError: CUDA error: an illegal memory access"})
    failing["inventory"] = envs.inventory(envs.FLEET_PACKAGES)
    write(tmp_path / "base", [healthy])
    write(tmp_path / "head", [failing])
    summarize(tmp_path / "base", tmp_path / "base.json")
    _, head, markdown = summarize(tmp_path / "head", tmp_path / "head.json", "--baseline", str(tmp_path / "base.json"))
    since = head["delta"]["new_failures"][0]["changed_since_base"]
    assert since["changes"] == []
    assert since["note"] == "nothing in the inventory changed since the base run on this lane: that points at the hardware or the driver"
    assert "nothing in the inventory changed since the base run on this lane" in markdown
    # a baseline summary written before inventories: its rows name none
    old = summary_json.read(tmp_path / "base.json")
    for row in old["reports"]:
        del row["inventory"]
    del old["inventories"]
    (tmp_path / "old.json").write_text(summary_json.lines(old, 0) + "\n", encoding="utf-8")
    _, head, _ = summarize(tmp_path / "head", tmp_path / "head2.json", "--baseline", str(tmp_path / "old.json"))
    assert head["delta"]["new_failures"][0]["changed_since_base"]["note"] == (
        "the base run on this lane's inventory is not known: what changed cannot be told"
    )
