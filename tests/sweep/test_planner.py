"""Planning: deterministic expansion, derived seeds, run ids, the GitHub matrix and shards."""

from __future__ import annotations

import json
from datetime import datetime, timezone
from pathlib import Path

import pytest

from preflight_action import schemas
from preflight_action.errors import InputError, UsageError
from preflight_action.paths import repo_root
from preflight_action.sweep import config, planner
from preflight_action.sweep.adapters import load_adapters
from preflight_action.sweep.cli import main
from preflight_action.sweep.records import SweepPlan

ROOT = repo_root()
assert ROOT is not None


def _flow(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "flow.yaml"
    path.write_text(text, encoding="utf-8")
    return path


GRID = """
name: grid
axes:
  dtype: [float32, bfloat16]
  batch: [1, 8, 32]
steps:
  - name: matmul
    adapter: matmul_bench
    params: {dtype: "${dtype}", batch: "${batch}", size: 16, device: "${device}"}
  - name: idle
    adapter: noop
    sweep: {sleep_ms: [0, 1]}
"""


def _plan(path: Path, seed: int, shards: int = 1) -> SweepPlan:
    flow = config.load_flow(path)
    adapters = load_adapters(config.adapters_dir(ROOT), ROOT)
    moment = datetime(2026, 1, 2, 3, 4, 5, tzinfo=timezone.utc)
    return planner.build_plan(
        flow,
        adapters,
        seed=seed,
        seed_source="--seed",
        python="/usr/bin/python3",
        device="cpu",
        policy_path="p",
        profile=None,
        shard_count=shards,
        moment=moment,
    )


def test_expansion_is_the_cartesian_product_with_typed_values_and_step_sweeps(tmp_path: Path) -> None:
    plan = _plan(_flow(tmp_path, GRID), seed=7)
    assert [p.axes for p in plan.points][:3] == [
        {"dtype": "float32", "batch": 1},
        {"dtype": "float32", "batch": 8},
        {"dtype": "float32", "batch": 32},
    ]
    assert len(plan.points) == 6
    steps = plan.points[4].steps
    assert [s.name for s in steps] == ["matmul", "idle[sleep_ms=0]", "idle[sleep_ms=1]"]
    matmul = steps[0]
    assert matmul.params["batch"] == 8
    assert matmul.params["dtype"] == "bfloat16"
    assert matmul.params["device"] == "cpu"
    argv = matmul.argv
    assert argv[0] == "/usr/bin/python3"
    assert argv[1].endswith("flows/adapters/bin/matmul_bench.py")
    assert argv[argv.index("--batch") + 1] == "8"
    assert argv[argv.index("--seed") + 1] == str(matmul.seed)
    document = plan.to_dict()
    schemas.validate(document, "sweep_plan", "plan")
    assert SweepPlan.from_dict(document) == plan, "the record round-trips through its schema-valid document"


def test_same_seed_gives_the_same_plan_and_another_seed_other_point_seeds(tmp_path: Path) -> None:
    path = _flow(tmp_path, GRID)
    first, again, other = _plan(path, 7), _plan(path, 7), _plan(path, 8)
    assert first == again
    assert [p.seed for p in first.points] != [p.seed for p in other.points]
    assert len({p.seed for p in first.points}) == 6
    assert first.run_id == "sw-20260102T030405Z-s7-grid"


def test_chosen_seed_is_recorded_and_flow_seed_wins_over_choice(tmp_path: Path) -> None:
    flow = config.load_flow(_flow(tmp_path, GRID))
    seed, source = planner.choose_seed(None, flow)
    assert source == "chosen"
    assert 0 <= seed < 2**32
    seeded = config.load_flow(_flow(tmp_path, GRID + "seed: 99\n"))
    assert planner.choose_seed(None, seeded) == (99, "flow")
    assert planner.choose_seed(5, seeded) == (5, "--seed")


def test_unknown_axis_reference_names_the_pointer_and_suggests(tmp_path: Path) -> None:
    path = _flow(tmp_path, GRID.replace('"${batch}"', '"${bach}"'))
    with pytest.raises(InputError, match=r"/steps/0/params/batch: \$\{bach\} .*did you mean 'batch'"):
        _plan(path, 1)


def test_shards_split_points_round_robin_and_matrix_lists_them(tmp_path: Path) -> None:
    plan = _plan(_flow(tmp_path, GRID), seed=3, shards=4)
    assert [p.shard for p in plan.points] == [1, 2, 3, 4, 1, 2]
    assert [p.id for p in plan.shard_points({"index": 2, "count": 4})] == ["p001", "p005"]
    matrix = planner.matrix(plan, "grid")
    assert matrix["include"] == [
        {"shard": "1/4", "seed": 3, "flow": "grid", "points": 2},
        {"shard": "2/4", "seed": 3, "flow": "grid", "points": 2},
        {"shard": "3/4", "seed": 3, "flow": "grid", "points": 1},
        {"shard": "4/4", "seed": 3, "flow": "grid", "points": 1},
    ]
    assert planner.parse_shard("2/4") == (2, 4)
    for bad in ("0/4", "5/4", "two"):
        with pytest.raises(UsageError):
            planner.parse_shard(bad)


def test_plan_command_emits_matrix_json_on_stdout_and_writes_plan(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "runs"
    code = main(["--output-root", str(out), "plan", "--flow", "noop", "--seed", "11", "--emit-matrix", "--shards", "2"])
    captured = capsys.readouterr()
    assert code == 0
    matrix = json.loads(captured.out)
    assert [m["shard"] for m in matrix["include"]] == ["1/2", "2/2"]
    assert "p000 [shard 1]" in captured.err
    (plan_file,) = out.glob("*/plan.json")
    assert schemas.read_json(plan_file, "sweep_plan")["seed"] == 11


def test_plan_prints_the_expansion(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    assert main(["--output-root", str(tmp_path), "plan", "--flow", "dtype_batch_matmul"]) == 0
    out = capsys.readouterr().out
    assert "9 point(s), 18 step(s)" in out
    assert "p004 [shard 1]" in out
    assert "dtype=bfloat16, batch=8" in out
