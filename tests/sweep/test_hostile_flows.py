"""Hostile flows are one line naming the flow and the field or line, before anything is expanded or run."""

from __future__ import annotations

import os
import shutil
import time
from pathlib import Path

import pytest

from preflight_action.sweep import validate
from preflight_action.sweep.cli import main
from tests.conftest import ROOT

FLOW = """\
name: noop
description: the no-op adapter
seed: {seed}
axes:
  rep: {axis}
steps:
  - name: noop
    adapter: noop
    params: {{tag: noop}}
    sweep: {{sleep_ms: {sleep}}}
timeout_s: {timeout}
"""


def flow(
    tmp_path: Path,
    name: str = "flow.yaml",
    *,
    seed: str = "1",
    axis: str = "[0, 1]",
    sleep: str = "[0, 1]",
    timeout: str = "30",
    extra: str = "",
) -> Path:
    path = tmp_path / name
    path.write_text(FLOW.format(seed=seed, axis=axis, sleep=sleep, timeout=timeout) + extra, encoding="utf-8")
    return path


def _plan(tmp_path: Path, path: Path, capsys: pytest.CaptureFixture[str]) -> tuple[int, str]:
    code = main(["--output-root", str(tmp_path / "out"), "plan", "--flow", str(path)])
    return code, capsys.readouterr().err.strip()


@pytest.mark.parametrize(
    ("fields", "expected"),
    [
        ({"timeout": ".nan"}, "/timeout_s: nan is not a finite number"),
        ({"sleep": "[.nan, 1]"}, "/steps/0/sweep/sleep_ms/0: nan is not a finite number"),
        ({"sleep": "[1, .inf]"}, "/steps/0/sweep/sleep_ms/1: inf is not a finite number"),
        ({"seed": "1" + "0" * 5000}, "line 3: an integer of 5001 digits is out of range"),
        ({"extra": "seed: 2\n"}, "line 12: duplicate key 'seed' (YAML would keep only the last)"),
        ({"axis": "[&a x, *a]"}, "line 5: YAML aliases are not accepted (*a): write the value out"),
    ],
    ids=["nan-timeout", "nan-sleep", "inf-sleep", "5001-digit-seed", "duplicate-seed", "alias"],
)
def test_a_bad_value_in_a_flow_is_one_line_naming_it(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], fields: dict[str, str], expected: str
) -> None:
    path = flow(tmp_path, **fields)
    code, err = _plan(tmp_path, path, capsys)
    assert code == 2
    assert err == f"preflight-sweep: {path}: {expected}"
    assert not (tmp_path / "out").exists() or not any((tmp_path / "out").iterdir()), "nothing planned"


def test_axes_too_large_are_refused_from_their_sizes_before_expanding(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    values = "[" + ", ".join(str(n) for n in range(2000)) + "]"
    path = flow(tmp_path, axis=values)
    text = path.read_text(encoding="utf-8").replace(f"  rep: {values}\n", f"  rep: {values}\n  r2: {values}\n")
    path.write_text(text, encoding="utf-8")
    started = time.monotonic()
    code, err = _plan(tmp_path, path, capsys)
    assert time.monotonic() - started < 10  # four million points expanded first took 96 s and ran out of memory
    assert code == 2
    policy = ROOT / "policy" / "safety.yaml"
    assert err == (
        f"preflight-sweep: {path}: outside the safety bounds: 4000000 points exceed max_points 500 ({policy} /limits/max_points); "
        f"8000000 steps exceed max_steps 5000 ({policy} /limits/max_steps) (counted from the axes before expanding)"
    )


def test_validate_names_every_hostile_flow_and_never_blocks_on_a_fifo(tmp_path: Path) -> None:
    root = tmp_path / "root"
    shutil.copytree(ROOT / "flows" / "adapters", root / "flows" / "adapters")
    shutil.copytree(ROOT / "policy", root / "policy")
    flows = root / "flows"
    os.mkfifo(flows / "pipe.yaml")
    flow(flows, "nan.yaml", timeout=".nan")
    values = "[" + ", ".join(str(n) for n in range(800)) + "]"
    flow(flows, "huge.yaml", axis=values)
    problems, counts = validate.check_tree(root)
    assert f"{flows / 'pipe.yaml'}: not a regular file (a FIFO)" in problems
    assert f"{flows / 'nan.yaml'}: /timeout_s: nan is not a finite number" in problems
    assert any(p.startswith(f"{flows / 'huge.yaml'}: 800 points exceed max_points 500 (") for p in problems)
    assert counts["flows"] == 0
