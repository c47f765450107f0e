"""The process family on a platform without posix_spawn, process groups, SIGKILL or fork (Windows), forced here.

``make_windows_shaped`` removes them from ``os`` and ``signal`` for the test (tests/support/windows_shaped.py):
a path that still reached for one would end in an AttributeError, not in the behaviour asserted.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import psutil
import pytest

from preflight_action import schemas
from preflight_action.process import lines, probe_cache, spawn
from preflight_action.process.lines import JsonLineProcess
from preflight_action.process.tree import kill_tree
from tests.support.windows_shaped import make_windows_shaped

ECHO = "import json, sys\nfor line in sys.stdin:\n    print(json.dumps({'echo': json.loads(line)}), flush=True)\n"
SLEEPER = "import time; time.sleep(60)"


@pytest.fixture
def windows_shaped(monkeypatch: pytest.MonkeyPatch) -> None:
    make_windows_shaped(monkeypatch)


def _alive(pid: int) -> bool:
    try:
        return psutil.Process(pid).status() != psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return False


def _wait_dead(pid: int, within_s: float = 5.0) -> bool:
    deadline = time.monotonic() + within_s
    while _alive(pid) and time.monotonic() < deadline:
        time.sleep(0.05)
    if _alive(pid):
        psutil.Process(pid).terminate()
        return False
    return True


def _wait_for(path: Path, within_s: float = 30.0) -> str:
    deadline = time.monotonic() + within_s
    while not (path.exists() and path.read_text(encoding="utf-8").endswith("\n")):
        assert time.monotonic() < deadline, f"{path} never appeared"
        time.sleep(0.02)
    return path.read_text(encoding="utf-8").strip()


@pytest.mark.usefixtures("windows_shaped")
def test_spawn_starts_a_popen_child_that_the_json_line_reader_drives_and_kill_tree_stops() -> None:
    assert not hasattr(os, "posix_spawn")
    child = spawn.spawn([sys.executable, "-c", ECHO])
    assert isinstance(child, subprocess.Popen)
    reader = JsonLineProcess([], started=child)
    try:
        reader.send({"type": "check", "id": "torch.import"})
        assert reader.next(timeout=30) == {"echo": {"type": "check", "id": "torch.import"}}
        kill_tree(child, wait_s=10)
        assert child.returncode is not None, "kill_tree reaped it"
    finally:
        reader.close()


@pytest.mark.usefixtures("windows_shaped")
def test_kill_tree_without_process_groups_kills_descendants_in_other_sessions_and_reaps_the_child(tmp_path: Path) -> None:
    marker = tmp_path / "grandchild.pid"
    code = (
        "import subprocess, sys, time; "
        f"c = subprocess.Popen([sys.executable, '-c', {SLEEPER!r}], start_new_session=True); "
        f"open({str(marker)!r}, 'w').write(f'{{c.pid}}\\n'); time.sleep(60)"
    )
    proc = subprocess.Popen([sys.executable, "-c", code])
    grandchild = int(_wait_for(marker))
    kill_tree(proc, wait_s=10)
    assert proc.returncode is not None
    assert _wait_dead(grandchild), "psutil's walk is all there is without groups: the grandchild survived it"


@pytest.mark.usefixtures("windows_shaped")
def test_graceful_kill_tree_without_process_groups_asks_the_child_and_returns_at_once(tmp_path: Path) -> None:
    said = tmp_path / "said.txt"
    ready = tmp_path / "ready.txt"
    code = (
        "import signal, sys, time\n"
        f"def bye(*_): open({str(said)!r}, 'w').write('terminated\\n'); sys.exit(3)\n"
        "signal.signal(signal.SIGTERM, bye)\n"
        f"open({str(ready)!r}, 'w').write('ready\\n')\n"
        "time.sleep(60)\n"
    )
    proc = subprocess.Popen([sys.executable, "-c", code])
    _wait_for(ready)
    started = time.monotonic()
    kill_tree(proc, graceful=True, grace_s=30)
    assert time.monotonic() - started < 1.0
    assert proc.wait(timeout=10) == 3
    assert _wait_for(said) == "terminated"


def test_a_probe_copy_counts_as_private_without_owner_ids_but_a_file_or_link_does_not(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    folder = tmp_path / "copy"
    folder.mkdir()
    (tmp_path / "file").write_text("x", encoding="utf-8")
    (tmp_path / "link").symlink_to(folder)
    monkeypatch.delattr(os, "getuid", raising=False)  # Windows has no owner id: owner and mode bits are not compared
    assert probe_cache._private(str(folder))
    assert not probe_cache._private(str(tmp_path / "file"))
    assert not probe_cache._private(str(tmp_path / "link"))


def test_a_preflight_without_posix_spawn_groups_sigkill_or_fork_kills_a_hung_check_and_goes_on(
    run_preflight: Callable[..., Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    started: list[list[str]] = []

    def recorded(argv: list[str]) -> subprocess.Popen[str]:
        started.append(argv)
        return piped(argv)

    piped = spawn.popen_piped
    monkeypatch.setattr(spawn, "popen_piped", recorded)
    monkeypatch.setattr(lines, "popen_piped", recorded)
    make_windows_shaped(monkeypatch)
    monkeypatch.setenv("PREFLIGHT_INJECT_FAULT", "dtype.support=hang")
    run = run_preflight("--device", "cpu", "--check-timeout", "15")  # a fresh worker imports torch within it, under load too
    schemas.validate(run.report, "preflight_report", str(run.path))
    hung = run.check("dtype.support")
    assert hung["status"] == "fail"
    assert "timed out after 15 s" in hung["error"]
    for check_id in ("torch.import", "tensor.smoke", "deps.consistency"):
        assert run.check(check_id)["status"] == "pass", run.check(check_id)
    assert len(started) >= 2, "the first worker and the fresh one after the kill both start through subprocess.Popen"
