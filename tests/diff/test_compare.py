"""How two inventories differ, and two runs side by side: groups, order, noise, partial reports."""

from __future__ import annotations

from typing import Any

from preflight_action.diff import compare, engine
from preflight_action.diff.parts import Parts, legacy, ref
from preflight_action.diff.policy import DiffPolicy

POLICY = DiffPolicy(noise_percent=10.0, summary_lines=3)


def parts(versions: dict[str, Any], variables: dict[str, str] | None = None, facts: dict[str, Any] | None = None, **extra: Any) -> Parts:
    return Parts({"versions": versions, **extra}, {"variables": variables or {}}, {"facts": facts or {}})


def texts(changes: list[compare.Change]) -> list[str]:
    return [c.text for c in changes]


def test_packages_upgraded_downgraded_added_removed_the_runtime_first_then_the_cuda_wheels() -> None:
    before = parts({"torch": "2.14.0", "numpy": "2.4.6", "zlib-ng": "1.0", "nvidia-nccl-cu13": "2.28.3", "attrs": "25.1.0", "gone": "1.0"})
    after = parts({"torch": "2.14.1", "numpy": "1.26.4", "zlib-ng": "1.0", "nvidia-nccl-cu13": "2.27.7", "attrs": "25.1.0", "new": "0.1"})
    found, notes = compare.inventories(before, after)
    assert notes == []
    assert texts(found) == [
        "torch 2.14.0 -> 2.14.1",
        "nvidia-nccl-cu13 2.28.3 -> 2.27.7",
        "gone 1.0 removed",
        "new 0.1 added",
        "numpy 2.4.6 -> 1.26.4",
    ]
    assert [(c.group, c.kind) for c in found] == [
        ("runtime", "upgraded"),
        ("packages", "downgraded"),
        ("packages", "removed"),
        ("packages", "added"),
        ("packages", "downgraded"),
    ]


def test_a_package_that_moves_to_another_source_or_gains_a_shadowed_copy_is_named() -> None:
    before = parts({"torch": "2.14.1"})
    after = parts({"torch": "2.14.1"}, sources={"torch": "pythonpath"}, shadowed={"torch": ["2.13.0+cpu"]})
    found, _ = compare.inventories(before, after)
    assert texts(found) == [
        "torch now from pythonpath (was site-packages)",
        "a second torch (2.13.0+cpu) now further down sys.path (shadowed)",
    ]


def test_a_change_past_the_bound_shows_through_the_digest() -> None:
    before = parts({"a": "1"}, omitted=1500, digest="0" * 16)
    after = parts({"a": "1"}, omitted=1500, digest="1" * 16)
    assert texts(compare.inventories(before, after)[0]) == [
        "something among the 1500 distributions past the inventory's bound changed (their digest differs)"
    ]


def test_variables_set_unset_and_changed_the_loader_first() -> None:
    before = parts({}, {"NCCL_ALGO": "Ring", "OMP_NUM_THREADS": "8", "NCCL_DEBUG": "WARN"})
    after = parts({}, {"NCCL_ALGO": "Tree", "LD_PRELOAD": "/opt/libshim.so", "NCCL_DEBUG": "WARN", "HF_TOKEN": "<redacted>"})
    found, _ = compare.inventories(before, after)
    assert texts(found) == [
        "LD_PRELOAD set (/opt/libshim.so)",
        "HF_TOKEN set (<redacted>)",
        "NCCL_ALGO Ring -> Tree",
        "OMP_NUM_THREADS unset (was 8)",
    ]


def test_platform_facts_the_runtime_s_lead_and_a_fact_one_level_does_not_collect_is_not_a_change() -> None:
    before = parts(
        {}, facts={"cuda_driver_version": "12.8", "os_release": "6.8.0", "cxx_compiler_version": "g++ 12.2", "torch_version": "2.14.0"}
    )
    after = parts({}, facts={"cuda_driver_version": "13.0", "os_release": "6.8.1", "cxx_compiler_version": None, "torch_version": "2.14.1"})
    found, _ = compare.inventories(before, after)
    assert texts(found) == ["CUDA driver 12.8 -> 13.0", "kernel 6.8.0 -> 6.8.1"]
    assert [c.group for c in found] == ["runtime", "capabilities"]


def test_a_report_before_the_inventory_is_compared_on_what_both_recorded() -> None:
    old = legacy({
        "packages": {"torch": "2.14.0", "numpy": "2.4.6", "torchaudio": None},
        "environment": {"NCCL_ALGO": "Ring", "PREFLIGHT_NODE_ID": "a"},
        "capabilities": {"os_release": "6.8.0", "python_executable": "/x/python"},
    })  # fmt: skip
    new = parts(
        {"torch": "2.14.1", "numpy": "2.4.6", "filelock": "4.3.2"},
        {"NCCL_ALGO": "Ring", "HF_HOME": "/data/hf"},
        {"os_release": "6.8.0", "torch_cxx11_abi": True},
    )
    found, notes = compare.inventories(old, new)
    assert texts(found) == [
        "torch 2.14.0 -> 2.14.1"
    ]  # not filelock "added", HF_HOME "set" or the ABI fact: the old report never recorded them
    assert len(notes) == 3
    assert all("written before the inventory" in n for n in notes)


def test_nothing_changed_in_the_inventory_points_at_the_hardware_or_the_driver() -> None:
    same = parts({"torch": "2.14.1"}, {"NCCL_ALGO": "Ring"}, {"os_release": "6.8.0"})
    found = engine.changed_since(
        same, parts({"torch": "2.14.1"}, {"NCCL_ALGO": "Ring"}, {"os_release": "6.8.0"}), "a.json", "base run on this lane", 3
    )
    assert found.changes == ()
    assert found.note == "nothing in the inventory changed since the base run on this lane: that points at the hardware or the driver"
    unknown = engine.changed_since(None, same, None, "base run on this lane", 3)
    assert unknown.note == "the base run on this lane's inventory is not known: what changed cannot be told"


def test_a_few_lines_then_how_many_more() -> None:
    found, _ = compare.inventories(parts({f"p{i}": "1" for i in range(6)}), parts({f"p{i}": "2" for i in range(6)}))
    assert engine.lines(found, 3) == ["p0 1 -> 2", "p1 1 -> 2", "and 4 more"]
    assert engine.lines(found[:3], 3) == ["p0 1 -> 2", "p1 1 -> 2", "p2 1 -> 2"]


def side(outcomes: dict[str, engine.Outcome], figures: dict[str, dict[str, float]] | None = None, node: str = "node-a") -> engine.Side:
    return engine.Side("r.json", node, "2026-03-01T02:00:00Z", "healthy", outcomes, parts({"torch": "2.14.1"}), figures or {})


def test_outcomes_new_failures_first_then_fixed_then_the_rest_and_figures_beyond_their_noise() -> None:
    before = side(
        {
            "torch.import": engine.Outcome("pass"),
            "tensor.smoke": engine.Outcome("fail", "critical", "boom"),
            "perf.matmul": engine.Outcome("pass"),
        },
        {"perf.matmul": {"bf16": 700.0, "fp16": 700.0, "tf32": 350.0}},
    )
    after = side(
        {
            "torch.import": engine.Outcome("pass"),
            "deps.consistency": engine.Outcome("fail", "medium", "torchvision 0.29.1 is built for torch 2.14"),
            "tensor.smoke": engine.Outcome("pass"),
            "perf.matmul": engine.Outcome("pass"),
        },
        {"perf.matmul": {"bf16": 490.0, "fp16": 680.0, "tf32": 420.0}},
    )
    found = engine.diff(before, after, POLICY)
    assert [c.text for c in found.changes] == [
        "deps.consistency not run -> fail: torchvision 0.29.1 is built for torch 2.14",
        "tensor.smoke fail -> pass",
        "perf.matmul bf16 700 -> 490 (-30%)",
        "perf.matmul tf32 350 -> 420 (+20%)",  # fp16 moved 3%: noise
    ]
    assert [g for g, _, _ in found.groups()] == ["checks", "performance"]
    assert found.inventory_changes == ()


def test_two_nodes_are_said_to_be_two_nodes_and_the_same_run_twice_differs_in_nothing() -> None:
    one = side({"torch.import": engine.Outcome("pass")})
    assert not engine.diff(one, one, POLICY).changed
    other = side({"torch.import": engine.Outcome("pass")}, node="node-b")
    assert engine.diff(one, other, POLICY).notes == ("two nodes: node-a and node-b",)


def test_a_part_s_name_is_its_content() -> None:
    assert ref({"versions": {"a": "1", "b": "2"}}) == ref({"versions": {"b": "2", "a": "1"}})
    assert ref({"versions": {"a": "1"}}) != ref({"versions": {"a": "2"}})


def test_another_build_of_the_same_version_is_changed_and_said_so_a_new_release_is_upgraded() -> None:
    before = parts({"torch": "2.14.1+cu130", "torchvision": "0.29.0+cu130", "triton": "3.5.0", "numpy": "2.4.6"})
    after = parts({"torch": "2.14.1+cpu", "torchvision": "0.29.1+cpu", "triton": "3.5.0+rocm", "numpy": "2.4.6"})
    found, _ = compare.inventories(before, after)
    assert [(c.kind, c.text) for c in found] == [
        ("changed", "torch 2.14.1+cu130 -> 2.14.1+cpu (another build of the same version)"),
        ("upgraded", "torchvision 0.29.0+cu130 -> 0.29.1+cpu"),
        ("changed", "triton 3.5.0 -> 3.5.0+rocm (another build of the same version)"),
    ]
    back, _ = compare.inventories(after, before)
    assert [c.kind for c in back] == ["changed", "downgraded", "changed"]


def test_a_part_one_run_or_neither_recorded_is_said_of_the_right_run() -> None:
    full = parts({"torch": "2.14.1"}, {"NCCL_ALGO": "Ring"}, {"os_release": "6.8.0"})
    no_packages = Parts(None, {"variables": {"NCCL_ALGO": "Ring"}}, {"facts": {"os_release": "6.8.0"}})
    assert compare.inventories(no_packages, no_packages)[1] == ["packages: neither run recorded it; not compared"]
    assert compare.inventories(no_packages, full)[1] == ["packages: the earlier run did not record it; not compared"]
    assert compare.inventories(full, no_packages)[1] == ["packages: the later run did not record it; not compared"]
    nothing = Parts(None, None, None)  # a report with neither an inventory nor a fingerprint's parts
    assert compare.inventories(nothing, nothing)[1] == [
        "neither run recorded an inventory: packages, variables and platform facts not compared"
    ]
    assert compare.inventories(None, full)[1] == [
        "the earlier run did not record an inventory: packages, variables and platform facts not compared"
    ]
    assert compare.inventories(full, nothing)[1] == [
        "the later run did not record an inventory: packages, variables and platform facts not compared"
    ]
    assert [engine.Side("r.json", "n", "t", None, {}, p).inventory for p in (None, nothing, no_packages, full)] == [
        "absent",
        "absent",
        "partial",
        "full",
    ]


def test_what_changed_since_cannot_be_told_without_a_part_both_runs_recorded() -> None:
    nothing = Parts(None, None, None)
    full = parts({"torch": "2.14.1"})
    assert engine.changed_since(nothing, full, "a.json", "base run on this lane", 3).note == (
        "the base run on this lane's inventory is not known: what changed cannot be told"
    )
    assert engine.changed_since(full, nothing, "a.json", "base run on this lane", 3).note == (
        "this run recorded no inventory: what changed cannot be told"
    )
    only_packages, only_variables = Parts({"versions": {"torch": "2.14.1"}}, None, None), Parts(None, {"variables": {}}, None)
    note = engine.changed_since(only_packages, only_variables, "a.json", "base run on this lane", 3).note
    assert note is not None
    assert note.startswith("no part of the inventory was recorded by both runs: what changed cannot be told")
    assert "hardware" not in note


def test_a_band_change_of_a_check_failing_in_both_is_an_outcome_an_unknown_band_or_other_words_are_not() -> None:
    before = side({
        "kernel.log": engine.Outcome("fail", "low", "Xid 13 (pid 1)"),
        "tensor.smoke": engine.Outcome("fail", "critical", "boom at 0x7f00"),
        "gpu.ecc": engine.Outcome("fail", None, "ecc"),
        "gpu.clocks": engine.Outcome("fail", "high", "throttled"),
    })  # fmt: skip
    after = side({
        "kernel.log": engine.Outcome("fail", "critical", "Xid 79 (pid 2)"),
        "tensor.smoke": engine.Outcome("fail", "critical", "boom at 0x7f99"),
        "gpu.ecc": engine.Outcome("fail", "high", "ecc"),
        "gpu.clocks": engine.Outcome("fail", "medium", "throttled"),
    })  # fmt: skip
    found = engine.diff(before, after, POLICY)
    assert [(c.text, c.before, c.after) for c in found.changes] == [
        ("kernel.log fail (low) -> fail (critical): Xid 79 (pid 2)", "fail (low)", "fail (critical)"),
        ("gpu.clocks fail (high) -> fail (medium): throttled", "fail (high)", "fail (medium)"),
    ]


def test_figures_only_one_run_measured_follow_the_moves() -> None:
    found = engine.performance(
        {"perf.matmul": {"bf16": 700.0, "fp16": 790.0}, "perf.bandwidth": {"copy_tbs": 3.0}},
        {"perf.matmul": {"bf16": 490.0, "tf32": 420.0}},
        10.0,
    )
    assert [(c.kind, c.text) for c in found] == [
        ("slower", "perf.matmul bf16 700 -> 490 (-30%)"),
        ("removed", "perf.bandwidth copy_tbs 3 -> not measured"),
        ("removed", "perf.matmul fp16 790 -> not measured"),
        ("added", "perf.matmul tf32 not measured -> 420"),
    ]


def test_a_verdict_is_one_phrase_and_its_change_alone_makes_the_diff_changed() -> None:
    healthy = side({"torch.import": engine.Outcome("pass")})
    blocking = engine.Side("r.json", "node-a", "2026-03-02T02:00:00Z", "blocking", healthy.outcomes, healthy.parts, simulated=False)
    assert (engine.diff(healthy, healthy, POLICY).verdict, engine.diff(healthy, healthy, POLICY).changed) == ("healthy in both", False)
    changed = engine.diff(healthy, blocking, POLICY)
    assert (changed.verdict, changed.changed, changed.changes) == ("healthy -> blocking", True, ())
    unjudged = engine.Side("r.json", "node-a", "2026-03-02T02:00:00Z", "not_judged", healthy.outcomes, healthy.parts, simulated=True)
    found = engine.diff(healthy, unjudged, POLICY)
    assert found.verdict == "healthy -> not judged"
    assert found.notes == (
        "the verdict changed though no check's outcome did: the runs were judged differently (the later run is simulated: never judged)",
    )
    unknown = engine.Side("h", "node-a", "2026-03-02T02:00:00Z", None, healthy.outcomes, healthy.parts)
    assert (engine.diff(unknown, unknown, POLICY).verdict, engine.diff(healthy, unknown, POLICY).changed) == (None, False)
