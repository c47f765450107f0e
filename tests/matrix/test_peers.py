"""Every node against its peers: outliers among reports of one device model, backend and level."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest
import yaml

from preflight_action import policy_files
from preflight_action.errors import InputError
from preflight_action.matrix import model as matrix
from preflight_action.matrix import peers
from preflight_action.matrix import view as matrix_view
from preflight_action.preflight.report import Report
from tests.support import report_factory

ROOT = Path(__file__).resolve().parents[2]
H100 = "NVIDIA H100 80GB HBM3"
BF16 = 781.6  # tests/data/perf_figures.json's healthy H100 SXM, rounded like the probe


def fleet(scales: list[float], sku: str = H100, level: str | None = "standard", node: str = "gpu-{i:02d}") -> list[tuple[Report, str]]:
    """One report per scale: bf16 matmul and copy bandwidth at ``scale`` x a healthy H100's."""
    out = []
    for i, scale in enumerate(scales):
        doc = report_factory.report_doc(
            node=node.format(i=i), sku=sku, level=level, figures={"bf16": round(BF16 * scale, 1), "copy_tbs": 3.0}
        )
        out.append((Report.from_dict(doc), f"report-{i:02d}.json"))
    return out


def report(node: str, bf16: float, hours_ago: float = 0.5, device: str | None = None) -> tuple[Report, str]:
    """One H100 report of ``node`` at the standard level, finished ``hours_ago``, its path naming both."""
    finished = datetime.now(timezone.utc) - timedelta(hours=hours_ago)
    doc = report_factory.report_doc(node=node, level="standard", figures={"bf16": bf16, "copy_tbs": 3.0}, finished_at=finished)
    if device is not None:
        doc["resolved_device"] = device
    return Report.from_dict(doc), f"{node}-{hours_ago:g}h.json"


def steady(count: int, spread: float = 0.05) -> list[float]:
    """``count`` scales evenly over ``spread`` (a steady fleet: silicon, clocks and cooling differ a little)."""
    return [1.0 - spread * i / (count - 1) for i in range(count)]


def test_one_node_30_percent_slower_among_twelve_is_named_with_median_and_peer_count() -> None:
    scales = steady(12)
    scales[7] = 0.70
    found = peers.compare(fleet(scales), peers.load())
    (outlier,) = found.outliers  # copy bandwidth is the same everywhere: only bf16 matmul is an outlier
    assert (outlier.node, outlier.check_id, outlier.metric, outlier.peers) == ("gpu-07", "perf.matmul", "bf16", 11)
    assert outlier.value == 547.1
    assert outlier.median == pytest.approx(BF16 * (1 - 0.05 * 5 / 11), abs=0.2)
    assert outlier.words == "gpu-07 bf16 matmul 547 TFLOP/s, 28% below its 11 peers' median of 764"
    (group,) = found.groups
    assert (group.device_model, group.level, group.reports, group.judged, group.note) == (H100, "standard", 12, True, None)
    assert group.figures == ("bf16 matmul", "device copy bandwidth")


def test_a_steady_5_percent_spread_has_no_outlier() -> None:
    assert peers.compare(fleet(steady(12, 0.05)), peers.load()).outliers == ()
    assert peers.compare(fleet(list(reversed(steady(32, 0.05)))), peers.load()).outliers == ()


def test_below_the_threshold_but_far_outside_a_tight_spread_is_no_outlier() -> None:
    scales = [1.0] * 11 + [0.92]  # 8% below a fleet with no spread at all: outside its MADs, inside the policy's 10%
    assert peers.compare(fleet(scales), peers.load()).outliers == ()


def test_beyond_the_threshold_but_within_a_noisy_fleets_spread_is_no_outlier() -> None:
    scales = [1.0, 0.6, 1.0, 0.6, 1.0, 0.6, 1.0, 0.6, 0.85]  # a bimodal fleet: 0.85 is 15% below, well within its spread
    found = peers.compare(fleet(scales), peers.load())
    assert [o.node for o in found.outliers] == []
    assert found.groups[0].note == (
        "the fleet splits in two on bf16 matmul (5 nodes near 782 TFLOP/s, 4 near 469): peers cannot say which is slow"
    )


def test_fewer_than_three_peers_judge_nothing_and_say_so() -> None:
    found = peers.compare(fleet([1.0, 1.0, 0.3]), peers.load())
    assert found.outliers == ()
    (group,) = found.groups
    assert not group.judged
    assert group.note == f"too few peers: 3 reports of {H100} at the standard level (2 peers each; judging needs 3)"
    assert peers.compare(fleet([1.0, 1.0, 1.0, 0.3]), peers.load()).outliers[0].peers == 3


def test_peers_are_the_same_device_model_backend_and_level() -> None:
    a100 = fleet([0.4] * 4, sku="NVIDIA A100-SXM4-80GB", node="a100-{i}")  # slower SKU: not the H100s' peers
    quick = fleet([0.7], level="quick", node="quick-{i}")  # another level: not a peer either
    unleveled = fleet([1.0] * 4, level=None, node="old-{i}")  # a report from before --level counts as standard
    found = peers.compare([*fleet([1.0] * 4), *a100, *quick, *unleveled], peers.load())
    assert found.outliers == ()
    assert [(g.device_model, g.level, g.reports, g.judged) for g in found.groups] == [
        ("NVIDIA A100-SXM4-80GB", "standard", 4, True),
        (H100, "quick", 1, False),
        (H100, "standard", 8, True),
    ]


def test_simulated_runs_and_reports_without_figures_take_no_part() -> None:
    docs = [report_factory.report_doc(node=f"n{i}", figures={"bf16": BF16}) for i in range(3)]
    docs.append(report_factory.report_doc(node="sim", figures={"bf16": 100.0}, simulated=True))
    docs.append(report_factory.report_doc(node="cpu-only", backend="cpu", sku="AMD EPYC 9654"))  # perf skipped: no figures
    found = peers.compare([(Report.from_dict(d), "r.json") for d in docs], peers.load())
    assert [(g.reports, g.judged) for g in found.groups] == [(3, False)]


def test_several_reports_of_one_node_are_named_by_device() -> None:
    docs = [report_factory.report_doc(node="gpu-node", figures={"bf16": BF16 * s}) for s in (1.0, 1.0, 0.99, 0.6)]
    reports = []
    for index, doc in enumerate(docs):
        doc["resolved_device"] = f"cuda:{index}"
        reports.append((Report.from_dict(doc), f"r{index}.json"))
    (outlier,) = peers.compare(reports, peers.load()).outliers
    assert outlier.node == "gpu-node cuda:3"


def test_the_sustained_load_figure_is_compared_too() -> None:
    reports = []
    for i, tflops in enumerate([40.0, 41.0, 40.5, 39.8, 22.0]):
        doc = report_factory.report_doc(node=f"n{i}", figures={"bf16": BF16})
        doc["checks"].append({**doc["checks"][-1], "id": "load.sustained", "details": {"tflops_median": tflops, "samples": []}})
        reports.append((Report.from_dict(doc), f"r{i}.json"))
    (outlier,) = peers.compare(reports, peers.load()).outliers
    assert (outlier.node, outlier.figure, outlier.unit) == ("n4", "fp32 matmul under sustained load", "TFLOP/s")


def test_numbers_read_like_the_issue() -> None:
    assert [peers.number(v) for v in (781.6, 512.0, 3.015, 0.25, 12.34)] == ["782", "512", "3.02", "0.25", "12.3"]


def test_the_matrix_text_names_the_outlier() -> None:
    scales = steady(12)
    scales[3] = 0.5
    reports = fleet(scales)
    found = peers.compare(reports, peers.load())
    snapshot = matrix.build_snapshot([matrix.lane_from_report(r, p) for r, p in reports], ttl_seconds=3600)
    text = matrix_view.text(snapshot, found)
    assert "\nslower than its peers: gpu-03 bf16 matmul 391 TFLOP/s, 49% below its 11 peers' median of 760\n" in text
    page = matrix_view.html(snapshot, None, found)
    assert '<tr class="outlier" aria-label="gpu-03 bf16 matmul 391 TFLOP/s, 49% below its 11 peers&#39; median of 760">' in page


def test_a_policy_with_a_bad_threshold_is_one_line_naming_file_and_pointer(tmp_path: Path) -> None:
    document = yaml.safe_load((ROOT / "policy" / "peers.yaml").read_text(encoding="utf-8"))
    document["drop_percent"] = 0
    path = tmp_path / "peers.yaml"
    path.write_text(yaml.safe_dump(document), encoding="utf-8")
    policy_files.clear_cache()
    with pytest.raises(InputError, match=r"peers\.yaml.*/drop_percent"):
        peers.load(path)


def test_a_fleet_of_300_finds_its_one_slow_node_and_a_steady_spread_none() -> None:
    assert len(steady(300)) > peers.EXACT_SPREAD_UP_TO  # the whole group's spread serves every member
    scales = steady(300)
    scales[123] = 0.5
    (outlier,) = peers.compare(fleet(scales, node="gpu-{i:03d}"), peers.load()).outliers
    assert (outlier.node, outlier.peers) == ("gpu-123", 299)
    assert peers.compare(fleet(steady(300), node="gpu-{i:03d}"), peers.load()).outliers == ()


def test_a_slow_node_s_retries_are_one_member_never_its_own_peers() -> None:
    healthy = [report(f"gpu-{i:02d}", 780.0) for i in range(4)]
    retries = [report("gpu-bad", 468.0, hours_ago=m / 60) for m in (10, 20, 30, 40, 50)]  # its five copies outnumber the four
    found = peers.compare([*healthy, *retries], peers.load())
    (outlier,) = found.outliers
    assert outlier.words == "gpu-bad bf16 matmul 468 TFLOP/s, 40% below its 4 peers' median of 780"
    assert outlier.path == "gpu-bad-0.166667h.json"  # its latest report
    (group,) = found.groups
    assert (group.reports, group.judged) == (9, True)
    assert group.note == "4 earlier reports of the same node left out (each node and device counts once, with its latest report)"


def test_three_copies_of_a_slow_node_among_three_healthy_ones_are_one_outlier_with_three_peers() -> None:
    reports = [report(f"gpu-{i:02d}", 780.0) for i in range(3)] + [report("gpu-bad", 468.0, hours_ago=h) for h in (0.2, 0.3, 0.4)]
    assert [(o.node, o.peers) for o in peers.compare(reports, peers.load()).outliers] == [("gpu-bad", 3)]


@pytest.mark.parametrize(("old", "new", "slow"), [(468.0, 781.0, []), (781.0, 468.0, ["gpu-06"])])
def test_a_node_is_judged_on_its_latest_report_in_any_order(old: float, new: float, slow: list[str]) -> None:
    reports = [report(f"gpu-{i:02d}", 780.0) for i in range(6)] + [report("gpu-06", old, hours_ago=21 * 24), report("gpu-06", new)]
    for order in (reports, list(reversed(reports))):
        assert [o.node for o in peers.compare(order, peers.load()).outliers] == slow


def test_a_stale_report_takes_no_part_and_its_group_says_so() -> None:
    reports = [report(f"gpu-{i:02d}", 780.0) for i in range(6)] + [report("gpu-06", 468.0, hours_ago=30)]
    found = peers.compare(reports, peers.load(), datetime.now(timezone.utc), max_age_hours=24)
    assert found.outliers == ()
    assert found.groups[0].note == "1 stale report left out (finished more than 24 h ago)"
    assert [o.node for o in peers.compare(reports, peers.load()).outliers] == ["gpu-06"]  # no limit given: judged
    everything_stale = peers.compare(reports[:3], peers.load(), datetime.now(timezone.utc) + timedelta(days=2), max_age_hours=24)
    (group,) = everything_stale.groups
    assert (group.reports, group.judged) == (3, False)
    assert group.note == f"no fresh report of {H100} at the standard level; 3 stale reports left out (finished more than 24 h ago)"


def test_each_gpu_of_one_node_is_a_member_and_its_retries_are_not() -> None:
    reports = [report("gpu-node", BF16, device=f"cuda:{d}") for d in range(3)]
    reports += [report("gpu-node", BF16 * 0.6, hours_ago=h, device="cuda:3") for h in (0.1, 0.2, 0.3)]
    (outlier,) = peers.compare(reports, peers.load()).outliers
    assert (outlier.node, outlier.peers) == ("gpu-node cuda:3", 3)


def test_a_fleet_split_in_two_that_the_median_cannot_judge_says_so() -> None:
    found = peers.compare(fleet([1.0] * 4 + [0.6] * 5), peers.load())  # the slow side is the majority: no outlier
    assert found.outliers == ()
    assert found.groups[0].note == (
        "the fleet splits in two on bf16 matmul (4 nodes near 782 TFLOP/s, 5 near 469): peers cannot say which is slow"
    )
    even = peers.compare(fleet([1.0] * 4 + [0.6] * 4), peers.load())  # each slow node's peers lean fast: all four named
    assert (len(even.outliers), even.groups[0].note) == (4, None)
    assert peers.compare(fleet(steady(12)), peers.load()).groups[0].note is None


def test_the_matrix_text_says_what_each_group_left_out_or_could_not_judge() -> None:
    reports = fleet([1.0] * 4 + [0.6] * 5)
    found = peers.compare(reports, peers.load())
    snapshot = matrix.build_snapshot([matrix.lane_from_report(r, p) for r, p in reports], ttl_seconds=3600)
    assert (
        f"\npeers of {H100} (cuda, standard): the fleet splits in two on bf16 matmul (4 nodes near 782 TFLOP/s, 5 near 469): "
        "peers cannot say which is slow\n"
    ) in matrix_view.text(snapshot, found)
