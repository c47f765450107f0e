"""The preflight session: a crashed worker's replacement is timed apart from the check that follows it."""

from __future__ import annotations

import sys

from preflight_action import schemas


def test_a_worker_restart_is_recorded_apart_from_the_next_check(run_preflight, monkeypatch):
    monkeypatch.setenv("PREFLIGHT_INJECT_FAULT", "tensor.smoke=segfault")
    run = run_preflight("--device", "cpu")
    schemas.validate(run.report, "preflight_report", str(run.path))
    assert run.check("tensor.smoke")["status"] == "fail"
    [restart] = run.report["worker_restarts"]
    assert (restart["after_check"], restart["before_check"], restart["torch_imported"]) == ("tensor.smoke", "dtype.support", True)
    assert ("access violation" if sys.platform == "win32" else "SIGSEGV") in restart["cause"]
    assert restart["restart_ms"] > 0
    after = run.check("dtype.support")
    assert after["status"] == "pass"  # ran on the fresh worker, torch already imported there
    assert after["details"]["worker_restart_ms"] == restart["restart_ms"]
    assert "worker_restart_ms" not in run.check("deps.consistency")["details"]  # same worker: no restart to report


def test_a_healthy_run_has_no_restarts(run_preflight, monkeypatch):
    monkeypatch.delenv("PREFLIGHT_INJECT_FAULT", raising=False)
    run = run_preflight("--device", "cpu")
    assert run.report["worker_restarts"] == []
    assert "interrupted_by" not in run.report
    assert all("worker_restart_ms" not in c["details"] for c in run.report["checks"])
