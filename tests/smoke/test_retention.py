"""Run directories: newest N kept, old ones pruned by age, pinned ones never touched."""

from __future__ import annotations

import os
import re
import time
from datetime import datetime, timedelta, timezone
from pathlib import Path

from preflight_action.smoke import retention


def _runs(root: Path, count: int) -> list[Path]:
    start = datetime(2026, 1, 1, tzinfo=timezone.utc)
    return [retention.new_run_dir(root, start + timedelta(minutes=i)) for i in range(count)]


def test_run_directory_names_sort_by_time_and_carry_an_id(tmp_path: Path) -> None:
    runs = _runs(tmp_path, 3)
    assert re.fullmatch(r"run\.20260101T000000Z-[0-9a-f]{6}", runs[0].name)
    assert retention.run_dirs(tmp_path) == list(reversed(runs))
    assert retention.run_id(runs[0]) == runs[0].name.removeprefix("run.")


def test_keep_recent_keeps_the_newest_and_pinned_runs(tmp_path: Path) -> None:
    runs = _runs(tmp_path, 8)
    retention.pin(runs[0])
    (tmp_path / "not-a-run").mkdir()
    result = retention.prune(tmp_path, keep_recent=3)
    left = {p.name for p in tmp_path.iterdir()}
    assert left == {runs[0].name, *(r.name for r in runs[-3:]), "not-a-run"}
    assert set(result.removed) == {r.name for r in runs[1:5]}
    assert result.pinned == (runs[0].name,)


def test_retention_secs_prunes_old_runs_but_not_the_current_one(tmp_path: Path) -> None:
    runs = _runs(tmp_path, 3)
    old = time.time() - 7200
    for run in runs:
        os.utime(run, (old, old))
    result = retention.prune(tmp_path, keep_recent=10, retention_secs=3600, protect=runs[1])
    assert {p.name for p in tmp_path.iterdir()} == {runs[1].name}
    assert set(result.removed) == {runs[0].name, runs[2].name}
    assert retention.prune(tmp_path, keep_recent=10, retention_secs=0).removed == ()


def test_missing_root_prunes_nothing(tmp_path: Path) -> None:
    assert retention.prune(tmp_path / "absent", keep_recent=0).removed == ()
