"""The JSON-lines child: a child that dies at once leaves no pipe of ours open."""

from __future__ import annotations

import gc
import os
import sys
from pathlib import Path

import pytest

from preflight_action.process.lines import JsonLineProcess

pytestmark = pytest.mark.skipif(not os.path.isdir("/proc/self/fd"), reason="counts open fds through /proc/self/fd (Linux)")


def _open_fds() -> set[str]:
    return set(os.listdir("/proc/self/fd"))


def test_a_child_that_exits_at_once_leaks_no_fd() -> None:
    before = _open_fds()
    for _ in range(3):
        child = JsonLineProcess([sys.executable, "-c", "import sys; sys.exit(3)"])
        child.send({"type": "check", "id": "torch.import", "params": {}})  # may hit a broken pipe: still buffered
        assert child.next(timeout=30) is None
        assert child.exit_code(wait_s=10) == 3
        child.close()
        assert child.proc.stdin is not None
        assert child.proc.stdin.closed
        assert child.proc.stdout is not None
        assert child.proc.stdout.closed
        assert child.proc.stderr is not None
        assert child.proc.stderr.closed
        child.close()  # twice is harmless
    assert _open_fds() <= before


def test_close_releases_a_request_stuck_behind_a_broken_pipe() -> None:
    child = JsonLineProcess([sys.executable, "-c", "import os; os.close(0); import time; time.sleep(30)"])
    # Fill the pipe until the write fails: the child closed its stdin, so the buffered tail can never be flushed.
    for _ in range(50):
        child.send({"pad": "x" * 65536})
    child.close()
    assert child.proc.stdin is not None
    assert child.proc.stdin.closed
    assert child.proc.returncode is not None


def test_a_worker_that_died_before_its_first_answer_is_closed_when_replaced(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The session's prefetched worker dies at once; the next check replaces it, and the dead one's pipes are closed."""
    from preflight_action.preflight.options import Options
    from preflight_action.preflight.session import Session

    fake = tmp_path / "python-too-old"
    fake.write_text("#!/bin/sh\necho 'preflight probe: Python 2.7 is too old to run the probe (needs 3.8+)' >&2\nexit 3\n")
    fake.chmod(0o755)
    gc.collect()  # what earlier tests left for the collector is freed now, before we listen
    unraisable: list[object] = []  # an unclosed pipe is reported here when its object is freed (ResourceWarning)
    monkeypatch.setattr(sys, "unraisablehook", unraisable.append)
    session = Session(Options(device="cpu", python=str(fake)))
    try:
        dead = session._worker
        assert dead is not None
        dead._child.proc.wait(timeout=30)
        replacement = session._worker_now()
        assert replacement is not dead
        assert dead._child.proc.stdin is not None
        assert dead._child.proc.stdin.closed
        del dead
        gc.collect()
    finally:
        session.close()
    assert [str(getattr(u, "object", u)) for u in unraisable] == []


def test_how_a_worker_ended_reads_as_a_sentence() -> None:
    from preflight_action.process.probe_client import how_it_ended

    assert f"the worker {how_it_ended(-11)}" == "the worker was killed by SIGSEGV (exit -11)"
    assert f"the worker {how_it_ended(3)}" == "the worker ended with exit code 3"
    assert f"the worker {how_it_ended(None)}" == "the worker ended with no exit code"
