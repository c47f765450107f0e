"""The matrix view's words: the headline word once, ages computed from the snapshot's own time (never the clock)."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest

from preflight_action.matrix import model as matrix
from preflight_action.matrix import view

GENERATED = datetime(2026, 3, 1, 12, 0, tzinfo=timezone.utc)


@pytest.mark.parametrize(
    ("before", "said"),
    [
        (timedelta(seconds=5), "just now"),
        (timedelta(minutes=6, seconds=30), "6 min ago"),
        (timedelta(hours=3, minutes=59), "3 h ago"),
        (timedelta(days=2, hours=1), "2 d ago"),
        (timedelta(minutes=-10), "in the future (clock skew)"),
    ],
)
def test_age_is_relative_to_the_snapshot_time(before: timedelta, said: str) -> None:
    assert view.age(matrix.iso(GENERATED - before), matrix.iso(GENERATED)) == said
    assert view.age(matrix.iso(GENERATED - before), GENERATED) == said


def test_the_legend_names_status_words_not_severity_levels() -> None:
    assert view.legend() == [
        ("info", "Skipped / Ready"),
        ("warning", "Not judged / Stale / Degraded"),
        ("error", "Failing"),
        ("critical", "Down"),
    ]


def lane(node: str, code: str, minutes: int, summary: str) -> matrix.Lane:
    updated = matrix.iso(GENERATED - timedelta(minutes=minutes))
    return matrix.Lane(node, "cuda", code, summary, (f"{summary} detail",), updated, "preflight")


def test_text_view_says_each_status_once_with_its_age() -> None:
    snapshot = matrix.build_snapshot(
        [lane("gpu-1", "down", 6, "tensor.smoke failed"), lane("gpu-2", "ok", 90, "all 12 checks passed")], now=GENERATED, ttl_seconds=3600
    )
    lines = view.text(snapshot).splitlines()
    assert lines[3].split() == ["gpu-1", "Down"]
    assert lines[4].split() == ["gpu-2", "Stale"]  # 90 min old against a 1 h ttl
    [down] = [line for line in lines if line.startswith("gpu-1: ")]
    assert down == f"gpu-1: Down - cuda preflight: tensor.smoke failed (updated {matrix.iso(GENERATED - timedelta(minutes=6))}, 6 min ago)"
    assert "Critical" not in view.text(snapshot)


def test_html_headline_words_and_ages_without_a_browser() -> None:
    snapshot = matrix.build_snapshot([lane("gpu-1", "ok", 6, "all 12 checks passed")], now=GENERATED, ttl_seconds=3600)
    page = view.html(snapshot)
    assert '<span class="word">Ready</span>' in page
    assert ">Info<" not in page
    assert "(6 min ago)" in page
    assert "Updated 6 min ago." in page  # the age reaches the accessible label too
    assert view.headline(snapshot["items"]["gpu-1"]["status"]) == ("Ready", "1 lane nominal")
